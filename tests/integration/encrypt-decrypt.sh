#!/bin/bash
# p11smime encrypt, sign-encrypt and decrypt on the fixture tokens: round
# trips for RSA (PKCS#1 v1.5, OAEP) and ECDH (P-256, P-384) recipients,
# GCM and CBC, LF and CRLF, retired PIV keys; every result also decrypted
# by openssl with the software copy of the key; and the negative twins.
. "$top_srcdir/tests/integration/lib.sh"
plan 64
fixtures
A=(--anchors "$PKI/anchors.pem")

mkmsg() { # file kind eol [to]
	local f=$1 kind=$2 eol=$3 to=${4:-bob@example.org}
	{
		printf 'From: Alice <alice@example.org>\nTo: %s\nSubject: secret %s\nDate: Sat, 28 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.org>\n' "$to" "$kind" "$RANDOM"
		case $kind in
		7bit) printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello Bob,\nthe secret word is swordfish.\n' ;;
		8bit) printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe,\nthe secret word is swordfish.\n' ;;
		binary) printf 'MIME-Version: 1.0\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n'; head -c 3000 /dev/urandom ;;
		big) printf 'MIME-Version: 1.0\nContent-Type: text/plain\n\n'; for i in $(seq 1 2000); do echo "line $i of the secret swordfish text"; done ;;
		esac
	} >"$f"
	[ "$eol" = crlf ] && sed -i 's/$/\r/' "$f" || true
}

