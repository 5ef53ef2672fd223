#!/bin/bash
# Encrypted mail made by other programs (../shared/corpus: Thunderbird/NSS,
# OpenSSL, the LAMPS header-protection samples, KMail, the RFC 9216 CMS
# examples), with each recipient's key and certificate put on a fresh
# SoftHSM token: p11smime decrypt opens them, or refuses, exactly as their
# SOURCE.md says. (mimekit/ and notmuch/ hold no encrypted message: notmuch's
# bob.p12 is the same key as autocrypt-protected-headers/bob.p12.)
. "$top_srcdir/tests/integration/lib.sh"
C=${P11SMIME_CORPUS:-$top_srcdir/../shared/corpus}
if [ ! -d "$C/thunderbird" ]; then
	# the corpus lives beside the project; without it there is nothing to run
	echo "1..0 # SKIP corpus not found at $C"
	exit 0
fi
plan 68
fixtures
TB=$C/thunderbird
AC=$C/autocrypt-protected-headers
KDE=$C/kde-mimetreeparser
R9=$C/rfc9216-examples-cms
MSG='This is a test message from Alice to Bob.'
# Signatures are judged as of a time inside their certificates' validity
# (each folder's SOURCE.md), never the day the test runs: the outcome is
# the same in any year. Thunderbird's test certificates: 2026-01-26 ..
# 2031-01-26; LAMPS' (autocrypt-protected-headers): 2019-11-20 ..
# 2052-09-27; KMail's unittest certificate: 2010-06-29 .. 2013-03-25.
TB_AT=2026-06-01T00:00:00Z
AC_AT=2026-06-01T00:00:00Z
KDE_EXPIRED_AT=2015-01-01T00:00:00Z
K=$TMP/keys
mkdir -p "$K"

# ---- the corpus identities on two fresh tokens ----
printf '123456' >"$TMP/corpus.pin"
chmod 600 "$TMP/corpus.pin"
CPIN=file:$TMP/corpus.pin
for t in corpus others; do
	softhsm2-util --init-token --free --label "$t" --pin 123456 --so-pin 12345678 >/dev/null
done
# from_p12 NAME P12 PASSWORD: NAME.key.pem and NAME.cert.pem (-legacy: 3DES/RC2 ones too)
from_p12() {
	openssl pkcs12 -legacy -in "$2" -passin "pass:$3" -nocerts -nodes 2>/dev/null | openssl pkey -out "$K/$1.key.pem"
	openssl pkcs12 -legacy -in "$2" -passin "pass:$3" -nokeys -clcerts 2>/dev/null | openssl x509 -out "$K/$1.cert.pem"
}
# from_pem NAME KEYFILE CERTFILE
from_pem() {
	openssl pkey -in "$2" -out "$K/$1.key.pem"
	openssl x509 -in "$3" -out "$K/$1.cert.pem"
}
# put TOKEN NAME ID USAGE...: private key and certificate with one CKA_ID, as
# softhsm-fixtures/mkfixtures.sh does it
put() {
	local token=$1 name=$2 id=$3
	shift 3
	pkcs11-tool --module "$MODULE" --token-label "$token" --login --pin 123456 --write-object "$K/$name.key.pem" \
		--type privkey --id "$id" --label "$name" --sensitive "$@" >/dev/null 2>&1 &&
	pkcs11-tool --module "$MODULE" --token-label "$token" --login --pin 123456 --write-object "$K/$name.cert.pem" \
		--type cert --id "$id" --label "$name" >/dev/null 2>&1 ||
		{ echo "Bail out! could not put $name on the token"; exit 1; }
}
from_p12 tb-bob "$TB/smime/Bob.p12" nss
from_p12 fran "$TB/smime-interop/Fran.p12" nss
from_p12 fran-ec "$TB/smime-interop/Fran-ec.p12" nss
sed '/-----/d' "$AC/bob.p12" | openssl base64 -d >"$K/ac-bob.p12"
from_p12 ac-bob "$K/ac-bob.p12" bob
from_pem kde "$KDE/_derived/unittest-cert.key.pem" "$KDE/_derived/unittest-cert.selfsigned.cert.pem"
from_pem smec3 "$C/openssl/smime-certs/smec3.pem" "$C/openssl/smime-certs/smec3.pem"
from_pem lamps-bob "$R9/certs-and-keys/lamps-bob.decrypt.p8.pem" "$R9/certs-and-keys/lamps-bob.encrypt.crt"
put corpus tb-bob 11 --usage-decrypt
put corpus fran 12 --usage-decrypt
put corpus fran-ec 13 --usage-derive
put corpus ac-bob 14 --usage-decrypt
put corpus kde 15 --usage-decrypt
put corpus smec3 16 --usage-derive
put corpus lamps-bob 17 --usage-decrypt
# Thunderbird's other people, none of them a recipient of Alice's mail to Bob
for who in Alice Dave Eve; do
	from_p12 "tb-$who" "$TB/smime/$who.p12" nss
