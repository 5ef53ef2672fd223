#!/bin/bash
# Fetching over HTTP (core/http.c) from real servers on loopback: Python's
# http.server (HTTP/1.0, Content-Length, close), lighttpd (HTTP/1.1:
# static files with Content-Length, CGI answers streamed chunked, its
# redirections 301/302/303/307/308, an OCSP responder as a CGI) and
# `openssl ocsp` (HTTP/1.0), and a server that answers oddly on purpose
# (tests/integration/http_odd.py: HTTP/1.0 without a length, keep-alive,
# chunks with extensions and a trailer, closing early, sending too much or
# too slowly, redirections to https:// or in a loop, a proxy). For CRLs,
# OCSP and caIssuers: a revoked signer is refused whichever server the
# answer came from, a good one passes under --revocation hard, and a fetch
# that fails names the URL and the reason.
. "$top_srcdir/tests/integration/lib.sh"
LIGHTTPD=${LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
[ -x "$LIGHTTPD" ] || { echo "Bail out! lighttpd is missing: run tests/setup-debian.sh"; exit 1; }
plan 81
fixtures
A="--anchors $PKI/anchors.pem"
R=$TMP/hf
PY=$R/py
LT=$R/lt
ODD=$R/odd
mkdir -p "$R/newcerts" "$PY" "$LT/www/cgi" "$LT/files" "$LT/tmp" "$ODD"
PIDS=
# shellcheck disable=SC2016
at_exit 'for p in $PIDS; do kill "$p" 2>/dev/null; done'
unset http_proxy HTTP_PROXY no_proxy NO_PROXY

rc_err() { # CODE PATTERN...: exit code CODE and every (basic regex) PATTERN on stderr
	local code=$1 pat
	shift
	rc_is "$code" || return 1
	for pat in "$@"; do grep -q -- "$pat" "$TMP/err" || return 1; done
}
# wait_file FILE WHAT LOG: FILE appears (a server wrote its port), or bail out
wait_file() {
	for _ in $(seq 1 100); do [ -s "$1" ] && return 0; sleep 0.1; done
	echo "Bail out! $2 did not start"
	diag <"$3"
	exit 1
}

# ---- the servers, each at a port the kernel picks: on 127.0.0.1 (openssl
# ocsp, below, can only listen on every address) ----
# Python's http.server, as it is (tests/integration/http_server.py)
http_server "$PY" "$R"
P=http://127.0.0.1:$H
# the odd one
python3 "$top_srcdir/tests/integration/http_odd.py" "$ODD" "$R/odd.port" "$R/odd.log" \
	2>"$R/odd.err" &
PIDS="$PIDS $!"
wait_file "$R/odd.port" "the odd HTTP server" "$R/odd.err"
X=http://127.0.0.1:$(cat "$R/odd.port")
# a port where nothing listens: bound, never listening, held until the end
python3 -c '
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)' "$R/down.port" &
PIDS="$PIDS $!"
wait_file "$R/down.port" "the port holder" /dev/null
DOWN=http://127.0.0.1:$(cat "$R/down.port")
# lighttpd, handed its listening socket the way systemd does (LISTEN_FDS):
# the socket is bound before lighttpd starts, at a port the kernel picked
OPENSSL=$(command -v openssl)
cat >"$LT/lighttpd.conf.in" <<EOF
server.document-root = "$LT/www"
server.bind = "127.0.0.1"
server.port = @PORT@
server.systemd-socket-activation = "enable"
server.errorlog = "$LT/error.log"
server.upload-dirs = ( "$LT/tmp" )
server.modules = ( "mod_redirect", "mod_cgi", "mod_accesslog" )
accesslog.filename = "$LT/access.log"
server.stream-response-body = 2
mimetype.assign = ( ".crl" => "application/pkix-crl", ".cer" => "application/pkix-cert" )
cgi.assign = ( ".cgi" => "" )
EOF
for code in 301 302 303 307 308; do
	printf '$HTTP["url"] =~ "^/r%s/" { url.redirect = ( "^/r%s/(.*)$" => "/$1" ) url.redirect-code = %s }\n' \
		"$code" "$code" "$code" >>"$LT/lighttpd.conf.in"
