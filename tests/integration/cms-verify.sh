#!/bin/bash
# The streaming CMS verifier: token and openssl signatures verify; tampered
# content, wrong micalg, untrusted or expired signers, SHA-1, MD5, another
# From: and garbage each fail with a clear reason.
. "$top_srcdir/tests/integration/lib.sh"
plan 16
fixtures
V=$top_builddir/tests/tools/psm-cmsverify
head -c 200000 /dev/urandom | base64 >"$TMP/content"
osign() { # name md [extra...]
	local name=$1 md=$2
	shift 2
	openssl cms -sign -binary -in "$TMP/content" -signer "$PKI/$name.cert.pem" \
		-inkey "$PKI/$name.key.pem" -certfile "$PKI/intermediate-ca.cert.pem" \
		-outform DER -out "$TMP/$name-$md.der" -md "$md" "$@" 2>/dev/null
}
verify() { run_cmd "$V" --anchors "$PKI/anchors.pem" --content "$TMP/content" "$@"; }

"$KEYTEST" --module "$MODULE" --pin-source "$PIV_PIN" --cms "$TMP/content" --out "$TMP/pat.der" \
	"pkcs11:token=p11smime-piv;id=%02;type=private" >/dev/null 2>&1
cp "$PKI/chain.pem" "$TMP/untrusted-plus-root.pem"
run_cmd "$V" --anchors "$TMP/untrusted-plus-root.pem" --content "$TMP/content" --sig "$TMP/pat.der" --micalg sha-256 --from pat@example.org
check "a token signature verifies, From: matching" rc_is 0

osign alice sha256
verify --sig "$TMP/alice-sha256.der" --micalg sha-256 --from alice@example.org
check "an openssl signature verifies through the chain it carries" rc_is 0
check "...and names the anchor" out_has "anchor: CN=p11smime Test Root CA"
osign carol sha256
verify --sig "$TMP/carol-sha256.der" --from carol@example.org
check "an ECDSA P-256 openssl signature verifies" rc_is 0

verify --sig "$TMP/alice-sha256.der" --micalg sha-512
check "a wrong micalg fails" sh -c "[ $RC -eq 1 ] && grep -q micalg '$TMP/err'"
verify --sig "$TMP/alice-sha256.der" --from carol@example.org
check "From: of someone else fails" sh -c "[ $RC -eq 1 ] && grep -q 'From: carol@example.org' '$TMP/err'"

osign mallory sha256
verify --sig "$TMP/mallory-sha256.der"
check "a signer from an untrusted CA fails" sh -c "[ $RC -eq 1 ] && grep -q 'trusted anchor' '$TMP/err'"
osign eve sha256
verify --sig "$TMP/eve-sha256.der"
check "an expired signer fails" sh -c "[ $RC -eq 1 ] && grep -q 'expired' '$TMP/err'"
verify --sig "$TMP/eve-sha256.der" --at "$P11SMIME_TEST_OLD_AT" --from eve@example.org
check "...but verifies as of a time inside its validity (--at)" rc_is 0

osign alice sha1
verify --sig "$TMP/alice-sha1.der"
check "SHA-1 fails without --allow-weak" sh -c "[ $RC -eq 1 ] && grep -q 'SHA-1' '$TMP/err'"
verify --sig "$TMP/alice-sha1.der" --allow-weak --from alice@example.org
check "SHA-1 verifies with --allow-weak" rc_is 0

head -c 3000 /dev/urandom >"$TMP/garbage.der"
verify --sig "$TMP/garbage.der"
check "garbage instead of a signature is malformed input (2)" rc_is 2

cp "$TMP/content" "$TMP/orig"; printf 'tampered' >>"$TMP/content"
verify --sig "$TMP/alice-sha256.der"
check "tampered content fails" sh -c "[ $RC -eq 1 ] && grep -q 'changed after signing' '$TMP/err'"
cp "$TMP/orig" "$TMP/content"
osign alice sha256 -noattr
verify --sig "$TMP/alice-sha256.der" --from alice@example.org
check "a signature without signed attributes verifies" rc_is 0
verify --sig "$TMP/alice-sha256.der"
check "no From: address and no --no-from-check: fails, saying the sender was not checked" \
	sh -c "[ $RC -eq 1 ] && grep -q 'no From: address' '$TMP/err'"
verify --sig "$TMP/alice-sha256.der" --no-from-check
check "...and verifies when the caller checks the address itself (--no-from-check)" rc_is 0
done_testing
