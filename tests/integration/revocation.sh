#!/bin/bash
# Revocation: a CA of our own (a copy of the test intermediate's key and
# certificate, so the root anchors it) issues users whose certificates
# point at real servers on loopback: `openssl ocsp` responders (a delegated
# responder, the CA key itself, a foreign key, a CA-issued certificate
# without id-kp-OCSPSigning) and a small HTTP server holding the CRL.
# verify, decrypt and encrypt then meet good, revoked and unknown answers
# under --revocation soft, hard and off.
. "$top_srcdir/tests/integration/lib.sh"
plan 44
fixtures
A=(--anchors "$PKI/anchors.pem")
R=$TMP/rca
mkdir -p "$R/newcerts" "$R/www"
# the day of the revocations below (either, should midnight pass in between)
day_first=$(date -u +%Y-%m-%d)

# rc_err CODE PATTERN...: exit code CODE and every (basic regex) PATTERN on stderr
rc_err() {
	local code=$1 pat
	shift
	rc_is "$code" || return 1
	for pat in "$@"; do grep -q -- "$pat" "$TMP/err" || return 1; done
}
# rc_json CODE EXPR: exit code CODE and EXPR true of the JSON on stdout
rc_json() { rc_is "$1" && json_q "$2"; }
fetches() { grep -c 'GET /ca.crl' "$R/http.log"; }

# ---- ports: each server binds a port the kernel picks (port 0) and says
# which; a certificate naming a responder is issued once that responder
# listens (a responder rereads its index when it changes). D is held
# bound without a listener: nothing answers there. ----
http_server "$R/www" "$R"
hold_port 0
D=$HELD_PORT

