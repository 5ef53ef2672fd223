# p11smime integration tests: shared helpers. Source it from a test.
#
# Every test runs the real p11smime binary on fresh SoftHSM tokens made by
# softhsm-fixtures/mkfixtures.sh in its own temporary folder, with its own
# HOME, P11SMIME_HOME, TMPDIR, SOFTHSM2_CONF and so on (tests/testenv.sh):
# nothing outside $TMP is written but the build tree's cached PKI, and
# nothing of the caller's environment is inherited that could change an
# outcome. Servers a test starts are stopped however it ends. Output is TAP.
set -u

: "${top_srcdir:?run through make check (top_srcdir unset)}"
: "${top_builddir:?run through make check (top_builddir unset)}"

P11SMIME=${P11SMIME_BIN:-$top_builddir/p11smime}
KEYTEST=$top_builddir/tests/tools/psm-keytest
MKFIX=$top_srcdir/softhsm-fixtures/mkfixtures.sh

# shellcheck source=../testenv.sh
. "$top_srcdir/tests/testenv.sh"
psm_env_common
TMP=$(mktemp -d "${TMPDIR:-/tmp}/p11smime-test.XXXXXX") && [ -d "$TMP" ] ||
	{ echo "Bail out! cannot make a temporary folder in ${TMPDIR:-/tmp}"; exit 1; }

# at_exit COMMAND: run COMMAND (shell code) when the test ends, however it
# ends (done, failed, bailed out, killed by SIGTERM, SIGINT or SIGHUP);
# the last registered runs first. bg_started PID: a process the test
# started in the background (a server), stopped then; bg_stop PID stops
# one earlier.
_psm_at_exit=
_psm_pids=
at_exit() { _psm_at_exit="$1
$_psm_at_exit"; }
bg_started() { _psm_pids="$_psm_pids $1"; }
bg_stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	_psm_pids=$(printf ' %s ' $_psm_pids | sed "s/ $1 / /g")
	return 0
}
_psm_cleanup() {
	local p
	trap - EXIT HUP INT TERM
	eval "$_psm_at_exit"
	for p in $_psm_pids; do kill "$p" 2>/dev/null; done
	for p in $_psm_pids; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap _psm_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
psm_env_home "$TMP" || { echo "Bail out! cannot make the test's folders in $TMP"; exit 1; }

_tap_n=0
_tap_fail=0

plan() { echo "1..$1"; }

ok() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}

not_ok() {
	_tap_n=$((_tap_n + 1))
	_tap_fail=$((_tap_fail + 1))
	echo "not ok $_tap_n - $*"
}

diag() { sed 's/^/# /' ; }

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds
check() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		not_ok "$desc"
		{ echo "command: $*"; echo "--- rc=$RC stdout:"; head -c 3000 "$TMP/out"
		  echo "--- stderr:"; head -c 3000 "$TMP/err"; } 2>/dev/null | diag
	fi
}