done
put others tb-Alice 21 --usage-decrypt
put others tb-Dave 22 --usage-decrypt
put others tb-Eve 23 --usage-decrypt

# cdec NAME FILE [ARGS...]: p11smime decrypt with the corpus token -> $TMP/NAME.dec
cdec() {
	local name=$1 f=$2
	shift 2
	rm -f "$TMP/$name.dec"
	run --module "$MODULE" --pin-source "$CPIN" decrypt --token pkcs11:token=corpus "$@" \
		-o "$TMP/$name.dec" "$f"
}
# opened NAME TEXT: exit 0 and TEXT in the output
opened() { [ "$RC" -eq 0 ] && grep -qF -- "$2" "$TMP/$1.dec"; }
# refused NAME RC TEXT: exit RC, nothing written, TEXT on stderr
refused() { [ "$RC" -eq "$2" ] && [ ! -e "$TMP/$1.dec" ] && grep -qF -- "$3" "$TMP/err"; }
# signed_by NAME EMAIL: opened, and the signature inside is good, by EMAIL
signed_by() { [ "$RC" -eq 0 ] && [ -s "$TMP/$1.dec" ] && grep -q 'signature OK' "$TMP/err" && grep -qiF -- "$2" "$TMP/err"; }
# unwrapped NAME TEXT: opened, and what is written is the message the
# inner signature carried (TEXT in it), no signed layer left
unwrapped() { opened "$1" "$2" && ! grep -qi 'multipart/signed\|pkcs7-mime\|pkcs7-signature' "$TMP/$1.dec"; }
# inner NAME ANCHORS TEXT [ARGS]: the decrypted message verifies on its own and its content has TEXT
inner() {
	local name=$1 anchors=$2 text=$3
	shift 3
	run verify --anchors "$anchors" --at "$TB_AT" "$@" -o "$TMP/$name.content" "$TMP/$name.dec" &&
		grep -qF -- "$text" "$TMP/$name.content"
}
# vfy NAME FILE [ARGS]: p11smime verify -> $TMP/NAME.content
vfy() {
	local name=$1 f=$2
	shift 2
	rm -f "$TMP/$name.content"
	run verify --anchors "$TMP/tbca.pem" --at "$TB_AT" "$@" -o "$TMP/$name.content" "$f"
}

# ---- Thunderbird (NSS cmsutil): all Alice -> Bob mail is RSA, AES-128-CBC ----
cat "$TB/smime/TestCA.pem" "$TB/_derived/NSS-Test-CA-ECC.cert.pem" >"$TMP/tbca.pem"
TBA=(--anchors "$TMP/tbca.pem" --at "$TB_AT")
for h in SHA256 SHA384 SHA512; do
	cdec d$h "$TB/smime/alice.dsig.$h.multipart.env.eml" "${TBA[@]}"
	check "Thunderbird: alice.dsig.$h.multipart.env: Bob's key on the token opens it, Alice's signature inside is GOOD" \
		signed_by d$h alice@example.com
	check "...and what is written is the text Alice signed" unwrapped d$h "$MSG"
	cdec d$h "$TB/smime/alice.dsig.$h.multipart.env.eml" "${TBA[@]}" --keep-signed
	check "...with --keep-signed the decrypted multipart/signed verifies to the text" inner d$h "$TMP/tbca.pem" "$MSG"
