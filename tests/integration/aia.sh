#!/bin/bash
# Chains completed from AIA caIssuers: a root -> intermediate -> user PKI of
# our own in $TMP (the test PKI's intermediate is on the tokens, which would
# complete the chain without any fetch), users whose certificates name their
# issuer at URLs of a real HTTP server on loopback (DER, PKCS#7 "p7c", PEM, a
# wrong certificate, an impostor with the issuer's name, a second level),
# messages signed with only the signer's certificate. verify, inspect,
# decrypt and encrypt then fetch the issuer, keep it in
# $P11SMIME_HOME/aia, use the cache with the server gone, and say which URL
# failed when a fetch does not help.
. "$top_srcdir/tests/integration/lib.sh"
plan 33
fixtures
R=$TMP/aia
W=$R/www
mkdir -p "$W"

rc_err() { # CODE PATTERN...: exit code CODE and every (basic regex) PATTERN on stderr
	local code=$1 pat
	shift
	rc_is "$code" || return 1
	for pat in "$@"; do grep -q -- "$pat" "$TMP/err" || return 1; done
}
gets() { grep -c "GET $1\$" "$R/http.log"; }
CACHE=$P11SMIME_HOME/aia
cache_file() { printf '%s/%s.der' "$CACHE" "$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"; }

# ---- the HTTP server (it picks its port) ----
http_server "$W" "$R"
U=http://127.0.0.1:$H

# ---- the PKI: EC CAs (quick to make), RSA users ----
ca_ext() { # [AIA URL]
	printf 'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n'
	printf 'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n'
	[ -z "${1:-}" ] || printf 'authorityInfoAccess = caIssuers;URI:%s\n' "$1"
}
user_ext() { # email AIA-URL
	printf 'basicConstraints = critical, CA:FALSE\n'
	printf 'keyUsage = critical, digitalSignature, keyEncipherment\n'
	printf 'extendedKeyUsage = emailProtection\nsubjectAltName = email:%s\n' "$1"
	printf 'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n'
	printf 'authorityInfoAccess = caIssuers;URI:%s\n' "$2"
}
# issue NAME SUBJECT ISSUER KEYALG EXTFILE: $R/NAME.{key,cert}.pem
issue() {
	openssl req -new -newkey "$4" -nodes -keyout "$R/$1.key.pem" -out "$R/$1.csr" \
		-subj "$2" 2>>"$R/ca.log" &&
	openssl x509 -req -in "$R/$1.csr" -CA "$R/$3.cert.pem" -CAkey "$R/$3.key.pem" \
		-set_serial "0x$(openssl rand -hex 8)" -days 60 -sha256 -extfile "$5" \
		-out "$R/$1.cert.pem" 2>>"$R/ca.log"
}
openssl ecparam -name prime256v1 -out "$R/ec.param" 2>>"$R/ca.log"
EC=ec:$R/ec.param
{ printf '[req]\ndistinguished_name = dn\nx509_extensions = v3\n[dn]\n[v3]\n'; ca_ext; } >"$R/root.cnf"
openssl req -x509 -new -newkey "$EC" -nodes -keyout "$R/root.key.pem" -out "$R/root.cert.pem" \
	-days 60 -subj "/O=p11smime AIA Test/CN=AIA Root" -config "$R/root.cnf" 2>>"$R/ca.log"
ca_ext >"$R/int.ext"
issue int "/O=p11smime AIA Test/CN=AIA Intermediate" root "$EC" "$R/int.ext"
# a second level under the intermediate, which names the intermediate's URL
ca_ext "$U/int.der" >"$R/sub.ext"
issue sub "/O=p11smime AIA Test/CN=AIA Sub CA" int "$EC" "$R/sub.ext"
# an impostor: the intermediate's name, another key
openssl req -x509 -new -newkey "$EC" -nodes -keyout "$R/imp.key.pem" -out "$R/imp.cert.pem" \
	-days 60 -subj "/O=p11smime AIA Test/CN=AIA Intermediate" -config "$R/root.cnf" 2>>"$R/ca.log"
for u in uma:int.der:int pia:int.p7c:int pem:int.pem:int wes:wrong.der:int ivy:imp.der:int \
	sam:sub.der:sub dora:gone.der:int nat:missing.der:int lou:ldap:int; do
	IFS=: read -r name path ca <<<"$u"
	url=$U/$path
	[ "$path" != ldap ] || url="ldap://127.0.0.1/cn=AIA%20Intermediate?cACertificate"
	user_ext "$name@example.org" "$url" >"$R/$name.ext"
	issue "$name" "/CN=$name/emailAddress=$name@example.org" "$ca" rsa:2048 "$R/$name.ext" ||
		{ echo "Bail out! cannot issue $name"; diag <"$R/ca.log"; exit 1; }
done
openssl x509 -in "$R/int.cert.pem" -outform DER -out "$W/int.der"
openssl crl2pkcs7 -nocrl -certfile "$R/int.cert.pem" -certfile "$R/root.cert.pem" -outform DER \
	-out "$W/int.p7c" 2>>"$R/ca.log"