enc() { # name cmd args... -> $TMP/name.p7m
	local name=$1
	shift
	RC=0
	"$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" "$@" -o "$TMP/$name.p7m" \
		"$TMP/$name.eml" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

dec() { # name pin args... -> $TMP/name.dec
	local name=$1 pin=$2
	shift 2
	rm -f "$TMP/$name.dec"
	RC=0
	"$P11SMIME" --module "$MODULE" --pin-source "$pin" decrypt "${A[@]}" "$@" -o "$TMP/$name.dec" \
		"$TMP/$name.p7m" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# openssl cms -decrypt with the software copy of WHO's key
ossl_dec() { # name who
	openssl cms -decrypt -in "$TMP/$1.p7m" -inkey "$PKI/$2.key.pem" -recip "$PKI/$2.cert.pem" \
		-out "$TMP/$1.ossl" 2>"$TMP/ossl.err"
}

roundtrip() { # desc name kind eol who key-label extra...
	local desc=$1 name=$2 kind=$3 eol=$4 who=$5 label=$6
	shift 6
	mkmsg "$TMP/$name.eml" "$kind" "$eol"
	enc "$name" encrypt "${A[@]}" --to "$who@example.org" "$@"
	if [ "$RC" -ne 0 ]; then not_ok "$desc: encrypt failed"; diag <"$TMP/err"; ok "skipped"; return; fi
	dec "$name" "$USER_PIN" --key "pkcs11:token=p11smime-user;object=$label"
	check "$desc: p11smime decrypts it on the token" sh -c "[ $RC -eq 0 ] && grep -q 'secret\|Content-Transfer-Encoding: base64' '$TMP/$name.dec'"
	check "$desc: openssl cms -decrypt reads it" ossl_dec "$name" "$who"
}

roundtrip "RSA, AES-256-GCM (default), LF" rsa 7bit lf bob bob
check "GCM makes authEnveloped-data" grep -q 'smime-type=authEnveloped-data' "$TMP/rsa.p7m"
check "routing headers stay outside, the body is inside" sh -c "grep -q '^Subject: secret' '$TMP/rsa.p7m' && ! grep -q swordfish '$TMP/rsa.p7m'"
check "the sender is a recipient too" sh -c "openssl cms -decrypt -in '$TMP/rsa.p7m' -inkey '$PKI/alice.key.pem' -recip '$PKI/alice.cert.pem' 2>/dev/null | grep -q swordfish"
check "decrypt keeps the routing headers and the input's line ends" sh -c "grep -q '^Subject: secret' '$TMP/rsa.dec' && ! grep -q \$'\r' '$TMP/rsa.dec'"
check "decrypt reports an authenticated AES-256-GCM content" grep -qi 'aes-256-gcm, authenticated' "$TMP/err"
roundtrip "RSA, CRLF input, 8-bit body" rsacrlf 8bit crlf bob bob
check "CRLF input gives CRLF output" grep -q $'\r$' "$TMP/rsacrlf.dec"
roundtrip "RSA, binary body" rsabin binary lf bob bob
roundtrip "RSA-OAEP" oaep 7bit lf bob bob --oaep
check "OAEP is in the RecipientInfo" sh -c "openssl cms -cmsout -print -in '$TMP/oaep.p7m' | grep -q rsaesOaep"
roundtrip "ECDH P-256, AES-128-GCM" ecdh 8bit lf carol carol --cipher aes-128-gcm
check "ECDH uses the SHA-256 X9.63 KDF and AES key wrap" sh -c "openssl cms -cmsout -print -in '$TMP/ecdh.p7m' | grep -q 'dhSinglePass-stdDH-sha256kdf-scheme' && openssl cms -cmsout -print -in '$TMP/ecdh.p7m' | grep -q 'id-aes128-wrap'"
roundtrip "ECDH P-384, AES-256-CBC" ecdh384 7bit crlf dave dave --cipher aes-256-cbc
check "CBC makes enveloped-data" grep -q 'smime-type=enveloped-data' "$TMP/ecdh384.p7m"
check "CBC without a signature is reported as not authenticated" grep -qi 'NOT authenticated' "$TMP/err"
roundtrip "RSA, AES-128-CBC" cbc128 7bit lf bob bob --cipher aes-128-cbc

# recipients from To/Cc/Bcc, the key found by itself
mkmsg "$TMP/multi.eml" 7bit lf "bob@example.org, Carol <carol@example.org>"
sed -i 's/^Subject:/Bcc: dave@example.org\nSubject:/' "$TMP/multi.eml"
enc multi encrypt "${A[@]}"
check "encrypting to the To, Cc and Bcc addresses works" rc_is 0
for who in bob carol dave alice; do
	check "...$who can read it (openssl)" ossl_dec multi "$who"
done
dec multi "$USER_PIN"
check "decrypt finds a matching key on the tokens without --key" sh -c "[ $RC -eq 0 ] && grep -q swordfish '$TMP/multi.dec'"

# sign-encrypt
mkmsg "$TMP/se.eml" 8bit lf
enc se sign-encrypt "${A[@]}"
check "sign-encrypt works" rc_is 0
dec se "$USER_PIN"
check "decrypt checks the inner signature and reports it" sh -c "[ $RC -eq 0 ] && grep -q 'signature OK' '$TMP/err' && grep -q 'alice@example.org' '$TMP/err'"
check "the output is the message the signature carried, not the signed form" \
	sh -c "! grep -q 'multipart/signed' '$TMP/se.dec' && grep -q '^From: Alice' '$TMP/se.dec' && grep -q 'swordfish' '$TMP/se.dec'"
dec se "$USER_PIN" --keep-signed
run verify "${A[@]}" -o "$TMP/se.content" "$TMP/se.dec"
check "with --keep-signed the output is signed and verifies on its own" \
	sh -c "grep -q 'multipart/signed' '$TMP/se.dec' && [ $RC -eq 0 ]"
check "openssl decrypts and verifies the inner signature" sh -c "openssl cms -decrypt -in '$TMP/se.p7m' -inkey '$PKI/bob.key.pem' -recip '$PKI/bob.cert.pem' | openssl cms -verify -CAfile '$PKI/anchors.pem' -out /dev/null 2>/dev/null"
mkmsg "$TMP/seo.eml" 7bit crlf
sed -i 's/^From: Alice <alice@/From: Carol <carol@/' "$TMP/seo.eml"
enc seo sign-encrypt "${A[@]}" --opaque --key "pkcs11:token=p11smime-user;object=carol"
dec seo "$USER_PIN" --json
check "sign-encrypt --opaque with an EC signer; decrypt --json reports both layers" json_q '
  d["decrypted"] and d["authenticated"] and d["cipher"]=="aes-256-gcm"
  and d["signature"]["valid"] and "carol@example.org" in d["signature"]["signer_emails"]'

# sign-encrypt with PIV's sign-every-time key (CKA_ALWAYS_AUTHENTICATE)
mkmsg "$TMP/pivse.eml" 8bit lf
sed -i 's/^From: Alice <alice@/From: Pat <pat@/' "$TMP/pivse.eml"
RC=0; "$P11SMIME" --module "$MODULE" --pin-source "$PIV_PIN" sign-encrypt "${A[@]}" \
	--certfile "$PKI/intermediate-ca.cert.pem" -o "$TMP/pivse.p7m" "$TMP/pivse.eml" >"$TMP/out" 2>"$TMP/err" || RC=$?
RC2=0; openssl cms -decrypt -in "$TMP/pivse.p7m" -inkey "$PKI/bob.key.pem" -recip "$PKI/bob.cert.pem" 2>/dev/null |
	openssl cms -verify -CAfile "$PKI/anchors.pem" -out /dev/null 2>/dev/null || RC2=$?
check "sign-encrypt with the always-authenticate PIV key in batch; openssl decrypts and verifies" \
	sh -c "[ $RC -eq 0 ] && [ $RC2 -eq 0 ]"

# PIV: the key-management key, and retired keys for old mail
mkmsg "$TMP/piv.eml" 7bit lf pat@example.org
enc piv encrypt "${A[@]}" --recipient-cert "$PKI/pat-keymgmt.cert.pem"
dec piv "$PIV_PIN" --token pkcs11:token=p11smime-piv
check "the PIV key-management key (9D) decrypts (--token: alice, on the other token, is a recipient too)" sh -c "[ $RC -eq 0 ] && grep -q swordfish '$TMP/piv.dec'"
mkmsg "$TMP/old1.eml" 7bit lf pat@example.org
openssl cms -encrypt -aes-256-cbc -in "$TMP/old1.eml" -out "$TMP/old1.p7m" "$PKI/pat-retired1.cert.pem" 2>/dev/null
dec old1 "$PIV_PIN"
check "a retired RSA key-management key opens the old message encrypted to it" sh -c "[ $RC -eq 0 ] && grep -q swordfish '$TMP/old1.dec' && grep -q 'id=%05' '$TMP/err'"
openssl cms -encrypt -aes-128-cbc -in "$TMP/old1.eml" -out "$TMP/old2.p7m" "$PKI/pat-retired2.cert.pem" 2>/dev/null
dec old2 "$PIV_PIN"
check "a retired EC key (ECDH on the token) opens an old message" sh -c "[ $RC -eq 0 ] && grep -q swordfish '$TMP/old2.dec' && grep -q 'id=%06' '$TMP/err'"
openssl cms -encrypt -des3 -in "$TMP/old1.eml" -out "$TMP/old3.p7m" "$PKI/pat-retired1.cert.pem" 2>/dev/null
dec old3 "$PIV_PIN"
check "legacy 3DES-CBC decrypts, with a warning" sh -c "[ $RC -eq 0 ] && grep -q swordfish '$TMP/old3.dec' && grep -qi 'legacy' '$TMP/err'"

# a recipient known only from a signature: the store, and their capabilities
openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/zed.key" -subj "/CN=Zed/emailAddress=zed@example.org" \
	-out "$TMP/zed.csr" 2>/dev/null
printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:zed@example.org\n' >"$TMP/zed.ext"
openssl x509 -req -in "$TMP/zed.csr" -CA "$PKI/intermediate-ca.cert.pem" -CAkey "$PKI/intermediate-ca.key.pem" \
	-CAcreateserial -days 30 -extfile "$TMP/zed.ext" -out "$TMP/zed.crt" 2>/dev/null
printf 'From: zed@example.org\nTo: alice@example.org\nSubject: hi\n\nhello from zed\n' >"$TMP/zed.eml"
openssl cms -sign -in "$TMP/zed.eml" -signer "$TMP/zed.crt" -inkey "$TMP/zed.key" \
	-from zed@example.org -certfile "$PKI/intermediate-ca.cert.pem" -out "$TMP/zed.signed" 2>/dev/null
run verify "${A[@]}" -o /dev/null "$TMP/zed.signed"
check "verify remembers zed (a signer known to no token)" rc_is 0
mkmsg "$TMP/tozed.eml" 7bit lf zed@example.org
enc tozed encrypt "${A[@]}"
check "encrypt to zed@example.org finds the certificate in the store" rc_is 0
check "...and falls back to AES-256-CBC with a warning (openssl announced no GCM)" sh -c "grep -qi 'cannot read AES-GCM' '$TMP/err' && grep -q 'smime-type=enveloped-data' '$TMP/tozed.p7m'"
check "...which zed can read" sh -c "openssl cms -decrypt -in '$TMP/tozed.p7m' -inkey '$TMP/zed.key' -recip '$TMP/zed.crt' 2>/dev/null | grep -q swordfish"

# a correspondent from another PKI, whose intermediate came only in the
# signature (no token, no store, no anchor holds it): verify keeps the CA
# certificates on the signer's path, as Thunderbird does, so that
# encrypting to them later finds the chain
Y=$TMP/ypki
mkdir -p "$Y"
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$Y/ca.ext"
printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:yan@example.net\n' >"$Y/user.ext"
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$Y/root.key" -subj "/CN=Y Root" -days 30 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	-out "$Y/root.crt" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$Y/int.key" -subj "/CN=Y Intermediate" \
	-out "$Y/int.csr" 2>/dev/null
openssl x509 -req -in "$Y/int.csr" -CA "$Y/root.crt" -CAkey "$Y/root.key" -CAcreateserial -days 30 \
	-extfile "$Y/ca.ext" -out "$Y/int.crt" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$Y/yan.key" -subj "/CN=Yan/emailAddress=yan@example.net" \
	-out "$Y/yan.csr" 2>/dev/null
openssl x509 -req -in "$Y/yan.csr" -CA "$Y/int.crt" -CAkey "$Y/int.key" -CAcreateserial -days 30 \
	-extfile "$Y/user.ext" -out "$Y/yan.crt" 2>/dev/null
printf 'From: yan@example.net\nTo: alice@example.org\nSubject: hi\n\nhello from yan\n' >"$TMP/yan.eml"
openssl cms -sign -in "$TMP/yan.eml" -signer "$Y/yan.crt" -inkey "$Y/yan.key" -certfile "$Y/int.crt" \
	-from yan@example.net -out "$TMP/yan.signed" 2>/dev/null
YA=(--anchors "$Y/root.crt" --anchors "$PKI/anchors.pem")
mkmsg "$TMP/toyan.eml" 7bit lf yan@example.net
enc toyan encrypt "${YA[@]}"
check "before Yan's signature was seen: encrypt to yan@example.net fails (exit 1)" rc_is 1
run verify --anchors "$Y/root.crt" -o /dev/null "$TMP/yan.signed"
check "verify of Yan's signature (intermediate only in the message): exit 0" rc_is 0
run certs list --json
check "...and the store now holds Yan and the intermediate on Yan's path, not the root" \
	sh -c "grep -q '\"subject\":\"emailAddress=yan@example.net,CN=Yan\"' '$TMP/out' && grep -q '\"subject\":\"CN=Y Intermediate\"' '$TMP/out' && ! grep -q '\"subject\":\"CN=Y Root\"' '$TMP/out'"
enc toyan encrypt "${YA[@]}"
check "encrypt to yan@example.net then finds the chain (exit 0)" rc_is 0
check "...and Yan reads it" sh -c "openssl cms -decrypt -in '$TMP/toyan.p7m' -inkey '$Y/yan.key' -recip '$Y/yan.crt' 2>/dev/null | grep -q swordfish"

# ---- negative twins ----
mkmsg "$TMP/big.eml" big lf
enc big encrypt "${A[@]}"
flip() { # in out offset
	python3 - "$1" "$2" "$3" <<'EOF'
import base64, sys
s = open(sys.argv[1], 'rb').read()
h, b = s.split(b'\n\n', 1)
der = bytearray(base64.b64decode(b))
off = int(sys.argv[3]) if sys.argv[3] != 'mid' else len(der) // 2
der[off] ^= 0x01
open(sys.argv[2], 'wb').write(h + b'\n\n' + base64.encodebytes(bytes(der)))
EOF
}
# the GCM tag: the last 16-byte OCTET STRING
tag_off=$(sed '1,/^$/d' "$TMP/big.p7m" | openssl base64 -d | openssl asn1parse -inform DER 2>/dev/null |
	awk '/OCTET STRING/ && /l= *16 /{split($1,a,":"); split($0,b,"hl="); split(b[2],c," "); off=a[1]+c[1]} END{print off+3}')
flip "$TMP/big.p7m" "$TMP/bigct.p7m" mid
dec bigct "$USER_PIN"
check "one flipped bit in the GCM ciphertext: exit 1, nothing written" sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/bigct.dec' ] && grep -qi 'changed' '$TMP/err'"
flip "$TMP/big.p7m" "$TMP/bigtag.p7m" "$tag_off"
dec bigtag "$USER_PIN"
check "one flipped bit in the GCM tag: exit 1, nothing written" sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/bigtag.dec' ]"
python3 -c "
import sys; s=open('$TMP/big.p7m').read().rstrip('\n').split('\n'); open('$TMP/bigtr.p7m','w').write('\n'.join(s[:len(s)*2//3])+'\n')"
dec bigtr "$USER_PIN"
check "a truncated message: exit 2, nothing written" sh -c "[ $RC -eq 2 ] && [ ! -e '$TMP/bigtr.dec' ] && grep -qi 'ends too early' '$TMP/err'"
mkmsg "$TMP/cbct.eml" big lf
enc cbct encrypt "${A[@]}" --cipher aes-256-cbc
dec cbct "$USER_PIN" --require-authenticated
check "--require-authenticated refuses CBC content without a signature (exit 1)" sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/cbct.dec' ]"
openssl cms -encrypt -aes-256-gcm -in "$TMP/old1.eml" -out "$TMP/nokey.p7m" "$TMP/zed.crt" 2>/dev/null
dec nokey "$USER_PIN"
check "no matching key: exit 1 and a line naming whom it is for" eval "[ $RC -eq 1 ] && err_one_line && grep -q 'encrypted for: .*Intermediate CA serial' '$TMP/err'"
printf '999999' >"$TMP/bad.pin"; chmod 600 "$TMP/bad.pin"
dec rsa "file:$TMP/bad.pin" --key "pkcs11:token=p11smime-user;object=bob"
check "wrong PIN: exit 3, nothing written" sh -c "[ $RC -eq 3 ] && [ ! -e '$TMP/rsa.dec' ]"
enc rsa encrypt "${A[@]}" --recipient-cert "$PKI/pat-sign.cert.pem"
check "a recipient certificate without key encipherment stops everything (exit 1)" eval "[ $RC -eq 1 ] && err_one_line && grep -q 'pat@example.org' '$TMP/err' && grep -q 'key usage' '$TMP/err'"
enc rsa encrypt "${A[@]}" --recipient-cert "$PKI/eve.cert.pem" --to bob@example.org
check "an expired recipient stops everything (exit 1), naming them" sh -c "[ $RC -eq 1 ] && grep -q 'eve@example.org.*expired' '$TMP/err' && [ ! -e '$TMP/rsa.p7m.tmp' ]"
enc rsa encrypt "${A[@]}" --recipient-cert "$PKI/mallory.cert.pem"
check "an untrusted recipient stops everything (exit 1)" sh -c "[ $RC -eq 1 ] && grep -q 'trusted anchor' '$TMP/err'"
mkmsg "$TMP/unknown.eml" 7bit lf "bob@example.org, nobody@example.org"
enc unknown encrypt "${A[@]}"
check "an address without a certificate stops everything (exit 1), naming it" eval "[ $RC -eq 1 ] && err_one_line && grep -q 'nobody@example.org' '$TMP/err' && [ ! -e '$TMP/unknown.p7m' ]"
printf 'From: alice@example.org\nSubject: x\n\nbody\n' >"$TMP/noto.eml"
enc noto encrypt "${A[@]}"
check "no recipients at all: usage error (exit 2)" sh -c "[ $RC -eq 2 ] && grep -q 'no To, Cc or Bcc' '$TMP/err'"
enc rsa encrypt "${A[@]}" --cipher des-cbc
check "an unknown cipher: usage error (exit 2)" rc_is 2
run --module "$MODULE" --pin-source "$USER_PIN" decrypt "$TMP/rsa.eml"
check "decrypting a message that is not encrypted: exit 2" sh -c "[ $RC -eq 2 ] && grep -q 'not encrypted' '$TMP/err'"
# an inner signature that does not check: nothing is released
"$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" sign --key "pkcs11:token=p11smime-user;object=mallory" \
	-o "$TMP/msig.eml" "$TMP/rsacrlf.eml" 2>/dev/null
openssl cms -encrypt -aes-256-gcm -in "$TMP/msig.eml" -out "$TMP/msig.p7m" "$PKI/bob.cert.pem" 2>/dev/null
# openssl puts the whole message inside: give it the outer headers back
dec msig "$USER_PIN"
check "an untrusted signature inside: exit 1, nothing written" sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/msig.dec' ] && grep -q 'NOT valid' '$TMP/err'"
done_testing