done
cdec d1 "$TB/smime/alice.dsig.SHA1.multipart.env.eml" "${TBA[@]}"
check "Thunderbird: alice.dsig.SHA1.multipart.env: SHA-1 inside is BAD by default (exit 1, nothing written)" refused d1 1 SHA-1
cdec d1 "$TB/smime/alice.dsig.SHA1.multipart.env.eml" "${TBA[@]}" --allow-weak
check "...and GOOD with --allow-weak" signed_by d1 alice@example.com
for h in SHA256 SHA512; do
	cdec s$h "$TB/smime/alice.sig.$h.opaque.env.eml" "${TBA[@]}"
	check "Thunderbird: alice.sig.$h.opaque.env: opens, Alice's opaque signature inside is GOOD" signed_by s$h alice@example.com
	check "...and what is written is the text Alice signed" unwrapped s$h "$MSG"
done
cdec sSHA512 "$TB/smime/alice.sig.SHA512.opaque.env.eml" "${TBA[@]}" --keep-signed
check "...with --keep-signed the decrypted signed-data verifies to the text" inner sSHA512 "$TMP/tbca.pem" "$MSG"
cdec html "$TB/smime/alice.html.sig.SHA256.opaque.env.eml" "${TBA[@]}"
check "Thunderbird: alice.html.sig.SHA256.opaque.env: opens, Alice's signature inside is GOOD" signed_by html alice@example.com
check "...and what is written is the HTML Alice signed" unwrapped html '<html><body>This is a test message from Alice to'
cdec html "$TB/smime/alice.html.sig.SHA256.opaque.env.eml" "${TBA[@]}" --keep-signed
inner html "$TMP/tbca.pem" '<html><body>This is a test message from Alice to' >/dev/null
check "...whose content is the HTML text" grep -qF '<html><body>This is a test message from Alice to' "$TMP/html.content"
cdec html1 "$TB/smime/alice.html.sig.SHA1.opaque.env.eml" "${TBA[@]}"
check "Thunderbird: alice.html.sig.SHA1.opaque.env: BAD by default (SHA-1)" refused html1 1 SHA-1
cdec html1 "$TB/smime/alice.html.sig.SHA1.opaque.env.eml" "${TBA[@]}" --allow-weak
check "...GOOD with --allow-weak" signed_by html1 alice@example.com

# signed after encrypting: verify peels the signature, decrypt the rest
cdec sig384 "$TB/smime/alice.env.sig.SHA384.opaque.eml" "${TBA[@]}"
check "Thunderbird: alice.env.sig.SHA384.opaque (signature outside): decrypt says use verify (exit 2)" \
	refused sig384 2 "use verify"
vfy env384 "$TB/smime/alice.env.sig.SHA384.opaque.eml"
cdec env384 "$TMP/env384.content"
check "...verify finds Alice's outer signature GOOD, and what it signed opens with Bob's key" opened env384 "$MSG"
vfy env1 "$TB/smime/alice.env.sig.SHA1.opaque.eml" --allow-weak
cdec env1 "$TMP/env1.content"
check "Thunderbird: alice.env.sig.SHA1.opaque: GOOD with --allow-weak, and what it signed opens" opened env1 "$MSG"
for h in SHA256 SHA512; do
	vfy dv$h "$TB/smime/alice.env.sig.$h.opaque.dave.sig.$h.opaque.eml"
	# Alice's layer inside Dave's has no From: of its own: nothing to check it against
	vfy al$h "$TMP/dv$h.content" --no-from-check
	cdec al$h "$TMP/al$h.content"
	check "Thunderbird: alice.env.sig.$h.opaque.dave.sig.$h.opaque: Dave GOOD, Alice GOOD, then Bob's key opens it" \
		opened al$h "$MSG"
done
for h in SHA256 SHA384 SHA512; do
	cdec envd$h "$TB/smime/alice.env.dsig.$h.multipart.eml" "${TBA[@]}"
	drc=$RC
	vfy envd$h "$TB/smime/alice.env.dsig.$h.multipart.eml"
	check "Thunderbird: alice.env.dsig.$h.multipart: decrypt says use verify (exit 2), and the outer signature (NSS signed the LF form) is BAD" \
		sh -c "[ $drc -eq 2 ] && [ $RC -eq 1 ] && [ ! -e '$TMP/envd$h.dec' ] && [ ! -e '$TMP/envd$h.content' ]"
