#!/bin/bash
# The CMS signing engine on token keys (RSA PKCS#1 v1.5, RSA-PSS, ECDSA
# P-256/P-384, an always-authenticate key), detached and opaque, checked by
# openssl cms; a tampered content and a key that cannot sign fail.
. "$top_srcdir/tests/integration/lib.sh"
plan 14
fixtures
cat "$PKI/chain.pem" >"$TMP/cas.pem"
head -c 300000 /dev/urandom | base64 >"$TMP/content"

osl_verify() { # sig [content]
	if [ $# -eq 2 ]; then
		openssl cms -verify -binary -inform DER -in "$1" -content "$2" -CAfile "$TMP/cas.pem" \
			-purpose smimesign -out /dev/null >/dev/null 2>&1
	else
		openssl cms -verify -binary -inform DER -in "$1" -CAfile "$TMP/cas.pem" \
			-purpose smimesign -out "$TMP/opaque.out" >/dev/null 2>&1 && cmp -s "$TMP/opaque.out" "$TMP/content"
	fi
}

sign() { # name key-uri pin extra...
	local name=$1 key=$2 pin=$3
	shift 3
	RC=0
	"$KEYTEST" --module "$MODULE" --pin-source "$pin" --cms "$TMP/content" --out "$TMP/$name.der" \
		"$@" "$key" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

for spec in "alice|pkcs11:token=p11smime-user;object=alice|$USER_PIN|RSA-2048" \
            "carol|pkcs11:token=p11smime-user;object=carol|$USER_PIN|EC P-256" \
            "dave|pkcs11:token=p11smime-user;object=dave|$USER_PIN|EC P-384" \
            "pat|pkcs11:token=p11smime-piv;id=%02;type=private|$PIV_PIN|always-authenticate RSA"; do
	IFS='|' read -r name key pin what <<<"$spec"
	sign "$name" "$key" "$pin"
	check "$what: detached signature verifies with openssl cms" sh -c "[ $RC -eq 0 ] && $(declare -f osl_verify); TMP='$TMP' osl_verify '$TMP/$name.der' '$TMP/content'"
	sign "$name-opaque" "$key" "$pin" --opaque
	check "$what: opaque signature verifies and carries the content" sh -c "[ $RC -eq 0 ] && $(declare -f osl_verify); TMP='$TMP' osl_verify '$TMP/$name-opaque.der'"
done

sign alice-pss "pkcs11:token=p11smime-user;object=alice" "$USER_PIN" --pss
check "RSA-PSS signature verifies with openssl cms" osl_verify "$TMP/alice-pss.der" "$TMP/content"
check "...and uses RSASSA-PSS" sh -c "openssl cms -cmsout -print -inform DER -in '$TMP/alice-pss.der' | grep -q rsassaPss"
check "signed attributes include SMIMECapabilities and signingCertificateV2" sh -c "
	openssl cms -cmsout -print -inform DER -in '$TMP/alice.der' >'$TMP/print' &&
	grep -q 'S/MIME Capabilities' '$TMP/print' && grep -q 'signingCertificateV2' '$TMP/print' &&
	grep -q 'signingTime' '$TMP/print'"
check "P-384 signs with SHA-384 by default" sh -c "openssl cms -cmsout -print -inform DER -in '$TMP/dave.der' | grep -q 'sha384'"

printf 'x' >>"$TMP/content"
check "a tampered content fails verification" sh -c "! ( $(declare -f osl_verify); TMP='$TMP' osl_verify '$TMP/alice.der' '$TMP/content' )"
sign km "pkcs11:token=p11smime-piv;id=%03;type=private" "$PIV_PIN"
check "a decrypt-only key refuses to sign" test "$RC" -ne 0
done_testing