done
printf '$HTTP["url"] =~ "^/https/" { url.redirect = ( "^/https/(.*)$" => "https://127.0.0.1/$1" ) }\n' \
	>>"$LT/lighttpd.conf.in"
# a file of $LT/files streamed in two writes: lighttpd sends it chunked
cat >"$LT/www/cgi/chunk.cgi" <<EOF
#!/bin/sh
PATH=/usr/bin:/bin
f="$LT/files/\${PATH_INFO##*/}"
case \$f in *.crl) t=application/pkix-crl ;; *) t=application/pkix-cert ;; esac
printf 'Content-Type: %s\r\n\r\n' "\$t"
head -c 100 "\$f"
sleep 0.05
tail -c +101 "\$f"
EOF
# an OCSP responder: openssl ocsp answering the request of the POST body.
# lighttpd gives a CGI a clean environment: the test's LD_PRELOAD and
# FAKETIME, when set (a run under faketime), are written in, so that the
# responder's clock is the client's
cat >"$LT/www/cgi/ocsp.cgi" <<EOF
#!/bin/sh
PATH=/usr/bin:/bin
$(if [ -n "${LD_PRELOAD:-}" ]; then
	printf "LD_PRELOAD='%s' FAKETIME='%s'\nexport LD_PRELOAD FAKETIME\n" "$LD_PRELOAD" "${FAKETIME:-}"
fi)
t=\$(mktemp -d "$LT/tmp/ocsp.XXXXXX")
head -c "\$CONTENT_LENGTH" >"\$t/req"
"$OPENSSL" ocsp -index "$R/index.txt" -CA "$R/ca.cert.pem" -rsigner "$R/responder.cert.pem" \\
	-rkey "$R/responder.key.pem" -nmin 60 -reqin "\$t/req" -respout "\$t/resp" >/dev/null 2>&1
printf 'Content-Type: application/ocsp-response\r\n\r\n'
head -c 100 "\$t/resp"
sleep 0.05
tail -c +101 "\$t/resp"
rm -rf "\$t"
EOF
chmod +x "$LT/www/cgi/chunk.cgi" "$LT/www/cgi/ocsp.cgi"
python3 -c '
import os, socket, sys
tmpl, conf, portfile = sys.argv[1:4]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
port = s.getsockname()[1]
open(conf, "w").write(open(tmpl).read().replace("@PORT@", str(port)))
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
open(portfile + ".tmp", "w").write("%d\n" % port)
os.rename(portfile + ".tmp", portfile)
os.execv(sys.argv[4], sys.argv[4:])' "$LT/lighttpd.conf.in" "$LT/lighttpd.conf" "$LT/port" \
	"$LIGHTTPD" -D -f "$LT/lighttpd.conf" 2>"$LT/stderr" &
PIDS="$PIDS $!"
wait_file "$LT/port" "lighttpd" "$LT/stderr"
L=http://127.0.0.1:$(cat "$LT/port")
# it accepted the socket: it answers
python3 -c '
import socket, sys, time
for _ in range(50):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"GET /nothing HTTP/1.0\r\n\r\n")
    if s.recv(12).startswith(b"HTTP/1."):
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)' "$(cat "$LT/port")" 2>/dev/null ||
	{ echo "Bail out! lighttpd does not answer"; diag <"$LT/stderr"; exit 1; }

