#!/bin/bash
# Signed, then encrypted: after a valid inner signature decrypt writes the
# message the signature carries (the routing headers outside, the signed
# content inside), whatever the inner form (opaque signed-data or
# multipart/signed) and whoever made it (p11smime on the token, openssl,
# NSS cmsutil); --keep-signed writes the signed form. An invalid inner
# signature releases nothing.
. "$top_srcdir/tests/integration/lib.sh"
plan 21
fixtures
A="--anchors $PKI/anchors.pem"
T=$top_srcdir/tests/integration/smime_tool.py
BOB="pkcs11:token=p11smime-user;object=bob"
for tool in cmsutil certutil pk12util; do
	command -v $tool >/dev/null || { echo "Bail out! $tool is missing (tests/setup-debian.sh installs it)"; exit 1; }
done
SECRET="the secret word is swordfish"

# dec NAME [ARGS...]: p11smime decrypts $TMP/NAME.p7m with Bob's key -> $TMP/NAME.dec
dec() {
	local name=$1
	shift
	rm -f "$TMP/$name.dec"
	run --module "$MODULE" --pin-source "$USER_PIN" decrypt $A --key "$BOB" "$@" \
		-o "$TMP/$name.dec" "$TMP/$name.p7m"
}
# unwrapped NAME SIGNER: exit 0, the inner signature good by SIGNER, and
# the output is the readable message: From: outside, the text inside, no
# S/MIME layer left
unwrapped() {
	rc_is 0 && err_has "signature OK" && err_has "$2" &&
		grep -q '^From: ' "$TMP/$1.dec" && grep -qF "$SECRET" "$TMP/$1.dec" &&
		! grep -qi 'application/\(x-\)\?pkcs7' "$TMP/$1.dec" &&
		! grep -qi 'multipart/signed' "$TMP/$1.dec"
}
# encrypt_for_bob NAME: openssl encrypts $TMP/NAME.inner (a signed message)
# to Bob, with the routing headers outside -> $TMP/NAME.p7m
encrypt_for_bob() {
	openssl cms -encrypt -aes-256-gcm -in "$TMP/$1.inner" -from "$2" -to bob@example.org \
		-subject "signed by $2" -out "$TMP/$1.p7m" "$PKI/bob.cert.pem" 2>>"$TMP/ossl.err"
}

printf 'From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nSubject: signed and sealed\n' >"$TMP/m.eml"
printf 'Date: Sat, 28 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain\n\n' >>"$TMP/m.eml"
printf 'Hello Bob,\n%s.\n' "$SECRET" >>"$TMP/m.eml"

# ---- p11smime sign-encrypt, opaque and detached ----
for form in opaque detached; do
	extra=""
	[ $form = opaque ] && extra=--opaque
	run --module "$MODULE" --pin-source "$USER_PIN" sign-encrypt $A $extra -o "$TMP/p$form.p7m" \
		"$TMP/m.eml"
	dec "p$form"
	check "p11smime sign-encrypt ($form): decrypt writes the message the signature carries" \
		unwrapped "p$form" alice@example.org
	check "...with its own headers: Subject and Date kept, Content-Type text/plain" \
		sh -c "grep -q '^Subject: signed and sealed' '$TMP/p$form.dec' && grep -q '^Date: Sat, 28 Nov 2026' '$TMP/p$form.dec' && grep -qi '^Content-Type: text/plain' '$TMP/p$form.dec'"
	dec "p$form" --keep-signed
	check "...--keep-signed writes it still signed" \
		sh -c "[ $RC -eq 0 ] && grep -qi '$([ $form = opaque ] && echo 'smime-type=signed-data' || echo 'multipart/signed')' '$TMP/p$form.dec'"
	run verify $A -o "$TMP/p$form.v" "$TMP/p$form.dec"
	check "...and that verifies on its own" rc_is 0
done

