#!/usr/bin/env bash
# bench/bench.sh - p11smime side by side with its peers: the SAME SoftHSM
# token, the SAME key (alice, RSA-2048, pkcs11:token=p11smime-user;object=alice),
# the same messages, one run, one table.
#
#   bench/bench.sh [BUILD_DIR]        (make bench runs it with the build dir)
#
# Tools (one row each, functions below):  openssl cms + libp11 engine,
# gpgsm + gnupg-pkcs11-scd (warm agent, and cold: agent restarted per
# message), NSS cmsutil, p11smime, and the token's ceiling (raw C_Sign loop).
# Workloads: sign/verify a ~2 KiB mail, one process per message, BENCH_RUNS
# times (hyperfine if installed, else a timed loop); sign/verify a large
# message (BENCH_LARGE_MB MiB), wall time and peak RSS (GNU time).
#
# Environment (all optional):
#   BENCH_FIXTURES   existing `mkfixtures.sh all` dir (default: fresh, temporary)
#   BENCH_LARGE_MB   size of the large message body in MiB (default 256; 0 = skip)
#   BENCH_RUNS       runs per small operation (default 50)
#   BENCH_CEILING_N  signatures in the raw C_Sign loop (default 1000)
#   BENCH_TIMEOUT    seconds before one command counts as hung (default 600)
#   BENCH_TOOLS      tools to run, in table order
#                    (default: openssl gpgsm gpgsm_cold cmsutil p11smime ceiling)
#   BENCH_RESULTS    result file (default: bench/results/latest.txt)
#   BENCH_HYPERFINE  0 = use the shell loop even if hyperfine is installed
#   BENCH_KEEP       1 = keep the temporary folder (logs, outputs) and say where
#   P11SMIME_BIN     the p11smime program (default: from BUILD_DIR)
#
# A tool that fails shows "failed: <reason>" in its row; the run goes on.
# All state (fixtures, GNUPGHOME, NSS db, OPENSSL_CONF, HOME) lives in one
# temporary folder removed at exit; ~/.gnupg and friends are never touched.
# Adding a tool = a TOOL_setup function, TOOL_sign / TOOL_verify functions
# that fill CMD (see "The tools"), and its name in TOOLS.
set -uo pipefail # no -e: one failing tool must not stop the run

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORIG_PWD=$PWD
SRCDIR=$(cd "$HERE/.." && pwd)
BUILD=$(cd "${1:-$SRCDIR}" 2>/dev/null && pwd) || { echo "bench.sh: no build dir ${1:-}" >&2; exit 2; }