# ---- the CA: a copy of the test intermediate, so the root anchors it ----
cp "$PKI/intermediate-ca.cert.pem" "$R/ca.cert.pem"
cp "$PKI/intermediate-ca.key.pem" "$R/ca.key.pem"
: >"$R/index.txt"
cat >"$R/ca.cnf" <<EOF
[ ca_rev ]
dir = $R
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = \$dir/ca.cert.pem
private_key = \$dir/ca.key.pem
default_md = sha256
policy = policy_any
unique_subject = no
rand_serial = yes
default_crl_days = 7
[ policy_any ]
commonName = supplied
emailAddress = optional
EOF
openssl ecparam -name prime256v1 -out "$R/ec.param" 2>>"$R/ca.log"
past=$(date -u -d '2 days ago' +%Y%m%d%H%M%SZ)
# issue NAME EXTENSIONS...: NAME's certificate from the CA (EC key), and
# NAME.signed, a message NAME signed with the CA's certificate in it
issue() {
	local name=$1
	shift
	{
		printf 'basicConstraints = critical, CA:FALSE\nsubjectKeyIdentifier = hash\n'
		printf 'authorityKeyIdentifier = keyid:always\n%s\n' "$@"
	} >"$R/$name.ext"
	openssl req -new -newkey "ec:$R/ec.param" -nodes -keyout "$R/$name.key.pem" -out "$R/$name.csr" \
		-subj "/CN=$name/emailAddress=$name@example.org" 2>>"$R/ca.log" &&
	openssl ca -batch -config "$R/ca.cnf" -name ca_rev -extfile "$R/$name.ext" -startdate "$past" \
		-days 30 -in "$R/$name.csr" -out "$R/$name.cert.pem" >/dev/null 2>>"$R/ca.log" &&
	printf 'From: %s@example.org\nSubject: hi\n\nHello from %s.\n' "$name" "$name" >"$R/$name.eml" &&
	openssl cms -sign -in "$R/$name.eml" -signer "$R/$name.cert.pem" -inkey "$R/$name.key.pem" \
		-from "$name@example.org" -certfile "$R/ca.cert.pem" -out "$R/$name.signed" 2>>"$R/ca.log" ||
		{ echo "Bail out! cannot issue $name"; diag <"$R/ca.log"; exit 1; }
}
SIGNER="keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
subjectAltName = email:copy"
# crl_user NAME URL: a signer whose certificate names URL as its only
# revocation source
crl_user() { issue "$1" "$SIGNER" "crlDistributionPoints = URI:$2"; }
ocsp_user() { issue "$1" "$SIGNER" "authorityInfoAccess = OCSP;URI:$2"; }

# the CRL distribution points, by name: good (ok-) and revoked (rev-) signers
GOOD_URLS="py:$P/ca.crl pypem:$P/pem.crl lt:$L/ca.crl ltchunk:$L/cgi/chunk.cgi/ca.crl
	close:$X/close/ca.crl keep:$X/keepalive/ca.crl chunk:$X/chunked/ca.crl
	r301:$L/r301/ca.crl r302:$L/r302/ca.crl r303:$L/r303/ca.crl r307:$L/r307/ca.crl
	r308:$L/r308/ca.crl hops:$L/r302/r307/r301/ca.crl rel:$X/rel/ca.crl abs:$X/abs/308/ca.crl
	proxy:http://crl.invalid/ca.crl"
for u in $GOOD_URLS; do
	crl_user "ok-${u%%:*}" "${u#*:}"
	crl_user "rev-${u%%:*}" "${u#*:}"
done
# and those where the fetch fails
BAD_URLS="missing:$P/missing.crl short:$X/short/ca.crl shortchunk:$X/shortchunk/ca.crl
	huge:$X/huge/ca.crl flood:$X/flood/ca.crl floodchunk:$X/floodchunk/ca.crl
	trickle:$X/trickle/ca.crl headers:$X/headers/ca.crl gzip:$X/gzip/ca.crl
	https:$X/tohttps/ca.crl lthttps:$L/https/ca.crl ldap:$X/toldap/ca.crl loop:$X/loop/0/ca.crl
	noloc:$X/noloc/ca.crl hangup:$X/hangup/ca.crl down:$DOWN/ca.crl html:$P/index.html"
for u in $BAD_URLS; do
	crl_user "bad-${u%%:*}" "${u#*:}"
