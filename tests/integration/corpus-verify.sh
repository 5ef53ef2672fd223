#!/bin/bash
# Signed messages made by other programs (../shared/corpus: Thunderbird/NSS,
# MimeKit's real Thunderbird mail, OpenSSL's regression cases) verify or
# fail exactly as their SOURCE.md says.
. "$top_srcdir/tests/integration/lib.sh"
C=${P11SMIME_CORPUS:-$top_srcdir/../shared/corpus}
if [ ! -d "$C/thunderbird" ]; then
	# the corpus lives beside the project; without it there is nothing to run
	echo "1..0 # SKIP corpus not found at $C"
	exit 0
fi
plan 31
# Every message is judged as of a time inside its certificates' validity
# (each folder's SOURCE.md), never the day the test runs: the outcome is
# the same in any year.
TB=$C/thunderbird
# Thunderbird's test certificates: 2026-01-26 .. 2031-01-26
TB_AT=2026-06-01T00:00:00Z
cat "$TB/smime/TestCA.pem" "$TB/_derived/NSS-Test-CA-ECC.cert.pem" >"$TMP/tbca.pem"

expect() { # rc description file [options...]
	local want=$1 desc=$2 f=$3
	shift 3
	run verify --anchors "$TMP/tbca.pem" --at "$TB_AT" "$@" -o "$TMP/content" "$f"
	check "$desc" rc_is "$want"
}

for h in SHA256 SHA512; do
	expect 0 "Thunderbird: Alice multipart/signed $h is GOOD" "$TB/smime/alice.dsig.$h.multipart.eml"
	check "...and the content is the test message" grep -q 'This is a test message from Alice to Bob.' "$TMP/content"
done
for h in SHA256 SHA384 SHA512; do
	expect 0 "Thunderbird: Alice opaque signed-data $h is GOOD" "$TB/smime/alice.sig.$h.opaque.eml"
	expect 0 "Thunderbird: Alice HTML opaque $h is GOOD" "$TB/smime/alice.html.sig.$h.opaque.eml"
done
for h in SHA384; do
	expect 1 "Thunderbird: .bad ($h, text changed after signing) is BAD" "$TB/smime/alice.dsig.$h.multipart.bad.eml"
done
for h in SHA384 SHA512; do
	expect 1 "Thunderbird: mismatching eContent ($h) is BAD" "$TB/smime/alice.dsig.$h.multipart.mismatch-econtent.eml"
done
expect 1 "Thunderbird: SHA-1 multipart is BAD by default" "$TB/smime/alice.dsig.SHA1.multipart.eml"
check "...because of SHA-1" err_has "SHA-1"
expect 0 "Thunderbird: SHA-1 multipart is GOOD with --allow-weak" "$TB/smime/alice.dsig.SHA1.multipart.eml" --allow-weak
expect 0 "Thunderbird: SHA-1 opaque is GOOD with --allow-weak" "$TB/smime/alice.sig.SHA1.opaque.eml" --allow-weak
expect 1 "Thunderbird: SHA-1 .bad stays BAD with --allow-weak" "$TB/smime/alice.dsig.SHA1.multipart.bad.eml" --allow-weak
expect 1 "Thunderbird: outer signature over the LF-only part (NSS bug) is BAD" "$TB/smime/alice.env.dsig.SHA256.multipart.eml"
expect 0 "Thunderbird: Dave's outer opaque signature over Alice's is GOOD" "$TB/smime/alice.plain.sig.SHA384.opaque.dave.sig.SHA384.opaque.eml"
expect 0 "Thunderbird: Dave's outer detached signature over Alice's is GOOD" "$TB/smime/alice.plain.dsig.SHA512.multipart.dave.dsig.SHA512.multipart.eml"
check "...and the nested signed layer is reported" err_has "nested:      the signed content is itself multipart/signed"
# the inner layer has no From: of its own (Dave sent it): checked without
run verify --anchors "$TMP/tbca.pem" --at "$TB_AT" -o "$TMP/inner" "$TMP/content"
check "...the inner layer alone has no From: to check its signer against: exit 1, saying so" \
	sh -c "[ $RC -eq 1 ] && grep -q 'no From: address' '$TMP/err'"
run verify --anchors "$TMP/tbca.pem" --at "$TB_AT" --no-from-check -o "$TMP/content" "$TMP/content"
check "...and the inner layer (Alice) verifies from the content written" sh -c "[ $RC -eq 0 ] && grep -qi 'alice@example.com' '$TMP/err'"
expect 1 "Thunderbird: a signer from another CA generation is untrusted" "$TB/browser-smime-data/alice.html.sig.SHA256.opaque.eml"
check "...and says so" err_has "chain is not valid"
expect 2 "Thunderbird: an enveloped message is not a signed one" "$TB/smime/alice.dsig.SHA256.multipart.env.eml"

MK=$C/mimekit
run verify --anchors "$MK/StartComCertificationAuthority.crt" --allow-weak --at 2014-01-01T00:00:00Z \
	-o "$TMP/content" "$MK/thunderbird-signed.txt"
check "MimeKit: a real Thunderbird 24 mail (SHA-1, multipart/mixed with a JPEG) verifies as of 2014" rc_is 0
# the signer's certificate: 2013-10-31 .. 2014-11-01
run verify --anchors "$MK/StartComCertificationAuthority.crt" --allow-weak --at 2015-06-01T00:00:00Z \
	-o "$TMP/content" "$MK/thunderbird-signed.txt"
check "MimeKit: ...and its chain, expired since, fails as of 2015" sh -c "[ $RC -eq 1 ] && grep -q expired '$TMP/err'"

OS=$C/openssl
# PoC Signer: 2026-05-08 .. 2027-05-08; the PKITS certificates: 2010 .. 2030
run verify --anchors "$OS/test-certs/pkitsta.pem" --at 2026-06-01T00:00:00Z -o "$TMP/content" \
	"$OS/smime-eml/pkcs7-empty-digest-set.eml"
check "OpenSSL: an empty digest set is rejected without a crash" rc_is 1
run verify --anchors "$OS/test-certs/pkitsta.pem" --at 2020-01-01T00:00:00Z -o "$TMP/content" \
	"$OS/smime-eml/SignedInvalidMappingFromanyPolicyTest7.eml"
check "OpenSSL: the PKITS message is checked (its From: is not in the certificate)" sh -c "[ $RC -eq 1 ] && grep -q 'From:' '$TMP/err'"
done_testing