LARGE_MB=${BENCH_LARGE_MB:-256}
RUNS=${BENCH_RUNS:-50}
CEILING_N=${BENCH_CEILING_N:-1000}
TIMEOUT=${BENCH_TIMEOUT:-600}
RESULTS=${BENCH_RESULTS:-$HERE/results/latest.txt}
[[ $RESULTS == /* ]] || RESULTS=$ORIG_PWD/$RESULTS
read -r -a TOOLS <<<"${BENCH_TOOLS:-openssl gpgsm gpgsm_cold cmsutil p11smime ceiling}"
OPS=("sign small" "verify small" "sign large" "verify large")

readonly TOKEN=p11smime-user KEYLABEL=alice EMAIL=alice@example.org
readonly KEY_URI="pkcs11:token=$TOKEN;object=$KEYLABEL;type=private"

# ------------------------------------------------------------- plumbing ---

W=$(mktemp -d "${TMPDIR:-/tmp}/p11smime-bench.XXXXXX") || exit 1
cleanup() {
	# stop only the gpg-agent (and its scdaemon) of our own GNUPGHOME
	if [[ -d $W/gnupg ]]; then
		GNUPGHOME=$W/gnupg gpgconf --kill all >/dev/null 2>&1 || true
	fi
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "bench.sh: kept $W" >&2
	else
		rm -rf -- "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$W/home" "$W/out" "$W/log" "$W/in" "$W/p11smime-home"
export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_DATA_HOME=$W/home/.local/share
export XDG_CACHE_HOME=$W/home/.cache
export GNUPGHOME=$W/gnupg P11SMIME_HOME=$W/p11smime-home LC_ALL=C
# every OpenSSL (the tools', and the checks') reads this empty config; only
# the openssl peer's sign gets the engine config (CMD_ENV)
: >"$W/openssl-plain.cnf"
export OPENSSL_CONF=$W/openssl-plain.cnf
unset P11_KIT_SERVER_ADDRESS SOFTHSM2_CONF
cd "$W" || exit 1 # whatever a tool drops in its cwd goes away with W

say() { printf '%s\n' "$*" >&2; }

# reason LOG STATUS: one line for a failed cell: the last line the tool
# wrote, or its exit status / signal; short and free of '|'
reason() {
	local line sig
	line=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | grep -v '^Engine "pkcs11" set' | tail -n 1)
	line=${line//|//}
	line=${line//$'\t'/ }
	if (($2 > 128)); then
		sig=$(kill -l "$(($2 - 128))" 2>/dev/null)
		line="killed by SIG${sig:-$(($2 - 128))}${line:+: $line}"
	fi
	[[ -n $line ]] || line="exit status $2, no message"
	printf '%.90s' "$line"
}

# quote a word for hyperfine -N (shell-words syntax: POSIX single quotes)
shq() { local s=$1; printf "'%s'" "${s//\'/\'\\\'\'}"; }

have() { command -v "$1" >/dev/null 2>&1; }

# ------------------------------------------------------------- fixtures ---

make_fixtures() {
	if [[ -n ${BENCH_FIXTURES:-} ]]; then
		FX=$(cd "$ORIG_PWD" && cd "$BENCH_FIXTURES" && pwd) || return 1
		[[ -f $FX/env.sh ]] || { say "bench.sh: $FX/env.sh missing (mkfixtures.sh all $FX)"; return 1; }
	else
		FX=$W/fx
		say "bench.sh: making fixtures (mkfixtures.sh all) ..."
		"$SRCDIR/softhsm-fixtures/mkfixtures.sh" all "$FX" >"$W/log/fixtures.log" 2>&1 ||
			{ cat "$W/log/fixtures.log" >&2; return 1; }
	fi
	# shellcheck disable=SC1091
	. "$FX/env.sh"
	MODULE=$P11SMIME_TEST_MODULE
	PKI=$P11SMIME_TEST_PKI
	PIN_FILE=$P11SMIME_TEST_USER_PIN_FILE
}

# ------------------------------------------------------------- messages ---
# For each size (small, large):
#   IN_MAIL  RFC 5322 message, LF line ends (as mail sits in a Maildir):
#            what p11smime signs (it keeps From/To/... outside and signs the
#            body entity, canonicalising it itself)
#   IN_LF    that body entity alone (Content-Type + CTE + body), LF: what
#            openssl cms -sign gets, in its text mode (no -binary), so
#            openssl canonicalises LF -> CRLF itself, as p11smime does
#   IN_CRLF  the same entity already canonical (CRLF): what gpgsm and
#            cmsutil get; they sign bytes as given, so a mail client
#            canonicalises before calling them
#   REF_EML  a multipart/signed mail by alice over that entity (made once,
#            software key): what openssl and p11smime verify
#   REF_P7S  a detached DER signature by alice over IN_CRLF (made once,
#            software key): what gpgsm and cmsutil verify
declare -A IN_MAIL IN_LF IN_CRLF REF_EML REF_P7S LABEL

LINE='The quick brown fox jumps over the lazy dog while p11smime signs 0123456789.'

# write_message SIZE BODY-LINES
write_message() {
	local size=$1 lines=$2 d=$W/in
	IN_MAIL[$size]=$d/$size.eml IN_LF[$size]=$d/$size.entity.lf IN_CRLF[$size]=$d/$size.entity.crlf
	REF_EML[$size]=$d/$size.ref.eml REF_P7S[$size]=$d/$size.ref.p7s
	{
		printf 'Content-Type: text/plain; charset=us-ascii\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		yes "$LINE" | head -n "$lines"
	} >"${IN_LF[$size]}"
	{
		printf 'From: Alice <%s>\nTo: Bob <bob@example.org>\n' "$EMAIL"
		printf 'Subject: p11smime benchmark (%s)\nDate: Sat, 28 Nov 2026 12:00:00 +0000\n' "$size"
		printf 'Message-ID: <bench-%s@example.org>\nMIME-Version: 1.0\n' "$size"
		cat "${IN_LF[$size]}"
	} >"${IN_MAIL[$size]}"
	sed 's/$/\r/' "${IN_LF[$size]}" >"${IN_CRLF[$size]}"
	# reference signatures, software key, plain OpenSSL
	{
		head -n 5 "${IN_MAIL[$size]}"
		openssl cms -sign -in "${IN_LF[$size]}" -signer "$PKI/alice.cert.pem" \
			-inkey "$PKI/alice.key.pem" -certfile "$PKI/intermediate-ca.cert.pem" -md sha256
	} >"${REF_EML[$size]}" &&
		openssl cms -sign -binary -in "${IN_CRLF[$size]}" -signer "$PKI/alice.cert.pem" \
			-inkey "$PKI/alice.key.pem" -certfile "$PKI/intermediate-ca.cert.pem" -md sha256 \
			-outform DER -out "${REF_P7S[$size]}"
}

human_size() {
	awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.0f MiB", b / 1048576;
		else printf "%.1f KiB", b / 1024 }'
}

make_messages() {
	write_message small 25 || return 1
	LABEL[small]=$(human_size "$(stat -c %s "${IN_MAIL[small]}")")
	if ((LARGE_MB > 0)); then
		say "bench.sh: writing the ${LARGE_MB} MiB message ..."
		write_message large $((LARGE_MB * 1048576 / (${#LINE} + 1))) || return 1
		LABEL[large]=$(human_size "$(stat -c %s "${IN_MAIL[large]}")")
	fi
}

# --------------------------------------------------------------- checks ---
# Run once, untimed, on what a tool produced: a tool that exits 0 but writes
# a bad signature must not get a time.

# check_smime FILE: a valid S/MIME signed mail by a key chaining to the root
check_smime() {
	openssl cms -verify -CAfile "$PKI/anchors.pem" -purpose smimesign -in "$1" -out "$W/out/check.content"
}
# check_p7s SIG CONTENT: a valid detached DER signature over CONTENT
check_p7s() {
	openssl cms -verify -inform DER -binary -content "$2" -CAfile "$PKI/anchors.pem" \
		-purpose smimesign -in "$1" -out "$W/out/check.content"
}

# ------------------------------------------------------------ the tools ---
# TOOL_setup: prepare the tool once (configuration, databases). Non-zero
#   with a message on stderr = every row of the tool says "failed: ...".
# TOOL_sign SIZE / TOOL_verify SIZE: fill
#   CMD      the command (argv) to time; it runs with the cwd of bench.sh
#   CMD_ENV  VAR=VALUE words exported for it (optional)
#   PREP     an untimed command run before each timed run (optional)
#   CHECK    a command run once, untimed, after the first run; must succeed
#   NOTE     a short note for the table (optional)
#   CUSTOM   a function that measures the row itself instead (optional)
#   and return 0; return 2 = no such row (not applicable); other = failed.

# --- openssl cms through libp11's pkcs11 engine
openssl_setup() {
	have openssl || { echo "openssl not installed"; return 1; }
	local enginesdir engine=""
	enginesdir=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
	for engine in "$enginesdir/pkcs11.so" /usr/lib/*/engines-3/pkcs11.so; do
		[[ -f $engine ]] && break
	done
	[[ -f $engine ]] || { echo "no pkcs11.so engine (apt-get install libengine-pkcs11-openssl)"; return 1; }
	cat >"$W/openssl-engine.cnf" <<EOF
# libp11's engine on the fixture token (written by bench.sh)
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $engine
MODULE_PATH = $MODULE
init = 0
EOF
	OPENSSL_CONF=$W/openssl-engine.cnf openssl engine -t pkcs11 2>&1 | grep -q available ||
		{ echo "the pkcs11 engine does not load ($engine)"; return 1; }
}
openssl_sign() {
	local out=$W/out/openssl.sign.$1.eml
	CMD_ENV=("OPENSSL_CONF=$W/openssl-engine.cnf")
	# -passin file: is read by the engine's UI as the token PIN (a
	# ?pin-source=file:... in the URI works as well)
	CMD=(openssl cms -sign -engine pkcs11 -keyform engine -inkey "$KEY_URI"
		-passin "file:$PIN_FILE" -signer "$PKI/alice.cert.pem"
		-certfile "$PKI/intermediate-ca.cert.pem" -md sha256
		-in "${IN_LF[$1]}" -out "$out")
	CHECK=(check_smime "$out")
	NOTE="text mode (LF in, canonicalises)"
}
openssl_verify() {
	CMD=(openssl cms -verify -CAfile "$PKI/anchors.pem" -certfile "$PKI/chain.pem"
		-in "${REF_EML[$1]}" -out "$W/out/openssl.verify.$1.content")
	CHECK=(true) # its exit status is the verdict
	NOTE="no token"
}

# --- gpgsm with gnupg-pkcs11-scd as its scdaemon
gpgsm_setup() {
	local t
	for t in gpgsm gpg-agent gpgconf gnupg-pkcs11-scd; do
		have "$t" || { echo "$t not installed (apt-get install gpgsm gnupg-pkcs11-scd)"; return 1; }
	done
	mkdir -m 700 "$GNUPGHOME"
	# gpg-agent asks a pinentry for the token PIN even in --batch: this
	# one speaks just enough Assuan (OK to everything, the PIN to GETPIN)
	cat >"$GNUPGHOME/pinentry.sh" <<EOF
#!/bin/sh
# bench pinentry (written by bench.sh): answers GETPIN from the PIN file
echo "OK ready"
while read -r cmd rest; do
	case "\$cmd" in
	GETPIN) printf 'D %s\nOK\n' "\$(cat '$PIN_FILE')" ;;
	BYE) echo OK; exit 0 ;;
	*) echo OK ;;
	esac