done
# OCSP: openssl ocsp (-port 0: the kernel picks, it prints which), lighttpd's
# CGI (chunked), answers made beforehand served by the odd server, and
# answers that are refused
issue responder "keyUsage = critical, digitalSignature" "extendedKeyUsage = OCSPSigning"
OCSP_PORT_FILE=$R/ocsp.out
"$OPENSSL" ocsp -index "$R/index.txt" -port 0 -rsigner "$R/responder.cert.pem" \
	-rkey "$R/responder.key.pem" -CA "$R/ca.cert.pem" -nmin 60 -ignore_err \
	>"$OCSP_PORT_FILE" 2>"$R/ocsp.err" &
PIDS="$PIDS $!"
for _ in $(seq 1 100); do grep -q '^ACCEPT' "$OCSP_PORT_FILE" && break; sleep 0.1; done
O=$(sed -n 's/^ACCEPT .*:\([0-9]*\) .*/\1/p' "$OCSP_PORT_FILE")
[ -n "$O" ] || { echo "Bail out! openssl ocsp did not start"; diag <"$R/ocsp.err"; exit 1; }
O=http://127.0.0.1:$O/
for who in ok rev; do
	ocsp_user "$who-ocsp" "$O"
	ocsp_user "$who-ocsplt" "$L/cgi/ocsp.cgi"
done
ocsp_user ok-ocspkeep "$X/keepalive/ok-ocspkeep.ors"
ocsp_user rev-ocspchunk "$X/chunked/rev-ocspchunk.ors"
ocsp_user rev-ocspclose "$X/close/rev-ocspclose.ors"
ocsp_user bad-ocspredir "$X/to/307/ok-ocspkeep.ors"
ocsp_user bad-ocspplain "$X/plain/ok-ocspkeep.ors"
ocsp_user bad-ocspflood "$X/flood/ok-ocspkeep.ors"
for u in $(sed -n 's/.*CN=\(rev-[^/]*\)\/.*/\1/p' "$R/index.txt"); do
	openssl ca -batch -config "$R/ca.cnf" -name ca_rev -revoke "$R/$u.cert.pem" \
		-crl_reason keyCompromise >/dev/null 2>>"$R/ca.log"
done
openssl ca -batch -config "$R/ca.cnf" -name ca_rev -gencrl -out "$R/ca.crl.pem" 2>>"$R/ca.log"
openssl crl -in "$R/ca.crl.pem" -outform DER -out "$R/ca.crl" 2>>"$R/ca.log" ||
	{ echo "Bail out! cannot make the CRL"; diag <"$R/ca.log"; exit 1; }
# openssl ocsp reads its index again before it accepts a connection, when
# the file changed: one request makes it take the final one
openssl ocsp -issuer "$R/ca.cert.pem" -cert "$R/ok-ocsp.cert.pem" -url "$O" -no_nonce \
	-noverify >/dev/null 2>>"$R/ca.log"
# the answers the odd server hands out as they are (no nonce: allowed)
for u in ok-ocspkeep rev-ocspchunk rev-ocspclose; do
	openssl ocsp -issuer "$R/ca.cert.pem" -cert "$R/$u.cert.pem" -no_nonce -reqout "$R/$u.req" \
		2>>"$R/ca.log" &&
	openssl ocsp -index "$R/index.txt" -CA "$R/ca.cert.pem" -rsigner "$R/responder.cert.pem" \
		-rkey "$R/responder.key.pem" -nmin 60 -reqin "$R/$u.req" -respout "$ODD/$u.ors" \
		>/dev/null 2>>"$R/ca.log" || { echo "Bail out! cannot make the OCSP answer of $u"; exit 1; }
done
# the CRL where each server has it: DER, and at pem.crl in PEM (as
# `openssl ca -gencrl -out x.crl` writes it)
cp "$R/ca.crl" "$PY/ca.crl"
cp "$R/ca.crl.pem" "$PY/pem.crl"
echo '<html>not a CRL</html>' >"$PY/index.html"
cp "$R/ca.crl" "$LT/www/ca.crl"
cp "$R/ca.crl" "$LT/files/ca.crl"
cp "$R/ca.crl" "$ODD/ca.crl"

