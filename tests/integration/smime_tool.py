#!/usr/bin/env python3
"""Test helper: take multipart/signed messages apart and put them together,
byte-exactly, so that other tools' detached signatures can be checked.

  smime_tool.py split SIGNED CONTENT_OUT SIG_DER_OUT
      the first part in canonical form (CRLF) and the decoded signature
  smime_tool.py wrap CONTENT SIG_DER FROM MICALG OUT
      a multipart/signed message from a canonical content and a DER signature
  smime_tool.py pad-sig SIG_DER OUT
      the same DER SignedData with a 00 put in front of the (last) SignerInfo's
      RSA signature value, as gpgsm with gnupg-pkcs11-scd sends it
"""
import base64
import re
import sys


def split(signed, content_out, sig_out):
    data = open(signed, 'rb').read()
    m = re.search(rb'boundary="?([^";\r\n]+)"?', data)
    delim = b'--' + m.group(1)
    start = re.search(rb'(?:^|\n)' + re.escape(delim) + rb'[ \t]*\r?\n', data)
    rest = data[start.end():]
    segs = re.split(rb'\r?\n' + re.escape(delim) + rb'(?:--)?[ \t]*\r?\n', rest)
    content = re.sub(rb'\r?\n', b'\r\n', segs[0])
    open(content_out, 'wb').write(content)
    body = re.split(rb'\r?\n\r?\n', segs[1], maxsplit=1)[1]
    open(sig_out, 'wb').write(base64.b64decode(body))


def der_parse(b, i=0):
    """(tag, value or children, end) of the DER element at b[i]."""
    tag = b[i]
    ln = b[i + 1]
    j = i + 2
    if ln & 0x80:
        n = ln & 0x7f
        ln = int.from_bytes(b[j:j + n], 'big')
        j += n
    end = j + ln
    if tag & 0x20:
        kids, k = [], j
        while k < end:
            kid = der_parse(b, k)
            kids.append(kid)
            k = kid[2]
        return (tag, kids, end)
    return (tag, b[j:end], end)


def der_out(node):
    tag, val, _ = node
    body = b''.join(der_out(k) for k in val) if tag & 0x20 else val
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        nb = n.to_bytes((n.bit_length() + 7) // 8, 'big')
        ln = bytes([0x80 | len(nb)]) + nb
    return bytes([tag]) + ln + body


def pad_sig(sig, out):
    root = der_parse(open(sig, 'rb').read())
    found = []

    def walk(node):
        tag, val, end = node
        if tag & 0x20:
            return (tag, [walk(k) for k in val], end)
        if tag == 0x04 and len(val) in (256, 384, 512) and not found:
            found.append(1)
            return (tag, b'\x00' + val, end)
        return node
    # the signature is the last 256-byte OCTET STRING: walk from the end
    def rev(node):
        tag, val, end = node
        return (tag, [rev(k) for k in reversed(val)], end) if tag & 0x20 else node
    padded = rev(walk(rev(root)))
    assert found, 'no RSA signature value'
    open(out, 'wb').write(der_out(padded))


def wrap(content, sig, sender, micalg, out):
    c = open(content, 'rb').read()
    s = base64.encodebytes(open(sig, 'rb').read()).replace(b'\n', b'\r\n')
    msg = (b'From: ' + sender.encode() + b'\r\nTo: bob@example.org\r\nSubject: interop\r\n'
           b'MIME-Version: 1.0\r\nContent-Type: multipart/signed; '
           b'protocol="application/pkcs7-signature"; micalg=' + micalg.encode() +
           b'; boundary="interop-boundary"\r\n\r\n--interop-boundary\r\n' + c +
           b'\r\n--interop-boundary\r\nContent-Type: application/pkcs7-signature; '
           b'name="smime.p7s"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + s +
           b'\r\n--interop-boundary--\r\n')
    open(out, 'wb').write(msg)


if __name__ == '__main__':
    if sys.argv[1] == 'split':
        split(*sys.argv[2:5])
    elif sys.argv[1] == 'wrap':
        wrap(*sys.argv[2:7])
    elif sys.argv[1] == 'pad-sig':
        pad_sig(*sys.argv[2:4])
    else:
        sys.exit(2)