done
for h in SHA256 SHA384; do
	vfy dd$h "$TB/smime/alice.env.dsig.$h.multipart.dave.sig.$h.opaque.eml"
	dave=$RC
	vfy ad$h "$TMP/dd$h.content"
	check "Thunderbird: alice.env.dsig.$h.multipart.dave.sig.$h.opaque: Dave GOOD, Alice's detached signature inside BAD" \
		sh -c "[ $dave -eq 0 ] && [ $RC -eq 1 ] && [ ! -e '$TMP/ad$h.content' ]"
done

# hand-made nestings (smime-manual/readme.txt): the outer S/MIME signatures do not match
mpart() { # NAME FILE: the first part of a multipart/signed as a message, with the routing headers
	python3 - "$2" "$TMP/$1.eml" <<'EOF'
import re, sys
data = open(sys.argv[1], 'rb').read()
head = data.split(b'\n\n', 1)[0]
delim = b'--' + re.search(rb'boundary="?([^";\r\n]+)"?', data).group(1)
part = re.split(rb'\r?\n' + re.escape(delim) + rb'[^\n]*\n', b'\n' + data)[1]
routing = b''.join(l + b'\n' for l in head.split(b'\n') if re.match(rb'(From|To|Subject|Date):', l))
open(sys.argv[2], 'wb').write(routing + part)
EOF
}
vfy man1 "$TB/smime-manual/alice.dsig.SHA256.multipart.env.dsig.eml"
mpart man1 "$TB/smime-manual/alice.dsig.SHA256.multipart.env.dsig.eml"
cdec man1 "$TMP/man1.eml" "${TBA[@]}"
check "Thunderbird manual: alice.dsig.SHA256.multipart.env.dsig: outer BAD; the enveloped part opens and Alice is GOOD inside" \
	sh -c "[ ! -e '$TMP/man1.content' ] && [ $RC -eq 0 ] && grep -q 'signature OK' '$TMP/err'"
vfy man2 "$TB/smime-manual/outer-smime-bad-sig-inner-smime-enc.eml"
mpart man2 "$TB/smime-manual/outer-smime-bad-sig-inner-smime-enc.eml"
cdec man2 "$TMP/man2.eml"
check "Thunderbird manual: outer-smime-bad-sig-inner-smime-enc: outer BAD; the enveloped part opens" \
	sh -c "[ ! -e '$TMP/man2.content' ] && [ $RC -eq 0 ] && grep -qF '$MSG' '$TMP/man2.dec'"
cdec pgp "$TB/smime-manual/outer-pgp-sig-inner-smime-enc-sig.eml"
check "Thunderbird manual: outer-pgp-sig-inner-smime-enc-sig: a PGP-signed message, decrypt says use verify (exit 2)" \
	refused pgp 2 "signed"
mpart pgp "$TB/smime-manual/outer-pgp-sig-inner-smime-enc-sig.eml"
cdec pgp "$TMP/pgp.eml"
check "...and the S/MIME part inside is for an older Bob: exit 1, naming it (NSS Test CA, serial 28)" \
	eval "refused pgp 1 'no key on the tokens' && err_one_line && grep -q 'CN=NSS Test CA serial 28' '$TMP/err'"

cdec alt "$TB/browser-smime-data/multipart-alternative.eml"
check "Thunderbird: encrypted parts inside multipart/alternative (exfiltration test) are not opened (exit 2)" \
	eval "refused alt 2 'not encrypted' && ! grep -q SECRET-TEXT '$TMP/out'"

# openssl-made RSA-OAEP and ECDH P-384 messages to Fran: their content is bare
# text, no MIME header ("This is a test message to Fran.")
for f in fran-oaep-sha256hash_ossl fran-oaep-sha256hash-sha256mgf_ossl fran-ec_ossl-aes256-sha512; do
	cdec $f "$TB/smime-interop/$f.env"
	check "Thunderbird interop: $f opens with Fran's key on the token" \
		opened $f 'This is a test message to Fran.'
done

run --module "$MODULE" --pin-source "$CPIN" decrypt --token pkcs11:token=others -o "$TMP/oth.dec" \
	"$TB/smime/alice.dsig.SHA256.multipart.env.eml"
check "Thunderbird: Alice's, Dave's and Eve's keys cannot open Alice's mail to Bob: exit 1, naming Bob's certificate" \
	eval "refused oth 1 'no key on the tokens' && err_one_line && grep -q 'CN=NSS Test CA (RSA) serial' '$TMP/err'"

