#!/usr/bin/env python3
"""Test helper: take multipart/signed messages apart and put them together,
byte-exactly, so that other tools' detached signatures can be checked.

  smime_tool.py split SIGNED CONTENT_OUT SIG_DER_OUT
      the first part in canonical form (CRLF) and the decoded signature
  smime_tool.py wrap CONTENT SIG_DER FROM MICALG OUT
      a multipart/signed message from a canonical content and a DER signature
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
    else:
        sys.exit(2)