cp "$R/int.cert.pem" "$W/int.pem"
openssl x509 -in "$R/root.cert.pem" -outform DER -out "$W/wrong.der"
openssl x509 -in "$R/imp.cert.pem" -outform DER -out "$W/imp.der"
openssl x509 -in "$R/sub.cert.pem" -outform DER -out "$W/sub.der"
[ -s "$W/int.p7c" ] && [ -s "$W/sub.der" ] && [ -s "$R/dora.cert.pem" ] ||
	{ echo "Bail out! cannot make the AIA PKI"; diag <"$R/ca.log"; exit 1; }
# the intermediate is nowhere but at its URL
openssl verify -CAfile "$R/root.cert.pem" "$R/uma.cert.pem" >/dev/null 2>&1 &&
	{ echo "Bail out! uma verifies without her issuer"; exit 1; }

# ---- messages signed with only the signer's certificate in them ----
for u in uma pia pem wes ivy sam dora nat lou; do
	printf 'From: %s@example.org\nTo: bob@example.org\nSubject: hi\n\nHello from %s.\n' "$u" "$u" \
		>"$R/$u.eml"
	openssl cms -sign -in "$R/$u.eml" -signer "$R/$u.cert.pem" -inkey "$R/$u.key.pem" \
		-from "$u@example.org" -out "$R/$u.signed" 2>>"$R/ca.log" ||
		{ echo "Bail out! cannot sign as $u"; exit 1; }
done
A=(--anchors "$R/root.cert.pem")
ver() { rm -f "$TMP/content"; run verify "${A[@]}" --revocation off -o "$TMP/content" "$@"; }

# ---- verify: the issuer fetched, then from the cache ----
ver "$R/uma.signed"
check "verify: the intermediate is fetched from the caIssuers URL (DER): exit 0" \
	rc_err 0 "signature OK" "trusted via: CN=AIA Root"
check "...fetched once" [ "$(gets /int.der)" -eq 1 ]
check "...and kept in \$P11SMIME_HOME/aia/<sha256 of the URL>.der, no temporary file" \
	sh -c "[ -s '$(cache_file "$U/int.der")' ] && [ \$(ls '$CACHE' | wc -l) -eq 1 ]"
check "...holding just the intermediate (DER)" \
	sh -c "openssl x509 -inform DER -in '$(cache_file "$U/int.der")' -noout -subject | grep -q 'AIA Intermediate'"
ver "$R/uma.signed"
check "verify again: from the cache, no second fetch" \
	sh -c "[ $RC -eq 0 ] && [ \$(grep -c 'GET /int.der\$' '$R/http.log') -eq 1 ]"
ver --no-aia "$R/uma.signed"
check "--no-aia: does not chain (exit 1), nothing written" \
	sh -c "[ $RC -eq 1 ] && grep -q 'does not chain to a trusted anchor' '$TMP/err' && [ ! -e '$TMP/content' ]"
check "...and nothing fetched" [ "$(gets /int.der)" -eq 1 ]
ver "$R/pia.signed"
check "a PKCS#7 certs-only bundle (.p7c, with the root in it too) completes the chain" rc_is 0
check "...and only the intermediate is kept from it" \
	sh -c "[ \$(openssl x509 -inform DER -in '$(cache_file "$U/int.p7c")' -noout -subject | grep -c .) -eq 1 ]"
ver "$R/pem.signed"
check "a PEM certificate completes the chain" rc_is 0
ver "$R/sam.signed"
check "two levels: the sub CA from the user's URL, the intermediate from the sub CA's" \
	rc_err 0 "signature OK"
check "...each fetched once (the intermediate came from the cache)" \
	sh -c "[ \$(grep -c 'GET /sub.der\$' '$R/http.log') -eq 1 ] && [ \$(grep -c 'GET /int.der\$' '$R/http.log') -eq 1 ]"
run verify "${A[@]}" --revocation off --json "$R/sam.signed"
check "...--json: valid, anchored at the root" json_q 'd["valid"] and d["anchor"].startswith("CN=AIA Root,")'

# ---- a URL that does not give the issuer ----
ver "$R/wes.signed"
check "a server that serves another certificate: exit 1, naming the URL and what it served" \
	rc_err 1 "does not chain to a trusted anchor.*the issuer could not be fetched from $U/wrong.der: it serves CN=AIA Root,O=p11smime AIA Test, not the issuer CN=AIA Intermediate"
check "...in one failure line" sh -c "[ \$(grep -c 'signature NOT valid' '$TMP/err') -eq 1 ]"
check "...nothing cached for it" [ ! -e "$(cache_file "$U/wrong.der")" ]
ver "$R/ivy.signed"
check "a certificate with the issuer's name but another key is not taken" \
	rc_err 1 "could not be fetched from $U/imp.der: the certificate it serves is named CN=AIA Intermediate,O=p11smime AIA Test but did not sign"
ver "$R/nat.signed"
check "a URL the server does not have: exit 1, naming it and the HTTP status" \
	rc_err 1 "could not be fetched from $U/missing.der: HTTP status 404 (File not found)"