# ---- LAMPS header-protection samples: 3DES to Bob Babbage and Alice ----
ACA=(--anchors "$AC/sample-ca.pem" --at "$AC_AT")
# same_body A B: the bodies (after the first empty line) are the same, line ends aside
same_body() { cmp -s <(sed '1,/^\r\?$/d' "$1" | tr -d '\r') <(sed '1,/^\r\?$/d' "$2" | tr -d '\r'); }
# same_text A B: verify said yes (exit 0) and A is B, line ends aside
same_text() { [ "$RC" -eq 0 ] && cmp -s <(tr -d '\r' <"$1") <(tr -d '\r' <"$2"); }
for m in smime-sign+enc smime-sign+enc+legacy-disp; do
	cdec "$m" "$AC/$m.eml" "${ACA[@]}"
	check "LAMPS: $m opens with Bob Babbage's key (3DES: a legacy warning), Alice's signature inside is GOOD" \
		sh -c "[ $RC -eq 0 ] && grep -q 'signature OK' '$TMP/err' && grep -q 'alice@smime.example' '$TMP/err' && grep -qi legacy '$TMP/err'"
	check "...what is written has the body of $m.inner.inner (what Alice signed)" \
		same_body "$TMP/$m.dec" "$AC/$m.inner.inner"
	cdec "$m" "$AC/$m.eml" "${ACA[@]}" --keep-signed
	check "...with --keep-signed the decrypted body is $m.inner" same_body "$TMP/$m.dec" "$AC/$m.inner"
	run verify "${ACA[@]}" -o "$TMP/$m.content" "$TMP/$m.dec"
	check "...and what Alice signed is $m.inner.inner" same_text "$TMP/$m.content" "$AC/$m.inner.inner"
done
m=smime-enc+legacy-disp
cdec "$m" "$AC/$m.eml" "${ACA[@]}"
check "LAMPS: $m (no signature) opens; the body is $m.inner" \
	eval "[ $RC -eq 0 ] && ! grep -q 'signature OK\|signature NOT' '$TMP/err' && same_body '$TMP/$m.dec' '$AC/$m.inner'"
one_subject() { # the output has one Subject: (RFC 5322 3.6), the protected one
	local h
	h=$(sed -n '1,/^$/p' "$TMP/$m.dec")
	[ "$(grep -c '^Subject:' <<<"$h")" -eq 1 ] && grep -qF "Subject: BarCorp contract signed, let's go!" <<<"$h"
}
check "...with one Subject:, the protected one from inside" \
	one_subject

# ---- KMail (KDE mimetreeparser): the unittest cert, self-signed (CA:TRUE), RSA-1024, expired 2013 ----
for f in "$KDE"/testdata/smime-*.mbox; do
	sed '1{/^From /d}' "$f" >"$TMP/$(basename "$f" .mbox).eml"
done
KKEY=(--key "pkcs11:token=corpus;id=%15;type=private")
KA=(--anchors "$KDE/_derived/unittest-cert.selfsigned.cert.pem")
FOX='The quick brown fox jumped over the lazy dog.'
cdec kenc "$TMP/smime-encrypted.eml"
check "KMail: smime-encrypted: decrypt finds the key by itself" \
	opened kenc "$FOX"
cdec kenc "$TMP/smime-encrypted.eml" "${KKEY[@]}"
check "KMail: smime-encrypted (3DES) opens with --key" opened kenc "$FOX"
cdec koct "$TMP/smime-encrypted-octet-stream.eml" "${KKEY[@]}"
check "KMail: application/octet-stream named smime.p7m is S/MIME too (as KMail and Outlook read it)" \
	opened koct "$FOX"
for m in smime-opaque-enc+sign smime-signed-encrypted smime-opaque-signed-encrypted-attachment; do
	cdec "$m" "$TMP/$m.eml" "${KKEY[@]}" "${KA[@]}" --allow-weak --at "$KDE_EXPIRED_AT"
	check "KMail: $m opens, but its signer's certificate (left out of the message, found among the anchors) has expired: exit 1, nothing written" \
		refused "$m" 1 "expired"
done
# the signer's certificate known beforehand (in the store and trusted), as of the signing day
run certs trust "$KDE/_derived/unittest-cert.selfsigned.cert.pem"
cdec kos "$TMP/smime-opaque-enc+sign.eml" "${KKEY[@]}" --allow-weak --at 2013-01-11T00:00:00Z
check "KMail: smime-opaque-enc+sign, signer known from the store, as of 2013-01-11: GOOD" \
	signed_by kos test@example.com