# ---- openssl cms: opaque (-nodetach) and detached ----
printf 'Content-Type: text/plain\r\n\r\nHello Bob,\r\n%s.\r\n' "$SECRET" >"$TMP/dave.content"
openssl cms -sign -nodetach -in "$TMP/dave.content" -signer "$PKI/dave.cert.pem" \
	-inkey "$PKI/dave.key.pem" -certfile "$PKI/intermediate-ca.cert.pem" -from dave@example.org \
	-out "$TMP/oopaque.inner" 2>>"$TMP/ossl.err"
encrypt_for_bob oopaque dave@example.org
dec oopaque
check "openssl opaque signed-data inside: decrypt writes the message it carries" \
	unwrapped oopaque dave@example.org
openssl cms -sign -in "$TMP/dave.content" -signer "$PKI/dave.cert.pem" -inkey "$PKI/dave.key.pem" \
	-certfile "$PKI/intermediate-ca.cert.pem" -from dave@example.org \
	-out "$TMP/odetached.inner" 2>>"$TMP/ossl.err"
encrypt_for_bob odetached dave@example.org
dec odetached
check "openssl multipart/signed inside: decrypt writes the message it carries" \
	unwrapped odetached dave@example.org
# signed content without a header block of its own: still a readable message
printf 'Hello Bob,\r\n%s.\r\n' "$SECRET" >"$TMP/bare.content"
openssl cms -sign -nodetach -binary -in "$TMP/bare.content" -signer "$PKI/dave.cert.pem" \
	-inkey "$PKI/dave.key.pem" -certfile "$PKI/intermediate-ca.cert.pem" -from dave@example.org \
	-out "$TMP/obare.inner" 2>>"$TMP/ossl.err"
encrypt_for_bob obare dave@example.org
dec obare
check "signed content with no header block: written after the headers and an empty line" \
	sh -c "[ $RC -eq 0 ] && python3 -c '