# ---- the CA ----
cp "$PKI/intermediate-ca.cert.pem" "$R/ca.cert.pem"
cp "$PKI/intermediate-ca.key.pem" "$R/ca.key.pem"
: >"$R/index.txt"
: >"$R/root-index.txt"
: >"$R/sub-index.txt"
cp "$PKI/root-ca.cert.pem" "$R/root.cert.pem"
cp "$PKI/root-ca.key.pem" "$R/root.key.pem"
USER_EXT="keyUsage = critical, digitalSignature, keyEncipherment
basicConstraints = critical, CA:FALSE
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = email:copy"
# ca_section NAME DATABASE CERT KEY: an `openssl ca` section in $R
ca_section() {
	printf '[ %s ]\ndir = %s\ndatabase = $dir/%s\nnew_certs_dir = $dir/newcerts\n' "$1" "$R" "$2"
	printf 'certificate = $dir/%s\nprivate_key = $dir/%s\ndefault_md = sha256\n' "$3" "$4"
	printf 'policy = policy_any\nunique_subject = no\nrand_serial = yes\ndefault_crl_days = 7\n'
}
# the sections that name no responder; those that do are added below
{
ca_section ca_rev index.txt ca.cert.pem ca.key.pem      # the CA of the users
ca_section ca_imp index.txt imp.cert.pem imp.key.pem    # its name, another key
ca_section ca_root root-index.txt root.cert.pem root.key.pem
ca_section ca_sub sub-index.txt sub.cert.pem sub.key.pem
cat <<CONF
[ policy_any ]
commonName       = supplied
emailAddress     = optional
[ ext_crldp ]
$USER_EXT
crlDistributionPoints = URI:http://127.0.0.1:$H/ca.crl
[ ext_down ]
$USER_EXT
authorityInfoAccess   = OCSP;URI:http://127.0.0.1:$D/
crlDistributionPoints = URI:http://127.0.0.1:$D/ca.crl
[ ext_plain ]
$USER_EXT
[ ext_subca ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:http://127.0.0.1:$H/root.crl
[ ext_responder ]
keyUsage               = critical, digitalSignature
basicConstraints       = critical, CA:FALSE
extendedKeyUsage       = OCSPSigning
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
CONF
} >"$R/ca.cnf"
past=$(date -u -d '2 days ago' +%Y%m%d%H%M%SZ)
issue() { # name extensions
	openssl req -new -newkey rsa:2048 -nodes -keyout "$R/$1.key.pem" -out "$R/$1.csr" \
		-subj "/CN=$1/emailAddress=$1@example.org" 2>>"$R/ca.log" &&
	openssl ca -batch -config "$R/ca.cnf" -name ca_rev -extensions "$2" -startdate "$past" \
		-days 30 -in "$R/$1.csr" -out "$R/$1.cert.pem" >/dev/null 2>>"$R/ca.log" &&
	cat "$R/$1.cert.pem" "$R/ca.cert.pem" >"$R/$1.chain.pem" ||
		{ echo "Bail out! cannot issue $1"; diag <"$R/ca.log"; exit 1; }
}
# a second intermediate, under the root, that is revoked, and its user
openssl req -new -newkey rsa:2048 -nodes -keyout "$R/sub.key.pem" -out "$R/sub.csr" \
	-subj "/O=p11smime Test PKI/CN=Revoked Sub CA" 2>>"$R/ca.log"
openssl ca -batch -config "$R/ca.cnf" -name ca_root -extensions ext_subca -startdate "$past" -days 30 \
	-in "$R/sub.csr" -out "$R/sub.cert.pem" >/dev/null 2>>"$R/ca.log"
openssl req -new -newkey rsa:2048 -nodes -keyout "$R/ivan.key.pem" -out "$R/ivan.csr" \
	-subj "/CN=ivan/emailAddress=ivan@example.org" 2>>"$R/ca.log"
openssl ca -batch -config "$R/ca.cnf" -name ca_sub -extensions ext_plain -startdate "$past" -days 30 \
	-in "$R/ivan.csr" -out "$R/ivan.cert.pem" >/dev/null 2>>"$R/ca.log"
openssl ca -batch -config "$R/ca.cnf" -name ca_root -revoke "$R/sub.cert.pem" -crl_reason cACompromise \
	>/dev/null 2>>"$R/ca.log"
openssl ca -batch -config "$R/ca.cnf" -name ca_root -gencrl -out "$R/root.crl.pem" 2>>"$R/ca.log"
openssl crl -in "$R/root.crl.pem" -outform DER -out "$R/www/root.crl" 2>>"$R/ca.log" ||
	{ echo "Bail out! cannot make the revoked intermediate"; diag <"$R/ca.log"; exit 1; }
# the delegated responder, and a foreign one: a self-signed certificate for OCSP signing
issue responder ext_responder
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$R/foreign.key.pem" \
	-out "$R/foreign.cert.pem" -days 30 -subj "/CN=Foreign OCSP Responder" \
	-addext "extendedKeyUsage=OCSPSigning" 2>>"$R/ca.log"
[ -s "$R/foreign.cert.pem" ] || { echo "Bail out! cannot make the foreign responder"; diag <"$R/ca.log"; exit 1; }

# ---- the responders ----
# responder NAME SIGNER-CERT SIGNER-KEY: `openssl ocsp` on port 0, the
# kernel's choice, which it prints ("ACCEPT [::]:PORT PID=..." once it
# listens); sets PORT
responder() {
	local out=$R/ocsp-$1.out pid
	openssl ocsp -index "$R/index.txt" -port 0 -rsigner "$2" -rkey "$3" -CA "$R/ca.cert.pem" \
		-nmin 60 -ignore_err >"$out" 2>>"$R/ocsp-$1.log" &
	pid=$!
	bg_started "$pid"
	PORT=
	for _ in $(seq 1 100); do
		PORT=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\) PID=.*/\1/p' "$out")
		[ -n "$PORT" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$PORT" ] || { echo "Bail out! the OCSP responder $1 did not start"; diag <"$R/ocsp-$1.log"; exit 1; }
}
responder delegated "$R/responder.cert.pem" "$R/responder.key.pem"
O=$PORT
responder ca "$R/ca.cert.pem" "$R/ca.key.pem"
C=$PORT
responder foreign "$R/foreign.cert.pem" "$R/foreign.key.pem"
W=$PORT
cat >>"$R/ca.cnf" <<CONF
[ ext_ocsp ]
$USER_EXT
authorityInfoAccess   = OCSP;URI:http://127.0.0.1:$O/
crlDistributionPoints = URI:http://127.0.0.1:$D/ca.crl
[ ext_direct ]
$USER_EXT
authorityInfoAccess   = OCSP;URI:http://127.0.0.1:$C/
[ ext_wrong ]
$USER_EXT
authorityInfoAccess   = OCSP;URI:http://127.0.0.1:$W/
crlDistributionPoints = URI:http://127.0.0.1:$D/ca.crl
CONF
# a responder whose certificate (olga's) the CA issued without id-kp-OCSPSigning
issue olga ext_ocsp
responder noeku "$R/olga.cert.pem" "$R/olga.key.pem"
N=$PORT
cat >>"$R/ca.cnf" <<CONF
[ ext_noeku ]
$USER_EXT
authorityInfoAccess   = OCSP;URI:http://127.0.0.1:$N/
CONF

# ---- the users ----
revoke() { # name reason
	openssl ca -batch -config "$R/ca.cnf" -name ca_rev -revoke "$R/$1.cert.pem" -crl_reason "$2" \
		>/dev/null 2>>"$R/ca.log"
}
for u in oscar:ext_ocsp dina:ext_direct wendy:ext_wrong nico:ext_noeku \
	rita:ext_crldp greg:ext_crldp dora:ext_down paul:ext_plain nina:ext_plain; do
	issue "${u%%:*}" "${u#*:}"
done
revoke oscar keyCompromise
revoke rita superseded
revoke paul cessationOfOperation
revoke dina affiliationChanged
REVOKED_AT=$(date -u +%s)
openssl ca -batch -config "$R/ca.cnf" -name ca_rev -gencrl -out "$R/ca.crl.pem" 2>>"$R/ca.log"
openssl crl -in "$R/ca.crl.pem" -outform DER -out "$R/www/ca.crl"
openssl crl -in "$R/ca.crl.pem" -outform DER -out "$R/ca.crl.der"
# out of date: its next update is a month past
openssl ca -batch -config "$R/ca.cnf" -name ca_rev -gencrl \
	-crl_lastupdate "$(date -u -d '31 days ago' +%Y%m%d%H%M%SZ)" \
	-crl_nextupdate "$(date -u -d '30 days ago' +%Y%m%d%H%M%SZ)" -out "$R/stale.crl.pem" 2>>"$R/ca.log"
# the issuer's name, another key
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$R/imp.key.pem" -out "$R/imp.cert.pem" \
	-days 30 -subj "/O=p11smime Test PKI/CN=p11smime Test Intermediate CA" \
	-addext "keyUsage=critical,cRLSign,keyCertSign" 2>>"$R/ca.log"
openssl ca -batch -config "$R/ca.cnf" -name ca_imp -gencrl -out "$R/imp.crl.pem" 2>>"$R/ca.log"
[ -s "$R/ca.crl.pem" ] && [ -s "$R/stale.crl.pem" ] && [ -s "$R/imp.crl.pem" ] ||
	{ echo "Bail out! cannot make the CRLs"; diag <"$R/ca.log"; exit 1; }
# `openssl ocsp` reads its index again, when it changed, only after it
# answered a request (before it waits for the next one): ask each
# responder once now that the index is complete, which also shows that
# it is ours and answers
for p in "$O" "$C" "$W" "$N"; do
	openssl ocsp -issuer "$R/ca.cert.pem" -cert "$R/responder.cert.pem" -url "http://127.0.0.1:$p/" \
		-noverify -timeout 10 >"$R/prime-$p.out" 2>&1 && grep -q ': good' "$R/prime-$p.out" ||
		{ echo "Bail out! the OCSP responder on port $p does not answer"; diag <"$R/prime-$p.out"; exit 1; }
done

# ---- a message signed by each user (openssl, software keys) ----
for u in olga oscar dina wendy nico rita greg dora paul nina; do
	printf 'From: %s@example.org\nTo: bob@example.org\nSubject: hello\n\nHello from %s.\n' "$u" "$u" \
		>"$R/$u.eml"
	openssl cms -sign -in "$R/$u.eml" -signer "$R/$u.cert.pem" -inkey "$R/$u.key.pem" \
		-from "$u@example.org" -certfile "$R/ca.cert.pem" -out "$R/$u.signed" 2>/dev/null
done
openssl cms -sign -in "$R/olga.eml" -signer "$R/ivan.cert.pem" -inkey "$R/ivan.key.pem" \
	-from ivan@example.org -certfile "$R/sub.cert.pem" -out "$R/ivan.signed" 2>/dev/null
ver() { rm -f "$TMP/content"; run verify "${A[@]}" -o "$TMP/content" "$@"; }
ver_json() { run verify "${A[@]}" --json "$@"; }
today=$day_first
day_last=$(date -u -d "@$REVOKED_AT" +%Y-%m-%d)
[ "$day_last" = "$day_first" ] || today="\($day_first\|$day_last\)"

# ---- OCSP ----
ver_json "$R/olga.signed"
check "good via OCSP (a delegated responder): exit 0, JSON status good, source ocsp" rc_json 0 '
  d["valid"] and d["revocation"]["status"]=="good" and d["revocation"]["source"]=="ocsp"
  and d["revocation"]["revoked_at"] is None and d["revocation"]["reason"] is None'
ver "$R/olga.signed"
check "...the summary names the responder" rc_err 0 "revocation:  good: the OCSP responder http://127.0.0.1:$O/"
ver "$R/oscar.signed"
check "revoked via OCSP: exit 1, says revoked, when and why" \
	rc_err 1 "NOT valid: the signer's certificate was revoked on ${today}T.*(keyCompromise)" \
	"REVOKED on ${today}T"
check "...and writes no content" test ! -e "$TMP/content"
ver_json "$R/oscar.signed"
check "...JSON: revoked, ocsp, revoked_at, reason" rc_json 1 '
  not d["valid"] and d["revocation"]["status"]=="revoked" and d["revocation"]["source"]=="ocsp"
  and d["revocation"]["reason"]=="keyCompromise" and d["revocation"]["revoked_at"].endswith("Z")'
ver "$R/dina.signed"
check "revoked via OCSP, the answer signed by the CA's own key" rc_err 1 "revoked on .*(affiliationChanged)"
ver --revocation soft "$R/wendy.signed"
check "an OCSP answer signed by a foreign key is unknown: soft warns (exit 0)" \
	rc_err 0 "warning: nothing could tell whether the signer's certificate is revoked" \
	"Foreign OCSP Responder"
ver --revocation hard "$R/wendy.signed"
check "...hard fails (exit 1)" \
	rc_err 1 "could not check whether the signer's certificate is revoked.*(--revocation hard)"
ver_json "$R/wendy.signed"
check "...JSON: unknown, why in detail" rc_json 0 '
  d["valid"] and d["revocation"]["status"]=="unknown" and d["revocation"]["source"] is None
  and "did not issue" in d["revocation"]["detail"]'
ver --revocation hard "$R/nico.signed"
check "a responder certificate of the CA without id-kp-OCSPSigning is not believed (hard: exit 1)" \
	rc_err 1 "not authorised for OCSP signing"

# ---- CRL files ----
ver --revocation hard --crl "$R/ca.crl.pem" "$R/paul.signed"
check "revoked via a CRL file (--crl, PEM): exit 1, when and why" \
	rc_err 1 "revoked on ${today}T.*(cessationOfOperation): listed on the CRL given with --crl"
ver --revocation hard --crl "$R/ca.crl.der" "$R/nina.signed"
check "not on a DER CRL file: good (hard: exit 0)" rc_err 0 "revocation:  good: not on the CRL given with --crl"
ver --revocation hard --crl "$R/stale.crl.pem" "$R/nina.signed"
check "an out-of-date CRL is unknown: hard fails" rc_err 1 "out of date"
ver --crl "$R/stale.crl.pem" "$R/paul.signed"
check "...soft warns (exit 0), even for a certificate it lists: it proves nothing now" \
	rc_err 0 "warning: nothing could tell" "out of date"
ver --revocation hard --crl "$R/imp.crl.pem" "$R/paul.signed"
check "a CRL with the issuer's name but another key's signature is not believed" \
	rc_err 1 "signature is not the issuer's"
ver "$R/paul.signed"
check "no OCSP, no distribution point, no --crl: unknown, soft says so without a warning" \
	sh -c "[ $RC -eq 0 ] && grep -q 'revocation:  unknown: the certificate names no OCSP responder and no CRL distribution point' '$TMP/err' && ! grep -q warning '$TMP/err'"
ver --revocation hard "$R/paul.signed"
check "...hard fails it" rc_err 1 "could not check whether the signer's certificate is revoked: the certificate names no"

# ---- --revocation off contacts nothing ----
ver --revocation off "$R/rita.signed"
check "--revocation off: a revoked signer verifies (exit 0), no revocation line" \
	sh -c "[ $RC -eq 0 ] && ! grep -q revocation '$TMP/err'"
ver_json --revocation off "$R/olga.signed"
check "...JSON status off" rc_json 0 'd["revocation"]["status"]=="off" and d["revocation"]["source"] is None'
check "...and the CRL server was not asked, nothing cached" \
	sh -c "[ ! -s '$R/http.log' ] && [ -z \"\$(ls -A '$P11SMIME_HOME/crls' 2>/dev/null)\" ]"

# ---- CRL distribution point over HTTP, and the cache ----
ver "$R/rita.signed"
check "revoked via the CRL distribution point over HTTP" \
	rc_err 1 "revoked on .*(superseded): listed on the CRL from http://127.0.0.1:$H/ca.crl"
check "...fetched once and cached under \$P11SMIME_HOME/crls (no temporary file left)" \
	sh -c "[ \$(grep -c 'GET /ca.crl' '$R/http.log') -eq 1 ] && [ \$(ls '$P11SMIME_HOME/crls' | wc -l) -eq 1 ] && ls '$P11SMIME_HOME/crls' | grep -q '^[0-9a-f]\{64\}\.crl\$'"
ver --revocation hard "$R/greg.signed"
check "another certificate of that CA: answered from the cache (good), no second fetch" \
	sh -c "[ $RC -eq 0 ] && grep -q 'good: not on the CRL from http://127.0.0.1:$H/ca.crl (cached)' '$TMP/err' && [ \$(grep -c 'GET /ca.crl' '$R/http.log') -eq 1 ]"
ver "$R/ivan.signed"
check "a revoked intermediate fails the signer under it (its CRL distribution point)" \
	rc_err 1 "a CA certificate of the signer was revoked on ${today}T.*(cACompromise): the CA certificate CN=Revoked Sub CA"
http_server_stop
ver "$R/rita.signed"
check "the HTTP server stopped: the cached CRL still answers (revoked)" rc_err 1 "revoked on .*(cached)"
# past its next update, a cached CRL is fetched again
for f in "$P11SMIME_HOME"/crls/*.crl; do openssl crl -in "$R/stale.crl.pem" -outform DER -out "$f"; done
ver --revocation hard "$R/greg.signed"
check "...but not past its next update: fetched again, the server is down: unknown (hard: exit 1)" \
	rc_err 1 "CRL http://127.0.0.1:$H/ca.crl: "

# ---- servers down ----
ver "$R/dora.signed"
check "responder and CRL server down: unknown, soft warns (exit 0), naming both" \
	rc_err 0 "warning: nothing could tell" "OCSP http://127.0.0.1:$D/: " "CRL http://127.0.0.1:$D/ca.crl: "
ver --revocation hard "$R/dora.signed"
check "...hard fails (exit 1)" rc_is 1
ver --revocation hard --crl "$R/ca.crl.pem" "$R/dora.signed"
check "...a --crl from the issuer answers when the servers do not (good), saying why OCSP did not" \
	rc_err 0 "good: not on the CRL given with --crl.*OCSP http://127.0.0.1:$D/"

# ---- --at: judged by CRLs, OCSP not asked ----
ver --revocation hard --crl "$R/ca.crl.pem" --at "@$((REVOKED_AT - 3600))" "$R/paul.signed"
check "--at before the revocation: good (revoked only later)" rc_err 0 "revoked only on .*after the time judged"
ver --crl "$R/ca.crl.pem" --at "@$((REVOKED_AT + 60))" "$R/paul.signed"
check "--at after the revocation: revoked (exit 1)" rc_err 1 "revoked on"
ver --revocation hard --at "@$((REVOKED_AT - 3600))" "$R/olga.signed"
check "--at: OCSP is not asked, and the summary says so" rc_err 1 "OCSP not asked.*--at"
ver --revocation hard --crl "$R/ca.crl.pem" --at "@$((REVOKED_AT - 3600))" "$R/oscar.signed"
check "--at with a CRL: oscar, revoked now, was good an hour before" rc_is 0

# ---- usage ----
run verify "${A[@]}" --revocation sometimes "$R/olga.signed"
check "a bad --revocation is a usage error (exit 2)" rc_err 2 "off, soft or hard"
run verify "${A[@]}" --crl "$R/olga.eml" "$R/olga.signed"
check "a --crl file without a CRL: exit 2, naming it" rc_err 2 "olga.eml"

# ---- decrypt: the inner signature ----
openssl cms -encrypt -aes-256-cbc -in "$R/oscar.signed" -out "$R/oscar.p7m" "$PKI/bob.cert.pem" 2>/dev/null
rm -f "$TMP/dec"
run --module "$MODULE" --pin-source "$USER_PIN" decrypt "${A[@]}" --key "pkcs11:token=p11smime-user;object=bob" \
	-o "$TMP/dec" "$R/oscar.p7m"
check "decrypt: an inner signature by a revoked signer fails (exit 1), nothing written" \
	sh -c "[ $RC -eq 1 ] && grep -q 'revoked on' '$TMP/err' && [ ! -e '$TMP/dec' ]"
openssl cms -encrypt -aes-256-cbc -in "$R/olga.signed" -out "$R/olga.p7m" "$PKI/bob.cert.pem" 2>/dev/null
run --module "$MODULE" --pin-source "$USER_PIN" decrypt "${A[@]}" --revocation hard --json \
	--key "pkcs11:token=p11smime-user;object=bob" "$R/olga.p7m"
check "decrypt --revocation hard --json: the inner signer is good via OCSP" rc_json 0 '
  d["signature"]["valid"] and d["signature"]["revocation"]["status"]=="good"
  and d["signature"]["revocation"]["source"]=="ocsp"'

# ---- encrypt: each recipient ----
printf 'From: alice@example.org\nTo: someone@example.org\nSubject: secret\n\nswordfish\n' >"$R/msg.eml"
encrypt_to() { # who options...
	rm -f "$TMP/enc"
	run --module "$MODULE" --pin-source "$USER_PIN" encrypt "${A[@]}" --recipient-cert "$R/$1.chain.pem" \
		-o "$TMP/enc" "${@:2}" "$R/msg.eml"
}
encrypt_to oscar
check "encrypt to a revoked recipient is refused (exit 1), naming them, nothing written" \
	sh -c "[ $RC -eq 1 ] && grep -q 'cannot encrypt to oscar@example.org.*revoked on .*keyCompromise' '$TMP/err' && [ ! -e '$TMP/enc' ]"
check "...in one line" err_one_line
encrypt_to olga
check "encrypt to a good recipient works" rc_is 0
check "...without a warning for the sender, whose certificate names no revocation source" \
	sh -c "[ $RC -eq 0 ] && ! grep -q revoked '$TMP/err'"
encrypt_to dora
check "a recipient whose responder and CRL server are down: soft warns, naming them, and encrypts" \
	rc_err 0 "warning: could not check whether the certificate of dora@example.org.*is revoked: OCSP http"
encrypt_to olga --revocation hard
check "...which --revocation hard refuses" rc_err 1 "cannot encrypt to alice@example.org.*(--revocation hard)"
encrypt_to rita --revocation off
check "encrypt --revocation off does not check" rc_is 0
done_testing
