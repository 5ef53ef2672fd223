#!/bin/bash
# The chain a signature carries, so that its recipients can check it: sign
# completes it as verify would (the token's CA certificates, --certfile,
# the user's store, the caIssuers URL of AIA) and never sends the root or a
# certificate off the signer's path; when nothing has the issuer, one
# warning line names it (the signature is made), and --require-chain
# refuses. Each result is judged by openssl cms -verify with the root as
# its only anchor, as a recipient who never met the intermediate would.
. "$top_srcdir/tests/integration/lib.sh"
plan 21
fixtures
R=$TMP/ca
W=$R/www
mkdir -p "$W"
ROOT=$PKI/root-ca.cert.pem
A="--anchors $ROOT"

# sig NAME PIN ARGS...: p11smime sign $TMP/NAME.eml -> $TMP/NAME.signed
sig() {
	local name=$1 pin=$2
	shift 2
	rm -f "$TMP/$name.signed"
	run --module "$MODULE" --pin-source "$pin" sign "$@" -o "$TMP/$name.signed" "$TMP/$name.eml"
}
msg() { printf 'From: %s\nTo: bob@example.org\nSubject: chain\n\nhello from %s\n' "$2" "$2" >"$TMP/$1.eml"; }
# recipient_checks NAME: openssl, with only the root, accepts the signature
recipient_checks() {
	openssl cms -verify -in "$TMP/$1.signed" -CAfile "$ROOT" -purpose smimesign -out /dev/null \
		>/dev/null 2>"$TMP/ossl.err"
}
# carries NAME: the subjects of the certificates in the signature, one a line
carries() {
	python3 "$top_srcdir/tests/integration/smime_tool.py" split "$TMP/$1.signed" "$TMP/$1.c" \
		"$TMP/$1.p7s" &&
		openssl pkcs7 -inform DER -in "$TMP/$1.p7s" -print_certs -noout 2>/dev/null | sed -n 's/^subject=//p'
}

# ---- on the token: Alice's intermediate is there ----
msg alice alice@example.org
sig alice "$USER_PIN" $A
check "the intermediate on the token: signed (exit 0), no warning" sh -c "[ $RC -eq 0 ] && ! grep -qi warning '$TMP/err'"
check "...and openssl, knowing only the root, accepts it" recipient_checks alice
carries_int_only() { # NAME: the intermediate is sent; neither the root nor mallory
	local c
	c=$(carries "$1") && echo "$c" | grep -q 'Intermediate CA' && ! echo "$c" | grep -q 'Root CA' &&
		! echo "$c" | grep -qi mallory
}
check "...the signature carries the intermediate, not the root" carries_int_only alice

# ---- nowhere: a PIV card holds only its own certificate ----
msg pat pat@example.org
sig pat "$PIV_PIN" $A
check "the intermediate nowhere: signed anyway (exit 0)" sh -c "[ $RC -eq 0 ] && [ -s '$TMP/pat.signed' ]"
check "...with one warning line naming the missing issuer and what to do" \
	sh -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -q 'warning: the certificate of CN=p11smime Test Intermediate CA' '$TMP/err' && grep -q 'certs import' '$TMP/err' && grep -q -- '--certfile' '$TMP/err'"
check "...and indeed openssl with only the root cannot check it" \
	sh -c "! openssl cms -verify -in '$TMP/pat.signed' -CAfile '$ROOT' -purpose smimesign -out /dev/null 2>'$TMP/ossl.err' && grep -q 'unable to get local issuer' '$TMP/ossl.err'"
sig pat "$PIV_PIN" $A --require-chain
check "--require-chain: refused (exit 1), one line, nothing written" \
	sh -c "[ $RC -eq 1 ] && [ \$(wc -l <'$TMP/err') -eq 1 ] && grep -q 'require-chain' '$TMP/err' && [ ! -e '$TMP/pat.signed' ]"

# ---- in the user's store ----
run certs import "$PKI/intermediate-ca.cert.pem"
sig pat "$PIV_PIN" $A --require-chain
check "the intermediate in the store: signed, no warning, even with --require-chain" \
	sh -c "[ $RC -eq 0 ] && ! grep -qi warning '$TMP/err'"
check "...and openssl with only the root accepts it" recipient_checks pat
run certs remove "$(openssl x509 -in "$PKI/intermediate-ca.cert.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)"

# ---- --certfile, with a certificate off the path ----
sig pat "$PIV_PIN" $A --certfile "$PKI/intermediate-ca.cert.pem" --certfile "$PKI/mallory.cert.pem"
check "--certfile with the intermediate and another certificate: signed, no warning" \
	sh -c "[ $RC -eq 0 ] && ! grep -qi warning '$TMP/err'"
check "...only the intermediate is sent, not the certificate off the path" carries_int_only pat
check "...and openssl with only the root accepts it" recipient_checks pat