ver "$R/lou.signed"
check "an ldap:// caIssuers URL is not fetched, and the failure says so" \
	rc_err 1 "could not be fetched from ldap://127.0.0.1/.*: only http:// URLs are fetched"

# ---- inspect, decrypt, encrypt ----
run inspect "${A[@]}" "$R/sam.signed"
check "inspect: the signature is valid (chain completed from AIA)" \
	sh -c "[ $RC -eq 0 ] && grep -q 'signature:   valid' '$TMP/out'"
run inspect "${A[@]}" --no-aia "$R/sam.signed"
check "inspect --no-aia: not valid, does not chain" \
	sh -c "[ $RC -eq 0 ] && grep -q 'signature:   NOT valid: .*does not chain' '$TMP/out'"
openssl cms -encrypt -aes-256-cbc -in "$R/uma.signed" -out "$R/uma.p7m" "$PKI/bob.cert.pem" 2>/dev/null
run --module "$MODULE" --pin-source "$USER_PIN" decrypt "${A[@]}" --revocation off \
	--key "pkcs11:token=p11smime-user;object=bob" -o "$TMP/dec" "$R/uma.p7m"
check "decrypt: the inner signature's chain is completed too" rc_err 0 "signature OK" "trusted via: CN=AIA Root"
run --module "$MODULE" --pin-source "$USER_PIN" decrypt "${A[@]}" --revocation off --no-aia \
	--key "pkcs11:token=p11smime-user;object=bob" -o "$TMP/dec2" "$R/uma.p7m"
check "decrypt --no-aia: the inner signature does not chain (exit 1)" \
	rc_err 1 "does not chain"
printf 'From: alice@example.org\nTo: uma@example.org\nSubject: secret\n\nswordfish\n' >"$R/msg.eml"
rm -rf "$CACHE"
before=$(gets /int.der)
rm -f "$TMP/enc"
run --module "$MODULE" --pin-source "$USER_PIN" encrypt "${A[@]}" --anchors "$PKI/anchors.pem" \
	--revocation off --recipient-cert "$R/uma.cert.pem" -o "$TMP/enc" "$R/msg.eml"
check "encrypt --recipient-cert without its chain: the issuer is fetched, encrypted (exit 0)" \
	sh -c "[ $RC -eq 0 ] && [ -s '$TMP/enc' ] && [ \$(grep -c 'GET /int.der\$' '$R/http.log') -eq $((before + 1)) ]"
run_cmd openssl cms -decrypt -in "$TMP/enc" -recip "$R/uma.cert.pem" -inkey "$R/uma.key.pem"
check "...and uma can read it" out_has "swordfish"
rm -f "$TMP/enc"
run --module "$MODULE" --pin-source "$USER_PIN" encrypt "${A[@]}" --anchors "$PKI/anchors.pem" \
	--revocation off --no-aia --recipient-cert "$R/uma.cert.pem" -o "$TMP/enc" "$R/msg.eml"
check "encrypt --no-aia: refused (exit 1), naming the recipient, nothing written" \
	sh -c "[ $RC -eq 1 ] && grep -q 'cannot encrypt to uma@example.org.*does not chain' '$TMP/err' && [ ! -e '$TMP/enc' ]"
run --module "$MODULE" --pin-source "$USER_PIN" encrypt "${A[@]}" --anchors "$PKI/anchors.pem" \
	--revocation off --recipient-cert "$R/wes.cert.pem" -o "$TMP/enc" "$R/msg.eml"
check "encrypt to a recipient whose URL serves another certificate: refused, naming the URL" \
	rc_err 1 "cannot encrypt to wes@example.org.*could not be fetched from $U/wrong.der"

# ---- the server gone ----
http_server_stop
ver "$R/uma.signed"
check "server stopped: the cached intermediate still completes the chain" rc_err 0 "signature OK"
ver "$R/dora.signed"
check "server down, nothing cached: exit 1, naming the URL and why" \
	rc_err 1 "does not chain.*the issuer could not be fetched from $U/gone.der: cannot connect: Connection refused"
check "...at once (no waiting for the timeout)" sh -c "
	s=\$(date +%s); '$P11SMIME' verify --anchors '$R/root.cert.pem' --revocation off '$R/dora.signed' >/dev/null 2>&1
	[ \$((\$(date +%s) - s)) -lt 4 ]"
touch -d '8 days ago' "$(cache_file "$U/int.der")"
ver "$R/uma.signed"
check "a cache entry older than a week is not used: fetched again, which fails now" \
	rc_err 1 "could not be fetched from $U/int.der"
openssl x509 -in "$R/wes.cert.pem" -outform DER -out "$(cache_file "$U/int.der")"
ver "$R/uma.signed"
check "a fresh cache entry that is not the issuer is not believed" \
	rc_err 1 "could not be fetched from $U/int.der"
run verify "${A[@]}" --revocation off --no-aia --bogus "$R/uma.signed"
check "an unknown option next to --no-aia is still a usage error (exit 2)" rc_is 2
done_testing