# ---- AIA: a root and an intermediate of our own (EC), users naming the
# intermediate at a caIssuers URL, messages with only the signer in them ----
ca_ext() { printf 'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n'; }
{ printf '[req]\ndistinguished_name = dn\nx509_extensions = v3\n[dn]\n[v3]\n'; ca_ext; } >"$R/root.cnf"
openssl req -x509 -new -newkey "ec:$R/ec.param" -nodes -keyout "$R/root.key.pem" \
	-out "$R/root.cert.pem" -days 60 -subj "/O=p11smime HTTP Test/CN=HTTP Root" \
	-config "$R/root.cnf" 2>>"$R/ca.log"
ca_ext >"$R/int.ext"
openssl req -new -newkey "ec:$R/ec.param" -nodes -keyout "$R/int.key.pem" -out "$R/int.csr" \
	-subj "/O=p11smime HTTP Test/CN=HTTP Intermediate" 2>>"$R/ca.log" &&
openssl x509 -req -in "$R/int.csr" -CA "$R/root.cert.pem" -CAkey "$R/root.key.pem" \
	-set_serial 2 -days 60 -extfile "$R/int.ext" -out "$R/int.cert.pem" 2>>"$R/ca.log" &&
openssl x509 -in "$R/int.cert.pem" -outform DER -out "$R/int.cer" ||
	{ echo "Bail out! cannot make the AIA CAs"; diag <"$R/ca.log"; exit 1; }
for d in "$PY" "$LT/www" "$LT/files" "$ODD"; do cp "$R/int.cer" "$d/int.cer"; done
aia_user() { # NAME URL
	printf 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = emailProtection\nsubjectAltName = email:%s@example.org\nauthorityInfoAccess = caIssuers;URI:%s\n' \
		"$1" "$2" >"$R/$1.ext"
	openssl req -new -newkey "ec:$R/ec.param" -nodes -keyout "$R/$1.key.pem" -out "$R/$1.csr" \
		-subj "/CN=$1/emailAddress=$1@example.org" 2>>"$R/ca.log" &&
	openssl x509 -req -in "$R/$1.csr" -CA "$R/int.cert.pem" -CAkey "$R/int.key.pem" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$R/$1.ext" \
		-out "$R/$1.cert.pem" 2>>"$R/ca.log" &&
	printf 'From: %s@example.org\nSubject: hi\n\nHello.\n' "$1" >"$R/$1.eml" &&
	openssl cms -sign -in "$R/$1.eml" -signer "$R/$1.cert.pem" -inkey "$R/$1.key.pem" \
		-from "$1@example.org" -out "$R/$1.signed" 2>>"$R/ca.log" ||
		{ echo "Bail out! cannot issue $1"; diag <"$R/ca.log"; exit 1; }
}
AIA_GOOD="py:$P/int.cer lt:$L/int.cer ltchunk:$L/cgi/chunk.cgi/int.cer lt303:$L/r303/int.cer
	close:$X/close/int.cer keep:$X/keepalive/int.cer chunk:$X/chunked/int.cer"
AIA_BAD="short:$X/short/int.cer flood:$X/flood/int.cer https:$X/tohttps/int.cer
	loop:$X/loop/0/int.cer"
for u in $AIA_GOOD; do aia_user "aia-${u%%:*}" "${u#*:}"; done
for u in $AIA_BAD; do aia_user "aiabad-${u%%:*}" "${u#*:}"; done

# ---- the servers answer as this test says they do ----
# raw URL: the head of the answer to a plain HTTP/1.1 GET
raw_head() {
	python3 -c '
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=5)
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % u.path).encode())
d = b""
while b"\r\n\r\n" not in d:
    b = s.recv(4096)
    if not b:
        break
    d += b