done
EOF
	chmod 700 "$GNUPGHOME/pinentry.sh"
	cat >"$GNUPGHOME/gpg-agent.conf" <<EOF
scdaemon-program $(command -v gnupg-pkcs11-scd)
pinentry-program $GNUPGHOME/pinentry.sh
EOF
	cat >"$GNUPGHOME/gnupg-pkcs11-scd.conf" <<EOF
providers p1
provider-p1-library $MODULE
EOF
	# no CRL or OCSP server exists for the test PKI; never start dirmngr
	printf 'disable-crl-checks\ndisable-dirmngr\n' >"$GNUPGHOME/gpgsm.conf"
	# trust the test root for S/MIME ("relax": no CRL for it either)
	printf '%s S relax\n' "$(openssl x509 -in "$PKI/root-ca.cert.pem" -noout -fingerprint -sha1 |
		cut -d= -f2 | tr -d :)" >"$GNUPGHOME/trustlist.txt"
	gpgsm --batch --import "$PKI/root-ca.cert.pem" "$PKI/intermediate-ca.cert.pem" \
		"$PKI/alice.cert.pem" || { echo "certificate import failed"; return 1; }
	# learn-card starts agent + scd, reads the token's certificates and
	# records that alice's key is on the "card"
	gpgsm --batch --learn-card || { echo "gpgsm --learn-card failed"; return 1; }
	gpgsm --batch --with-colons -K "$EMAIL" | grep -q '^crs:' ||
		{ echo "gpgsm sees no secret key for $EMAIL after --learn-card"; return 1; }
}
gpgsm_sign() {
	local out=$W/out/gpgsm.sign.$1.p7s
	CMD=(gpgsm --batch --yes -u "$EMAIL" --detach-sign -o "$out" "${IN_CRLF[$1]}")
	# checked by gpgsm itself: with gnupg-pkcs11-scd about every second
	# RSA signature comes out 257 bytes long (a 00 in front), which
	# gpgsm and p11smime accept; OpenSSL and NSS reject it (see README.md)
	CHECK=(gpgsm_check_verify "$out" "${IN_CRLF[$1]}")
	NOTE="DER sig only; agent+scd warm, not in RSS"
}
gpgsm_check_verify() {
	gpgsm --batch --status-fd 1 --verify "$1" "$2" >"$W/log/gpgsm.status" || return 1
	grep -q '^\[GNUPG:\] GOODSIG' "$W/log/gpgsm.status" &&
		grep -q '^\[GNUPG:\] TRUST_FULLY' "$W/log/gpgsm.status"
}
gpgsm_verify() {
	CMD=(gpgsm --batch --verify "${REF_P7S[$1]}" "${IN_CRLF[$1]}")
	CHECK=(gpgsm_check_verify "${REF_P7S[$1]}" "${IN_CRLF[$1]}")
	NOTE="detached; no token"
}