cdec kse "$TMP/smime-signed-encrypted.eml" "${KKEY[@]}" --allow-weak --at 2010-09-09T00:00:00Z
check "KMail: smime-signed-encrypted, signer known from the store, as of 2010-09-09: GOOD" \
	signed_by kse test@example.com
for m in smime-encrypted-ambiguous-mime smime-encrypted-not-so-ambiguous-mime; do
	cdec "$m" "$TMP/$m.eml" "${KKEY[@]}"
	check "KMail: $m: an encrypted part inside multipart/mixed is not opened (exit 2; a mail viewer may show it)" \
		refused "$m" 2 "not encrypted"
done
{ printf 'From: a@example.org\nTo: b@example.org\nSubject: g10\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n'
  printf 'Content-Transfer-Encoding: base64\n\n'; openssl base64 -in "$KDE/testdata/smime.p7m"; } >"$TMP/g10.eml"
cdec g10 "$TMP/g10.eml"
check "KMail: smime.p7m for two g10 Code people: exit 1, naming both" \
	eval "refused g10 1 'no key on the tokens' && err_one_line && [ \$(grep -o 'Root-CA 2020 serial' '$TMP/err' | wc -l) -eq 2 ]"

# ---- OpenSSL's test data ----
cdec o111 "$C/openssl/80-test_cms_data/ciphertext_from_1_1_1.cms"
check "OpenSSL: ciphertext_from_1_1_1 (ECDH P-256 to smec3, 3DES) opens to smcont.txt" \
	opened o111 "$(head -1 "$C/openssl/test/smcont.txt")"
{ printf 'From: a@example.org\nTo: b@example.org\nSubject: md4\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n'
  printf 'Content-Transfer-Encoding: base64\n\n'
  openssl pkcs7 -in "$C/openssl/80-test_cms_data/pkcs7-md4-encrypted.pem" -outform DER | openssl base64; } >"$TMP/md4.eml"
cdec md4 "$TMP/md4.eml"
check "OpenSSL: pkcs7-md4-encrypted (PKCS#7 signedAndEnvelopedData) is refused cleanly (exit 2, one line)" \
	eval "refused md4 2 EnvelopedData && err_one_line"

# ---- RFC 9216 CMS examples (draft-ireland-examples-cms): raw CMS, content "This is some sample content." ----
r9() { # NAME: the DER object as a message
	{ printf 'From: Alice <alice@smime.example>\nTo: bob@smime.example\nSubject: %s\n' "$1"
	  printf 'Content-Type: application/pkcs7-mime; smime-type=%s; name=smime.p7m\nContent-Transfer-Encoding: base64\n\n' \
		"$([ "${1#auth}" = "$1" ] && echo enveloped-data || echo authEnveloped-data)"
	  openssl base64 -in "$R9/binary-files/$1.p7m"; } >"$TMP/$1.eml"
	cdec "$1" "$TMP/$1.eml"
}
SAMPLE='This is some sample content.'
r9 encryptedForBobRSAOaep
check "RFC 9216: encryptedForBobRSAOaep (RSA-OAEP, AES-128-CBC) opens with Bob's key" \
	opened encryptedForBobRSAOaep "$SAMPLE"
r9 encryptedForBobAndDana
check "RFC 9216: encryptedForBobAndDana opens with Bob's key (OAEP; Dana's is X25519)" \
	opened encryptedForBobAndDana "$SAMPLE"
r9 authEnvelopedForBobChaCha20Poly1305
check "RFC 9216: authEnvelopedForBobChaCha20Poly1305 (RFC 8103): ChaCha20-Poly1305 is not supported: exit 2, one line saying so" \
	eval "refused authEnvelopedForBobChaCha20Poly1305 2 'does not support' && err_one_line"
ok "RFC 9216: authEnvelopedForDanaX25519HKDF # SKIP SoftHSM 2.6.1 keeps an X25519 key only as CKK_EC_EDWARDS (no derive); pkcs11-tool cannot write one"
r9 encryptedKekri
check "RFC 9216: encryptedKekri (a KEK only the draft's text gives) is for no key here: exit 1" \
	refused encryptedKekri 1 "no key on the tokens"
done_testing