sys.stdout.write(d.split(b"\r\n\r\n")[0].decode("latin-1").lower())' "$1" >"$TMP/out" 2>"$TMP/err"
}
raw_head "$P/ca.crl"
check "http.server answers HTTP/1.0 with Content-Length and type application/pkix-crl" \
	sh -c "grep -q '^http/1.0 200' '$TMP/out' && grep -q '^content-length: ' '$TMP/out' && grep -q '^content-type: application/pkix-crl' '$TMP/out'"
raw_head "$L/ca.crl"
check "lighttpd answers a static file HTTP/1.1 with Content-Length" \
	sh -c "grep -q '^http/1.1 200' '$TMP/out' && grep -q '^content-length: ' '$TMP/out'"
raw_head "$L/cgi/chunk.cgi/ca.crl"
check "...and its CGI chunked (Transfer-Encoding: chunked, no Content-Length)" \
	sh -c "grep -q '^transfer-encoding: chunked' '$TMP/out' && ! grep -q '^content-length' '$TMP/out'"

# timed CMD...: run CMD, stdout in $TMP/out, stderr in $TMP/err, exit code
# in RC, how long it took in MS (milliseconds); nothing cached before
timed() {
	local s e
	rm -rf "$P11SMIME_HOME/crls" "$P11SMIME_HOME/aia"
	s=$(date +%s%N)
	RC=0
	"$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
	e=$(date +%s%N)
	MS=$(((e - s) / 1000000))
}
ver() { timed "$P11SMIME" verify $A "$@"; }
# quick CODE PATTERN...: rc_err, and in less than 3 seconds
quick() { [ "$MS" -lt 3000 ] && rc_err "$@"; }