# --- gpgsm again, but gpg-agent and scdaemon killed before each message,
#     so each one pays agent + scd start, module load and token login like
#     the one-shot tools do
gpgsm_cold_setup() { tool_ready gpgsm || { echo "needs gpgsm: ${SETUP_ERR[gpgsm]#setup: }"; return 1; }; }
gpgsm_cold_sign() {
	[[ $1 == small ]] || return 2
	gpgsm_sign "$1"
	PREP=(gpgconf --kill all)
	NOTE="agent+scd started per message"
}

# --- NSS cmsutil with SoftHSM added to an NSS database
cmsutil_setup() {
	local t db=$W/nss
	for t in cmsutil certutil modutil; do
		have "$t" || { echo "$t not installed (apt-get install libnss3-tools)"; return 1; }
	done
	mkdir -p "$db"
	certutil -N -d "sql:$db" --empty-password || { echo "certutil -N failed"; return 1; }
	# -force: modutil asks for confirmation on a tty otherwise
	modutil -dbdir "sql:$db" -add softhsm -libfile "$MODULE" -force ||
		{ echo "modutil -add failed"; return 1; }
	if ! certutil -A -d "sql:$db" -n bench-root -t C,C,C -i "$PKI/root-ca.cert.pem" ||
		! certutil -A -d "sql:$db" -n bench-intermediate -t ,, -i "$PKI/intermediate-ca.cert.pem"; then
		echo "certutil -A failed"
		return 1
	fi
	# token certificates are named TOKEN:LABEL
	certutil -L -d "sql:$db" -h "$TOKEN" -f "$PIN_FILE" | grep -q "^$TOKEN:$KEYLABEL " ||
		{ echo "NSS does not list $TOKEN:$KEYLABEL"; return 1; }
}
cmsutil_sign() {
	local out=$W/out/cmsutil.sign.$1.p7s
	# -T detached, -G signing time, -P S/MIME capabilities; -f: token PIN
	CMD=(cmsutil -S -N "$TOKEN:$KEYLABEL" -T -G -P -H SHA256 -d "sql:$W/nss"
		-f "$PIN_FILE" -i "${IN_CRLF[$1]}" -o "$out")
	CHECK=(check_p7s "$out" "${IN_CRLF[$1]}")
	NOTE="DER sig only; reads input into memory"
}
cmsutil_check_verify() {
	# cmsutil -D exits 0 even on a bad signature: read its verdict
	cmsutil -D -d "sql:$W/nss" -c "$2" -i "$1" -u 4 -n -h 1 >"$W/log/cmsutil.status" || return 1
	grep -q 'signer0.status=GoodSignature' "$W/log/cmsutil.status"
}
cmsutil_verify() {
	# -u 4: certUsageEmailSigner; -n: no content out; -h 1: verdict as headers
	CMD=(cmsutil -D -d "sql:$W/nss" -c "${IN_CRLF[$1]}" -i "${REF_P7S[$1]}" -u 4 -n -h 1
		-o "$W/out/cmsutil.verify.$1.txt")
	CHECK=(cmsutil_check_verify "${REF_P7S[$1]}" "${IN_CRLF[$1]}")
	NOTE="detached; no token"
}