# run ARGS...: run p11smime, keep stdout in $TMP/out, stderr in $TMP/err,
# exit code in $RC
RC=0
run() {
	RC=0
	"$P11SMIME" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# run_cmd CMD ARGS...: same for any command
run_cmd() {
	RC=0
	"$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

rc_is() { [ "$RC" -eq "$1" ]; }
out_has() { grep -qF -- "$1" "$TMP/out"; }
err_has() { grep -qiF -- "$1" "$TMP/err"; }
out_lacks() { ! grep -qF -- "$1" "$TMP/out"; }
err_lacks() { ! grep -qF -- "$1" "$TMP/err"; }
# one clear line on stderr
err_one_line() { [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q '^p11smime: ' "$TMP/err"; }
json_ok() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/out"; }
# json_q EXPR: evaluate a Python expression over the parsed output `d`
json_q() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ('"$1"') else 1)' "$TMP/out"; }

# The test PKI is made once per build tree (it takes a few seconds) and
# made anew when mkfixtures.sh changed or it is a day old (mkfixtures.sh
# cached-pki); tokens are made fresh for each test.
pki_dir() {
	"$MKFIX" cached-pki "$top_builddir/tests/pki" 2>"$TMP/pki.err"
}

# fixtures: fresh tokens in $TMP/fx; exports SOFTHSM2_CONF, MODULE, PKI, ...
fixtures() {
	local pki
	mkdir -p "$top_builddir/tests"
	pki=$(pki_dir) ||
		{ echo "Bail out! could not make the test PKI (see tests/pki.log)"; diag <"$TMP/pki.err"; exit 1; }
	"$MKFIX" tokens "$pki" "$TMP/fx" >"$TMP/fx.log" 2>&1 ||
		{ echo "Bail out! mkfixtures.sh tokens failed"; cat "$TMP/fx.log" | diag; exit 1; }
	# shellcheck disable=SC1091
	. "$TMP/fx/env.sh"
	MODULE=$P11SMIME_TEST_MODULE
	PKI=$P11SMIME_TEST_PKI
	USER_PIN=file:$P11SMIME_TEST_USER_PIN_FILE
	PIV_PIN=file:$P11SMIME_TEST_PIV_PIN_FILE
}

# http_server DOCROOT DIR: a real HTTP server on loopback (tests/integration/
# http_server.py) serving DOCROOT, logging requests to DIR/http.log, on a
# port the kernel gives it; sets HTTP_PID and H (its port). Stopped when
# the test ends (or with http_server_stop).
http_server() {
	local root=$1 dir=$2
	: >"$dir/http.log"
	python3 "$top_srcdir/tests/integration/http_server.py" "$root" "$dir/http.port" \
		"$dir/http.log" 2>"$dir/http.err" &
	HTTP_PID=$!
	bg_started "$HTTP_PID"
	for _ in $(seq 1 100); do [ -s "$dir/http.port" ] && break; sleep 0.1; done
	[ -s "$dir/http.port" ] || { echo "Bail out! the HTTP server did not start"; diag <"$dir/http.err"; exit 1; }
	H=$(cat "$dir/http.port")
}

# http_server_stop: stop it, and keep its port from anyone else (see
# hold_port) so that connecting to it is refused for the rest of the test
http_server_stop() {
	bg_stop "$HTTP_PID"
	hold_port "$H"
}

# hold_port PORT: bind PORT on 127.0.0.1 (0: one the kernel picks) without
# listening, until the test ends: a connection to it is refused, and no
# other program is given it (the kernel gives no port that is bound).
# Sets HELD_PORT.
hold_port() {
	local f
	f=$(mktemp "$TMP/hold.XXXXXX")
	python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
print(s.getsockname()[1], flush=True)
time.sleep(86400)' "$1" >"$f" 2>"$f.err" &
	bg_started $!
	for _ in $(seq 1 100); do [ -s "$f" ] && break; kill -0 $! 2>/dev/null || break; sleep 0.05; done
	[ -s "$f" ] || { echo "Bail out! cannot hold port $1 on 127.0.0.1"; diag <"$f.err"; exit 1; }
	HELD_PORT=$(cat "$f")
}

# pid_listens PID PORT: process PID (itself) has a TCP socket listening on
# PORT, by /proc (not by connecting: a server may serve one connection at
# a time and wait for a request)
pid_listens() {
	python3 - "$1" "$2" <<'PY'
import os, sys
pid, port = sys.argv[1], "%04X" % int(sys.argv[2])
inodes = set()
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(f).read().splitlines()[1:]
    except OSError:
        continue
    for r in rows:
        c = r.split()
        if c[1].endswith(":" + port) and c[3] == "0A":
            inodes.add("socket:[%s]" % c[9])
try:
    fds = os.listdir("/proc/%s/fd" % pid)
except OSError:
    sys.exit(1)
for fd in fds:
    try:
        if os.readlink("/proc/%s/fd/%s" % (pid, fd)) in inodes:
            sys.exit(0)
    except OSError:
        pass
sys.exit(1)
PY
}

# uri_value TEXT: TEXT percent-encoded for a pkcs11: URI's query (RFC 7512)
uri_value() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/:"))' "$1"; }

# gpgsm_import_key NAME ADDRESS: gpgsm imports $PKI/NAME's key and
# certificate into $GNUPGHOME, as a PKCS#12 file of 3DES and a SHA-1 MAC
# (all gpgsm 2.2 reads; password "test"). gpgsm 2.2.40 rejects about one
# in a hundred such files that openssl makes and reads itself ("possibly
# bad passphrase", the same file every time: it depends on openssl's
# random salts), so a new file is made and imported until gpgsm has the
# secret key for ADDRESS (a crs: record), three times at most; then it
# bails out, showing what gpgsm said.
gpgsm_import_key() {
	local i p12=$TMP/$1-legacy.p12
	: >"$TMP/gpgsm-import.log"
	for i in 1 2 3; do
		echo "--- import $i" >>"$TMP/gpgsm-import.log"
		openssl pkcs12 -export -in "$PKI/$1.cert.pem" -inkey "$PKI/$1.key.pem" -passout pass:test \
			-certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 -out "$p12" \
			>>"$TMP/gpgsm-import.log" 2>&1 &&
			gpgsm --batch --import "$p12" >>"$TMP/gpgsm-import.log" 2>&1
		gpgsm --batch --with-colons --list-secret-keys "$2" 2>/dev/null | grep -q '^crs:' && return 0
	done
	echo "Bail out! gpgsm has no secret key for $2 after three imports of $1's key"
	diag <"$TMP/gpgsm-import.log"
	exit 1
}

done_testing() {
	[ "$_tap_n" -gt 0 ] || { echo "Bail out! no test ran"; exit 1; }
	exit 0
}