# ---- CRLs from each server and answer kind: revoked refused, good passes ----
what() {
	case $1 in
	py) echo "http.server (HTTP/1.0, Content-Length), DER" ;;
	pypem) echo "http.server, a PEM CRL (openssl ca -gencrl -out x.crl)" ;;
	lt) echo "lighttpd, a static file (HTTP/1.1, Content-Length)" ;;
	ltchunk) echo "lighttpd's CGI, chunked" ;;
	close) echo "HTTP/1.0 without Content-Length, ended by the close" ;;
	keep) echo "HTTP/1.1 keep-alive with Content-Length, the connection left open" ;;
	chunk) echo "chunked with an extension, 1-byte chunks and a trailer, the connection left open" ;;
	r30?) echo "lighttpd redirection ${1#r}" ;;
	hops) echo "three lighttpd redirections in a row (302, 307, 301)" ;;
	rel) echo "a redirection to a relative Location" ;;
	abs) echo "a redirection (308) to an absolute http:// URL" ;;
	proxy) echo "through the http_proxy (a host that is never resolved)" ;;
	esac
}
for u in $GOOD_URLS; do
	n=${u%%:*}
	url=${u#*:}
	proxy=
	[ "$n" != proxy ] || proxy=$X
	timed env http_proxy="$proxy" "$P11SMIME" verify $A --revocation hard "$R/rev-$n.signed"
	check "CRL, $(what "$n"): a revoked signer is refused (exit 1)" \
		quick 1 "revoked on .*(keyCompromise): listed on the CRL from $url$"
	timed env http_proxy="$proxy" "$P11SMIME" verify $A --revocation hard "$R/ok-$n.signed"
	check "...a good one passes under --revocation hard" \
		quick 0 "revocation:  good: not on the CRL from $url (issued "
done
# lt_logged COUNT LINE: lighttpd logged LINE (a fixed string) at least
# COUNT times (it writes its access log a second or so later)
lt_logged() {
	for _ in $(seq 1 40); do
		[ "$(grep -cF -- "$2" "$LT/access.log" 2>/dev/null)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
lt_redirected() { lt_logged 2 '"GET /r308/ca.crl HTTP/1.1" 308' && lt_logged 14 '"GET /ca.crl HTTP/1.1" 200'; }
check "lighttpd made each redirection (308 among them) and served the CRL after each" lt_redirected
check "the proxy was asked for the whole URL, and no loopback URL went to it" \
	sh -c "[ \$(grep -c '^PROXY GET http://crl.invalid/ca.crl\$' '$R/odd.log') -eq 2 ] && [ \$(grep -c '^PROXY' '$R/odd.log') -eq 2 ]"
timed env http_proxy="$DOWN" "$P11SMIME" verify $A --revocation hard "$R/rev-py.signed"
check "loopback is reached directly even with http_proxy set (to a port where nothing listens)" \
	rc_err 1 "listed on the CRL from $P/ca.crl"
timed env http_proxy="$DOWN" "$P11SMIME" verify $A "$R/ok-proxy.signed"
check "a proxy that is down: the URL and 'cannot connect to the proxy', at once" \
	quick 0 "CRL http://crl.invalid/ca.crl: cannot connect to the proxy 127.0.0.1:$(cat "$R/down.port"): Connection refused"

# ---- CRL fetches that fail: the URL and the reason, soft warns, hard refuses ----
reason() {
	case $1 in
	missing) echo "HTTP status 404 (File not found)" ;;
	short) echo "the server closed the connection after [0-9]* of the [0-9]* bytes it announced" ;;
	shortchunk) echo "the server closed the connection in the middle of a chunk" ;;
	huge) echo "the answer is larger than 16777216 bytes (Content-Length: 1099511627776)" ;;
	flood | floodchunk) echo "the answer is larger than 16777216 bytes" ;;
	trickle) echo "the answer was not complete within the timeout" ;;
	headers) echo "the answer's header is longer than 100 lines or 65536 bytes" ;;
	gzip) echo "the answer is sent with Content-Encoding: gzip, which is not supported" ;;
	https) echo "redirected (HTTP 301) to https://127.0.0.1:[0-9]*/ca.crl: only http:// URLs are followed" ;;
	lthttps) echo "redirected (HTTP 301) to https://127.0.0.1/ca.crl: only http:// URLs are followed" ;;
	ldap) echo "redirected (HTTP 302) to ldap://127.0.0.1/cn=x: only http:// URLs are followed" ;;
	loop) echo "more than 3 redirections (the last, HTTP 302, to $X/loop/4/ca.crl)" ;;
	noloc) echo "a redirection (HTTP 302) without a Location" ;;
	hangup) echo "the server closed the connection without answering" ;;
	down) echo "cannot connect: Connection refused" ;;
	html) echo "the answer is not a CRL (DER or PEM)" ;;
	esac
}
# warns MS URL REASON: in less than MS milliseconds, soft warned (exit 0),
# the summary naming URL and REASON
warns() {
	[ "$MS" -lt "$1" ] && rc_is 0 && grep -q 'warning: nothing could tell' "$TMP/err" &&
		grep -q -- "^  revocation:  unknown: CRL $2: $3\$" "$TMP/err"
}
for u in $BAD_URLS; do
	n=${u%%:*}
	url=${u#*:}
	limit=3000
	[ "$n" != trickle ] || limit=8000
	ver "$R/bad-$n.signed"
	check "CRL $n: soft warns (exit 0), naming the URL and why: $(reason "$n" | sed 's/\[0-9\]\*/N/g')" \
		warns "$limit" "$url" "$(reason "$n")"
done
ver --revocation hard "$R/bad-short.signed"
check "...hard refuses (exit 1) when the CRL cannot be fetched" \
	rc_err 1 "could not check whether the signer's certificate is revoked: CRL $X/short/ca.crl: the server closed"
ver --revocation hard "$R/bad-down.signed"
check "...and a refused connection fails at once under hard too" \
	rc_err 1 "could not check whether the signer's certificate is revoked: CRL $DOWN/ca.crl: cannot connect: Connection refused"
# the cap holds in memory too: a server streaming without end
maxrss() { # CMD...: run it; its peak resident memory in KiB in $RSS
	RSS=$(python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "w") as o, open(sys.argv[2], "w") as e:
    subprocess.run(sys.argv[3:], stdout=o, stderr=e)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$TMP/out" "$TMP/err" "$@")
}
rm -rf "$P11SMIME_HOME/crls"
maxrss "$P11SMIME" verify $A "$R/bad-floodchunk.signed"
check "a server that streams chunks for ever: p11smime stops at the cap, within 200 MB ($RSS KiB)" \
	sh -c "[ '$RSS' -lt 204800 ] && grep -q 'larger than 16777216 bytes' '$TMP/err'"

# ---- OCSP ----
for n in ocsp ocsplt; do
	case $n in ocsp) w="openssl ocsp (HTTP/1.0)" u=$O ;; *) w="lighttpd's CGI (chunked)" u=$L/cgi/ocsp.cgi ;; esac
	ver --revocation hard "$R/ok-$n.signed"
	check "OCSP, $w: good (hard: exit 0)" rc_err 0 "revocation:  good: the OCSP responder $u"
	ver "$R/rev-$n.signed"
	check "...revoked: refused (exit 1)" rc_err 1 "revoked on .*(keyCompromise)" "REVOKED"