import sys
h, b = open(sys.argv[1], \"rb\").read().split(b\"\\r\\n\\r\\n\", 1)
sys.exit(0 if b.startswith(b\"Hello Bob\") and b\"From: dave@example.org\" in h else 1)' '$TMP/obare.dec'"

# ---- NSS cmsutil: opaque and detached (Alice's key in an NSS database) ----
certutil -N -d "sql:$TMP/nss" --empty-password 2>/dev/null || { mkdir -p "$TMP/nss"; certutil -N -d "sql:$TMP/nss" --empty-password; }
certutil -A -d "sql:$TMP/nss" -n root -t "C,C,C" -i "$PKI/root-ca.cert.pem"
certutil -A -d "sql:$TMP/nss" -n inter -t ",," -i "$PKI/intermediate-ca.cert.pem"
pk12util -i "$PKI/alice.p12" -d "sql:$TMP/nss" -W test >/dev/null 2>&1
printf 'Content-Type: text/plain\r\n\r\nHello Bob,\r\n%s.\r\n' "$SECRET" >"$TMP/alice.content"
cmsutil -S -N alice -G -P -H SHA256 -i "$TMP/alice.content" -o "$TMP/nss-opaque.der" \
	-d "sql:$TMP/nss" >/dev/null 2>&1
{
	printf 'From: alice@example.org\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n\r\n'
	base64 -w 76 "$TMP/nss-opaque.der" | sed 's/$/\r/'
} >"$TMP/nopaque.inner"
encrypt_for_bob nopaque alice@example.org
dec nopaque
check "NSS cmsutil opaque signed-data inside: decrypt writes the message it carries" \
	unwrapped nopaque alice@example.org
cmsutil -S -N alice -T -G -P -H SHA256 -i "$TMP/alice.content" -o "$TMP/nss.p7s" \
	-d "sql:$TMP/nss" >/dev/null 2>&1
python3 "$T" wrap "$TMP/alice.content" "$TMP/nss.p7s" "alice@example.org" sha-256 "$TMP/ndetached.inner"
encrypt_for_bob ndetached alice@example.org
dec ndetached
check "NSS cmsutil multipart/signed inside: decrypt writes the message it carries" \
	unwrapped ndetached alice@example.org
dec ndetached --keep-signed
check "...--keep-signed: the multipart/signed form" \
	sh -c "[ $RC -eq 0 ] && grep -qi 'multipart/signed' '$TMP/ndetached.dec'"

# ---- what the inner layer's headers say wins over the outer copies ----
{
	printf 'From: Alice <alice@example.org>\r\nSubject: the real subject\r\n'
	printf 'Content-Type: text/plain\r\n\r\nHello Bob,\r\n%s.\r\n' "$SECRET"
} >"$TMP/hp.content"
openssl cms -sign -nodetach -binary -in "$TMP/hp.content" -signer "$PKI/alice.cert.pem" \
	-inkey "$PKI/alice.key.pem" -certfile "$PKI/intermediate-ca.cert.pem" -from alice@example.org \
	-subject "..." -out "$TMP/hp.inner" 2>>"$TMP/ossl.err"
encrypt_for_bob hp alice@example.org
dec hp
check "signed header fields win over the outer copies (one Subject:, the signed one)" \
	sh -c "[ $RC -eq 0 ] && [ \$(grep -c '^Subject:' '$TMP/hp.dec') -eq 1 ] && grep -q '^Subject: the real subject' '$TMP/hp.dec' && [ \$(grep -c '^From:' '$TMP/hp.dec') -eq 1 ]"

# ---- negative twins: an inner signature that does not check ----
python3 - "$TMP/oopaque.inner" "$TMP/bad.inner" <<'EOF'
import base64, sys
s = open(sys.argv[1], 'rb').read()
h, b = s.split(b'\n\n', 1)
der = bytearray(base64.b64decode(b))
i = der.find(b'swordfish')
der[i] ^= 0x20
open(sys.argv[2], 'wb').write(h + b'\n\n' + base64.encodebytes(bytes(der)))
EOF
encrypt_for_bob bad dave@example.org
dec bad
check "a changed opaque inner message: exit 1, nothing written" \
	sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/bad.dec' ] && grep -qi 'NOT valid' '$TMP/err'"
dec bad --keep-signed
check "...also with --keep-signed" sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/bad.dec' ]"
openssl cms -sign -nodetach -in "$TMP/dave.content" -signer "$PKI/dave.cert.pem" \
	-inkey "$PKI/dave.key.pem" -certfile "$PKI/intermediate-ca.cert.pem" -from alice@example.org \
	-out "$TMP/wrongfrom.inner" 2>>"$TMP/ossl.err"
encrypt_for_bob wrongfrom alice@example.org
dec wrongfrom
check "an inner signer who is not the From: address: exit 1, nothing written" \
	sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/wrongfrom.dec' ] && grep -q 'From: alice@example.org' '$TMP/err'"
# an untrusted inner signer (mallory's CA is not an anchor)
openssl cms -sign -nodetach -in "$TMP/dave.content" -signer "$PKI/mallory.cert.pem" \
	-inkey "$PKI/mallory.key.pem" -from mallory@example.org -out "$TMP/untrusted.inner" 2>>"$TMP/ossl.err"
encrypt_for_bob untrusted mallory@example.org
dec untrusted
check "an untrusted inner signer: exit 1, nothing written" \
	sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/untrusted.dec' ]"
# plain (unsigned) content inside is written as before
printf 'Content-Type: text/plain\r\n\r\n%s\r\n' "$SECRET" >"$TMP/plain.inner"
encrypt_for_bob plain alice@example.org
dec plain
check "no signature inside: the decrypted message as it is" \
	sh -c "[ $RC -eq 0 ] && grep -qF '$SECRET' '$TMP/plain.dec' && grep -q '^From: alice@example.org' '$TMP/plain.dec'"
check "...with --json: signature null" \
	sh -c "'$P11SMIME' --module '$MODULE' --pin-source '$USER_PIN' decrypt $A --key '$BOB' --json -o '$TMP/plain2.dec' '$TMP/plain.p7m' 2>/dev/null | grep -q '\"signature\":null'"
done_testing