# ---- by AIA: Ada's certificate names her issuer's URL; the card holds only hers ----
http_server "$W" "$R"
U=http://127.0.0.1:$H
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' >"$R/ca.ext"
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$R/root.key" -subj "/CN=Chain Root" -days 30 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	-out "$R/root.crt" 2>>"$R/ca.log"
openssl req -new -newkey rsa:2048 -nodes -keyout "$R/int.key" -subj "/CN=Chain Intermediate" \
	-out "$R/int.csr" 2>>"$R/ca.log"
openssl x509 -req -in "$R/int.csr" -CA "$R/root.crt" -CAkey "$R/root.key" -set_serial 2 -days 30 \
	-extfile "$R/ca.ext" -out "$R/int.crt" 2>>"$R/ca.log"
printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n' >"$R/ada.ext"
printf 'subjectAltName=email:ada@example.org\nauthorityInfoAccess=caIssuers;URI:%s/int.der\n' "$U" >>"$R/ada.ext"
openssl req -new -newkey rsa:2048 -nodes -keyout "$R/ada.key" -subj "/CN=Ada/emailAddress=ada@example.org" \
	-out "$R/ada.csr" 2>>"$R/ca.log"
openssl x509 -req -in "$R/ada.csr" -CA "$R/int.crt" -CAkey "$R/int.key" -set_serial 3 -days 30 \
	-extfile "$R/ada.ext" -out "$R/ada.crt" 2>>"$R/ca.log"
openssl x509 -in "$R/int.crt" -outform DER -out "$W/int.der"
printf 'pw\n' >"$R/pass"
chmod 600 "$R/pass"
openssl pkcs12 -export -in "$R/ada.crt" -inkey "$R/ada.key" -name ada -passout pass:pw \
	-out "$R/ada.p12" 2>>"$R/ca.log"
run --module "$MODULE" --pin-source "$USER_PIN" import-p12 "$R/ada.p12" --token "pkcs11:token=p11smime-user" \
	--label ada --pass-source "file:$R/pass"
[ "$RC" -eq 0 ] || { echo "Bail out! import-p12 of ada failed"; diag <"$TMP/err"; exit 1; }
ADA="pkcs11:token=p11smime-user;object=ada;type=private"
msg ada ada@example.org
sig ada "$USER_PIN" --anchors "$R/root.crt" --no-aia --key "$ADA"
check "Ada, --no-aia: signed with the warning, nothing fetched" \
	sh -c "[ $RC -eq 0 ] && grep -q 'warning: the certificate of CN=Chain Intermediate' '$TMP/err' && ! grep -q 'GET /int.der' '$R/http.log'"
sig ada "$USER_PIN" --anchors "$R/root.crt" --key "$ADA"
check "Ada: the intermediate is fetched from her caIssuers URL: signed, no warning" \
	sh -c "[ $RC -eq 0 ] && ! grep -qi warning '$TMP/err' && grep -q 'GET /int.der' '$R/http.log'"
check "...and openssl with only the root accepts it" \
	sh -c "openssl cms -verify -in '$TMP/ada.signed' -CAfile '$R/root.crt' -purpose smimesign -out /dev/null 2>/dev/null"
check "...the fetched intermediate is cached like verify's" \
	sh -c "[ -n \"\$(ls '$P11SMIME_HOME/aia' 2>/dev/null)\" ]"
http_server_stop
sig ada "$USER_PIN" --anchors "$R/root.crt" --key "$ADA"
check "Ada, server gone: the cached intermediate still completes it (no warning)" \
	sh -c "[ $RC -eq 0 ] && ! grep -qi warning '$TMP/err'"
rm -rf "$P11SMIME_HOME/aia"
sig ada "$USER_PIN" --anchors "$R/root.crt" --key "$ADA"
check "Ada, server gone, no cache: signed, the warning names the URL and why it failed" \
	sh -c "[ $RC -eq 0 ] && grep -q 'warning: the certificate of CN=Chain Intermediate' '$TMP/err' && grep -q '$U/int.der' '$TMP/err'"

# ---- sign-encrypt completes the chain the same way ----
run --module "$MODULE" --pin-source "$PIV_PIN" sign-encrypt $A --to bob@example.org \
	-o "$TMP/se.p7m" "$TMP/pat.eml"
check "sign-encrypt for pat with the intermediate nowhere: the same warning (exit 0)" \
	sh -c "[ $RC -eq 0 ] && grep -q 'warning: the certificate of CN=p11smime Test Intermediate CA' '$TMP/err'"
run --module "$MODULE" --pin-source "$PIV_PIN" sign-encrypt $A --require-chain --to bob@example.org \
	-o "$TMP/se2.p7m" "$TMP/pat.eml"
check "sign-encrypt --require-chain: refused (exit 1), nothing written" \
	sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/se2.p7m' ]"
check "the warning and the refusal never happen for a complete chain (alice)" \
	sh -c "'$P11SMIME' --module '$MODULE' --pin-source '$USER_PIN' sign $A --require-chain -o '$TMP/a2.signed' '$TMP/alice.eml' 2>'$TMP/err' && ! grep -qi warning '$TMP/err'"
done_testing