done
ver --revocation hard "$R/ok-ocspkeep.signed"
check "OCSP, keep-alive with Content-Length, the connection left open: good, at once" \
	quick 0 "good: the OCSP responder $X/keepalive/ok-ocspkeep.ors"
ver "$R/rev-ocspchunk.signed"
check "OCSP, chunked with an extension and a trailer: revoked (exit 1)" rc_err 1 "revoked on"
ver "$R/rev-ocspclose.signed"
check "OCSP, HTTP/1.0 without Content-Length: revoked (exit 1)" rc_err 1 "revoked on"
ver "$R/bad-ocspredir.signed"
check "OCSP: a redirection is not followed for a POST, and the warning says so" \
	rc_err 0 "OCSP $X/to/307/ok-ocspkeep.ors: the answer is a redirection (HTTP 307) to $X/ok-ocspkeep.ors, which is not followed for a POST"
ver "$R/bad-ocspplain.signed"
check "OCSP: an answer of another Content-Type is refused, naming it" \
	rc_err 0 "OCSP $X/plain/ok-ocspkeep.ors: the answer is of type text/plain, not application/ocsp-response"
ver --revocation hard "$R/bad-ocspflood.signed"
check "OCSP: an endless answer stops at the cap (1 MiB); hard refuses" \
	rc_err 1 "OCSP $X/flood/ok-ocspkeep.ors: the answer is larger than 1048576 bytes"

# ---- AIA caIssuers (read to the end, any content) ----
aver() { timed "$P11SMIME" verify --anchors "$R/root.cert.pem" --revocation off "$@"; }
for u in $AIA_GOOD; do
	n=${u%%:*}
	case $n in
	py) w="http.server (application/pkix-cert)" ;;
	lt) w="lighttpd, a static file" ;;
	ltchunk) w="lighttpd's CGI, chunked" ;;
	lt303) w="a lighttpd redirection (303)" ;;
	*) w=$(what "$n") ;;
	esac
	aver "$R/aia-$n.signed"
	check "AIA, $w: the intermediate is fetched, the chain completes" \
		quick 0 "signature OK" "trusted via: CN=HTTP Root"
done
aver --no-aia "$R/aia-lt.signed"
check "...and without the fetch (--no-aia) it does not chain" rc_err 1 "does not chain"
for u in $AIA_BAD; do
	n=${u%%:*}
	url=${u#*:}
	case $n in
	short) r="the server closed the connection after [0-9]* of the [0-9]* bytes it announced" ;;
	flood) r="the answer is larger than 1048576 bytes" ;;
	https) r="redirected (HTTP 301) to https://127.0.0.1:[0-9]*/int.cer: only http:// URLs are followed" ;;
	loop) r="more than 3 redirections" ;;
	esac
	aver "$R/aiabad-$n.signed"
	check "AIA $n: does not chain (exit 1), naming the URL and why" \
		quick 1 "does not chain.*the issuer could not be fetched from $url: $r"
done
done_testing