# --- p11smime itself
P11SMIME=""
p11smime_setup() {
	if [[ -n ${P11SMIME_BIN:-} ]]; then
		P11SMIME=$P11SMIME_BIN
		[[ $P11SMIME != */* || $P11SMIME == /* ]] || P11SMIME=$ORIG_PWD/$P11SMIME
		[[ $P11SMIME == */* ]] || P11SMIME=$(command -v "$P11SMIME")
	elif [[ -x $BUILD/.libs/p11smime ]]; then
		# run the real binary, not libtool's wrapper script (a bash start-up
		# per run would be charged to p11smime)
		P11SMIME=$BUILD/.libs/p11smime
		P11SMIME_ENV=("LD_LIBRARY_PATH=$BUILD/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
	else
		P11SMIME=$BUILD/p11smime
	fi
	[[ -x $P11SMIME ]] || { echo "no $P11SMIME (build it first: make)"; return 1; }
	local help
	help=$(timeout 10 env "${P11SMIME_ENV[@]}" "$P11SMIME" --help 2>&1) || { echo "$P11SMIME --help failed"; return 1; }
	P11SMIME_HAS=$help
}
P11SMIME_ENV=()
P11SMIME_HAS=""
p11smime_has() {
	grep -qE "^ +$1( |$)" <<<"$P11SMIME_HAS" || { echo "p11smime has no '$1' command yet"; return 1; }
}
p11smime_sign() {
	p11smime_has sign || return 1
	local out=$W/out/p11smime.sign.$1.eml
	CMD_ENV=("${P11SMIME_ENV[@]}")
	CMD=("$P11SMIME" --module "$MODULE" --pin-source "file:$PIN_FILE"
		sign --key "$KEY_URI" --anchors "$PKI/anchors.pem" -o "$out" "${IN_MAIL[$1]}")
	CHECK=(check_smime "$out")
	NOTE="whole mail in, MIME out"
}
p11smime_verify() {
	p11smime_has verify || return 1
	CMD_ENV=("${P11SMIME_ENV[@]}")
	# never -o /dev/null: OUT is replaced atomically (rename), and a rename
	# onto /dev/null as root replaces the device with a file
	CMD=("$P11SMIME" verify --anchors "$PKI/anchors.pem"
		-o "$W/out/p11smime.verify.$1.content" "${REF_EML[$1]}")
	CHECK=(true) # exit 0 = valid, trusted, matching signer
	NOTE="no token"
}

# --- the token's ceiling: raw C_Sign on one logged-in session
ceiling_setup() {
	local cc=${CC:-cc} cflags
	have "$cc" || { echo "no C compiler ($cc)"; return 1; }
	cflags=$(pkg-config --cflags p11-kit-1 2>/dev/null || echo -I/usr/include/p11-kit-1)
	# shellcheck disable=SC2086 # word splitting of cflags is wanted
	"$cc" -std=c99 -O2 -Wall $cflags -o "$W/raw_sign" "$HERE/raw_sign.c" -ldl -lm ||
		{ echo "raw_sign.c does not build"; return 1; }
}
ceiling_sign() {
	[[ $1 == small ]] || return 2
	CUSTOM=ceiling_measure
}
# ceiling_measure KEY LOG: mean and sd per C_Sign over 2 KiB, RSS of the loop
ceiling_measure() {
	local key=$1 log=$2 line rss rc
	timeout "$TIMEOUT" /usr/bin/time -f '%e %M' -o "$W/log/ceiling.time" \
		"$W/raw_sign" "$MODULE" "$TOKEN" "$KEYLABEL" "$PIN_FILE" "$CEILING_N" 2048 \
		>"$W/log/ceiling.out" 2>"$log"
	rc=$?
	if ((rc != 0)); then
		R_STATUS[$key]="failed: $(reason "$log" "$rc")"
		return
	fi
	line=$(cat "$W/log/ceiling.out")
	rss=$(tail -n 1 "$W/log/ceiling.time" | awk '{ print $2 }')
	R_TIME[$key]=$(sed -n 's/.* mean_ms=\([0-9.]*\).*/\1/p' <<<"$line" | awk '{ print $1 / 1000 }')
	R_SD[$key]=$(sed -n 's/.* sd_ms=\([0-9.]*\).*/\1/p' <<<"$line" | awk '{ print $1 / 1000 }')
	R_RSS[$key]=$rss
	R_NOTE[$key]="per C_Sign, $(sed -n 's/.* per_sec=\([0-9]*\).*/\1/p' <<<"$line") sig/s, n=$CEILING_N"
	R_STATUS[$key]=ok
}

# ---------------------------------------------------------- measurement ---

declare -A SETUP_DONE SETUP_ERR R_TIME R_SD R_RSS R_STATUS R_NOTE

# tool_ready TOOL: run TOOL_setup once; 0 if the tool is usable
tool_ready() {
	local tool=$1 rc
	if [[ -z ${SETUP_DONE[$tool]:-} ]]; then
		SETUP_DONE[$tool]=1
		say "bench.sh: setting up $tool ..."
		"${tool}_setup" >"$W/log/$tool.setup.log" 2>&1
		rc=$?
		((rc == 0)) || SETUP_ERR[$tool]="setup: $(reason "$W/log/$tool.setup.log" "$rc")"
	fi
	[[ -z ${SETUP_ERR[$tool]:-} ]]
}

# run_in_env CMD...: run with CMD_ENV exported (in a subshell)
run_in_env() {
	(
		local kv
		for kv in "${CMD_ENV[@]}"; do export "${kv?}"; done
		exec "$@"
	)
}

# timed_once LOG TIMEFILE: one run of CMD under timeout and GNU time
timed_once() {
	local log=$1 tf=$2
	if ((${#PREP[@]})); then "${PREP[@]}" >/dev/null 2>&1; fi
	run_in_env timeout "$TIMEOUT" /usr/bin/time -f '%e %M' -o "$tf" "${CMD[@]}" \
		</dev/null >"$log.stdout" 2>"$log"
}

# stats FILE: mean and sample sd of the numbers in FILE (one per line)
stats() {
	awk '{ s += $1; ss += $1 * $1; n++ }
	     END { m = s / n; v = n > 1 ? (ss - s * s / n) / (n - 1) : 0;
	           printf "%.6f %.6f\n", m, (v > 0 ? sqrt(v) : 0) }' "$1"
}

# repeat_runs KEY LOG: mean and sd of RUNS runs of CMD
repeat_runs() {
	local key=$1 log=$2 i t0 t1 rc m sd kv cmdline word json=$W/log/hyperfine.json
	if [[ ${BENCH_HYPERFINE:-1} != 0 ]] && have hyperfine; then
		cmdline=""
		for word in "${CMD[@]}"; do cmdline+="$(shq "$word") "; done
		local -a hf=(hyperfine -N --style none --runs "$RUNS" --warmup 2 --export-json "$json")
		if ((${#PREP[@]})); then
			local prep=""
			for word in "${PREP[@]}"; do prep+="$(shq "$word") "; done
			hf+=(--prepare "$prep")
		fi
		rm -f "$json"
		run_in_env timeout "$((TIMEOUT * 2))" "${hf[@]}" -- "$cmdline" >"$log.hyperfine" 2>&1
		rc=$?
		if ((rc != 0)); then
			R_STATUS[$key]="failed: in repeated runs: $(reason "$log.hyperfine" "$rc")"
			return 1
		fi
		m=$(sed -n 's/^ *"mean": *\([0-9.eE+-]*\).*/\1/p' "$json" | head -n 1)
		sd=$(sed -n 's/^ *"stddev": *\([0-9.eE+-]*\).*/\1/p' "$json" | head -n 1)
		R_TIME[$key]=$(awk -v x="$m" 'BEGIN { printf "%.6f", x }')
		R_SD[$key]=$(awk -v x="${sd:-0}" 'BEGIN { printf "%.6f", x }')
		return 0
	fi
	# no hyperfine: a plain loop, one warm-up run, bash's clock (no fork
	# for the clock); the environment is exported once, outside the loop
	: >"$log.times"
	(
		for kv in "${CMD_ENV[@]}"; do export "${kv?}"; done
		for ((i = -1; i < RUNS; i++)); do
			if ((${#PREP[@]})); then "${PREP[@]}" >/dev/null 2>&1; fi
			t0=$EPOCHREALTIME
			"${CMD[@]}" </dev/null >/dev/null 2>"$log"
			rc=$?
			t1=$EPOCHREALTIME
			((rc == 0)) || exit "$rc"
			((i < 0)) || echo "$t0 $t1" >>"$log.times"
		done
	)
	rc=$?
	if ((rc != 0)); then
		R_STATUS[$key]="failed: in repeated runs: $(reason "$log" "$rc")"
		return 1
	fi
	read -r m sd < <(awk '{ print $2 - $1 }' "$log.times" | stats /dev/stdin)
	R_TIME[$key]=$m R_SD[$key]=$sd
}

# run_row OP SIZE TOOL
run_row() {
	local op=$1 size=$2 tool=$3 key="$1 $2|$3" rc log
	log=$W/log/$tool.$op.$size.err
	if ! tool_ready "$tool"; then
		R_STATUS[$key]="failed: ${SETUP_ERR[$tool]}"
		return
	fi
	CMD=() CMD_ENV=() PREP=() CHECK=() NOTE="" CUSTOM=""
	"${tool}_$op" "$size" >"$log" 2>&1
	rc=$?
	((rc == 2)) && return # no such row
	if ((rc != 0)); then
		R_STATUS[$key]="failed: $(reason "$log" "$rc")"
		return
	fi
	say "bench.sh: $op ${LABEL[$size]}: $tool ..."
	R_NOTE[$key]=$NOTE
	if [[ -n $CUSTOM ]]; then
		"$CUSTOM" "$key" "$log"
		return
	fi
	# first run: timeout guard, peak RSS, and (for large) the measurement
	# (wall time from bash's clock: GNU time's %e has 10 ms steps)
	local t0 t1
	t0=$EPOCHREALTIME
	timed_once "$log" "$W/log/time"
	rc=$?
	t1=$EPOCHREALTIME
	if ((rc == 124 || rc == 137)); then
		R_STATUS[$key]="failed: timeout after ${TIMEOUT}s"
		return
	elif ((rc != 0)); then
		R_STATUS[$key]="failed: $(reason "$log" "$rc")"
		return
	fi
	local wall rss
	read -r wall rss < <(tail -n 1 "$W/log/time")
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
	R_RSS[$key]=$rss
	if ! "${CHECK[@]}" >"$log.check" 2>&1; then
		R_STATUS[$key]="failed: output check: $(reason "$log.check" 1)"
		return
	fi
	if [[ $size == small ]]; then
		repeat_runs "$key" "$log" || return
	else
		R_TIME[$key]=$wall R_SD[$key]=""
	fi
	R_STATUS[$key]=ok
}

# --------------------------------------------------------------- report ---

fmt_time() { # seconds [sd]
	awk -v t="$1" -v sd="${2:-}" 'BEGIN {
		u = t < 1 ? 1000 : 1; n = t < 1 ? "ms" : "s"; f = t < 0.01 ? "%.2f" : (t < 1 ? "%.1f" : "%.2f");
		s = sprintf(f, t * u);
		if (sd != "") s = s sprintf(" ± " f, sd * u);
		print s " " n }'
}
fmt_rss() { [[ -n ${1:-} ]] && awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

table() {
	local opsize op size tool key base cell rss ratio title
	local -a rows=()
	rows+=("operation|tool|time|peak RSS|vs openssl|notes")
	for opsize in "${OPS[@]}"; do
		read -r op size <<<"$opsize"
		[[ -n ${LABEL[$size]:-} ]] || continue
		title="$op ${LABEL[$size]}"
		base=""
		[[ ${R_STATUS["$op $size|openssl"]:-} == ok ]] && base=${R_TIME["$op $size|openssl"]}
		for tool in "${TOOLS[@]}"; do
			key="$op $size|$tool"
			[[ -n ${R_STATUS[$key]:-} ]] || continue
			if [[ ${R_STATUS[$key]} == ok ]]; then
				cell=$(fmt_time "${R_TIME[$key]}" "${R_SD[$key]}")
				rss=$(fmt_rss "${R_RSS[$key]:-}")
				if [[ -n $base ]]; then
					ratio=$(awk -v a="${R_TIME[$key]}" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')
				else
					ratio="n/a"
				fi
			else
				cell=${R_STATUS[$key]} rss="" ratio=""
			fi
			rows+=("$title|$tool|$cell|$rss|$ratio|${R_NOTE[$key]:-}")
		done
	done
	# align the columns (markdown table); awk counts bytes, "±" is two
	printf '%s\n' "${rows[@]}" | awk -F'|' '
		function width(x,  t) { t = x; return length(x) - gsub(/±/, "", t) }
		function pad(k,  p) { p = ""; while (k-- > 0) p = p " "; return p }
		{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; l = width($i); if (l > w[i]) w[i] = l } n = NR; nf = NF }
		END {
			for (r = 1; r <= n; r++) {
				s = "|"
				for (i = 1; i <= nf; i++) s = s " " c[r, i] pad(w[i] - width(c[r, i])) " |"
				print s
				if (r == 1) { s = "|"; for (i = 1; i <= nf; i++) s = s pad(w[i] + 2) "|"; gsub(/ /, "-", s); print s }
			}
		}'
}

versions() {
	local v
	v=$(openssl version 2>/dev/null) && echo "openssl:  $v"
	v=$(dpkg-query -W -f '${Version}' libengine-pkcs11-openssl 2>/dev/null) && echo "libp11 engine: $v"
	v=$(gpgsm --version 2>/dev/null | head -n 1) && echo "gpgsm:    $v"
	v=$(dpkg-query -W -f '${Version}' gnupg-pkcs11-scd 2>/dev/null) && echo "gnupg-pkcs11-scd: $v"
	v=$(dpkg-query -W -f '${Version}' libnss3-tools 2>/dev/null) && echo "NSS tools: $v"
	v=$(dpkg-query -W -f '${Version}' softhsm2 2>/dev/null) && echo "SoftHSM2: $v"
	if [[ ${BENCH_HYPERFINE:-1} != 0 ]] && v=$(hyperfine --version 2>/dev/null); then
		echo "timing:   $v (-N, --warmup 2)"
	else
		echo "timing:   bash loop, \$EPOCHREALTIME, 1 warm-up run"
	fi
	if [[ -n $P11SMIME ]]; then
		v=$(timeout 10 env "${P11SMIME_ENV[@]}" "$P11SMIME" --version 2>/dev/null | head -n 1) &&
			echo "p11smime: $v ($P11SMIME)"
	fi
	return 0
}

# ----------------------------------------------------------------- main ---

main() {
	local opsize op size tool
	have /usr/bin/time || { say "bench.sh: needs GNU time (apt-get install time)"; exit 1; }
	have timeout || { say "bench.sh: needs timeout (coreutils)"; exit 1; }
	[[ -n ${EPOCHREALTIME:-} ]] || { say "bench.sh: needs bash >= 5 (EPOCHREALTIME)"; exit 1; }
	local -a known=()
	for tool in "${TOOLS[@]}"; do
		if declare -F "${tool}_setup" >/dev/null; then known+=("$tool"); else say "bench.sh: unknown tool $tool (skipped)"; fi
	done
	TOOLS=("${known[@]}")
	make_fixtures || { say "bench.sh: no fixtures"; exit 1; }
	make_messages || { say "bench.sh: could not write the messages"; exit 1; }

	for opsize in "${OPS[@]}"; do
		read -r op size <<<"$opsize"
		[[ -n ${LABEL[$size]:-} ]] || continue
		for tool in "${TOOLS[@]}"; do
			declare -F "${tool}_$op" >/dev/null || continue
			run_row "$op" "$size" "$tool"
		done
	done

	local report
	report=$(
		echo "p11smime benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "Same token ($TOKEN, SoftHSM2), same key ($KEY_URI, RSA-2048, SHA-256)."
		echo "small: ${LABEL[small]} mail, $RUNS runs, one process per message, mean ± sd."
		[[ -n ${LABEL[large]:-} ]] && echo "large: ${LABEL[large]} mail, one run, wall time; peak RSS = max resident set of the process (GNU time)."
		echo "vs openssl: time / openssl's time for the same operation (< 1 = faster)."
		echo
		table
		echo
		versions
	)
	printf '%s\n' "$report"
	mkdir -p "$(dirname "$RESULTS")" && printf '%s\n' "$report" >"$RESULTS" &&
		say "bench.sh: wrote $RESULTS"
}

main "$@"
BENCH_FIXTURES=$FX bash "$HERE/bench-crypt.sh" "$BUILD" # encryption and decryption: the same fixtures, a table of its own
