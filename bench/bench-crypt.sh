#!/usr/bin/env bash
# bench/bench-crypt.sh - encryption and decryption, p11smime side by side
# with its peers: the SAME SoftHSM token, the SAME recipient key (bob,
# RSA-3072, pkcs11:token=p11smime-user;object=bob), the same messages (the
# ones bench.sh signs), one run, one table. bench.sh calls it at its end.
#
#   bench/bench-crypt.sh [BUILD_DIR]
#
# Encrypt: to bob + the sender alice (certificates only, no token needed
# by the peers):
#   openssl cms -encrypt -aes-256-gcm (and -aes-256-cbc) -binary,
#   gpgsm --encrypt (AES-256-CBC: gpgsm 2.2 has no GCM encryption),
#   p11smime --module SOFTHSM encrypt (AES-256-GCM, and --cipher
#   aes-256-cbc); it adds alice itself (From:), finding her certificate on
#   the token; p11smime_p11kit: the same without --module (every module
#   registered with p11-kit).
# Decrypt: with bob's private key on the token:
#   openssl cms -decrypt through libp11's pkcs11 engine,
#   gpgsm --decrypt through gnupg-pkcs11-scd (warm agent, and cold),
#   p11smime decrypt --key BOB (p11smime_auto: without --key it takes the
#   first RecipientInfo it has a key for, alice's), and the token's floor
#   (pkcs11-tool: load, login, one C_Decrypt).
# Each decrypter gets a message made (untimed) by its own tool: the formats
# differ (S/MIME mail, bare base64). gpgsm also gets openssl-made CBC and
# GCM (it cannot decrypt AES-GCM: that row fails, and says why).
# Workloads, timing, peak RSS and the table: as bench.sh (see README.md).
#
# Environment (all optional; the BENCH_* ones are bench.sh's):
#   BENCH_FIXTURES   existing `mkfixtures.sh all` dir (default: fresh, temporary)
#   BENCH_LARGE_MB   size of the large message body in MiB (default 256; 0 = skip)
#   BENCH_RUNS       runs per small operation (default 50)
#   BENCH_TIMEOUT    seconds before one command counts as hung (default 600)
#   BENCH_HYPERFINE  0 = use the shell loop even if hyperfine is installed
#   BENCH_KEEP       1 = keep the temporary folder (logs, outputs) and say where
#   P11SMIME_BIN     the p11smime program (default: from BUILD_DIR)
#   BENCH_CRYPT_TOOLS    rows, in table order (default: openssl openssl_cbc
#                        gpgsm gpgsm_cold gpgsm_ossl gpgsm_gcm p11smime
#                        p11smime_cbc p11smime_p11kit p11smime_auto
#                        pkcs11_tool)
#   BENCH_CRYPT_RESULTS  result file (default: bench/results/latest-crypt.txt)
#
# Every output is checked once, untimed, before it gets a time: an encrypted
# message must decrypt (plain openssl, bob's software key) to exactly the
# input's body entity, and (small) to alice too, with the cipher asked for;
# a decrypted output must equal the input (body entity, or the whole mail
# for p11smime) byte for byte. A failing tool shows "failed: <reason>".
# The helpers that are the same (fixtures, engine config, gpgsm home,
# hyperfine and GNU time, formatting) are bench.sh's own functions, read
# from it by name (see from_bench); the rest is this file's.
# shellcheck disable=SC2034 # variables read by bench.sh's functions (from_bench)
set -uo pipefail # no -e: one failing tool must not stop the run

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORIG_PWD=$PWD
SRCDIR=$(cd "$HERE/.." && pwd)
BUILD=$(cd "${1:-$SRCDIR}" 2>/dev/null && pwd) || { echo "bench-crypt.sh: no build dir ${1:-}" >&2; exit 2; }

LARGE_MB=${BENCH_LARGE_MB:-256}
RUNS=${BENCH_RUNS:-50}
TIMEOUT=${BENCH_TIMEOUT:-600}
RESULTS=${BENCH_CRYPT_RESULTS:-$HERE/results/latest-crypt.txt}
[[ $RESULTS == /* ]] || RESULTS=$ORIG_PWD/$RESULTS
read -r -a TOOLS <<<"${BENCH_CRYPT_TOOLS:-openssl openssl_cbc gpgsm gpgsm_cold gpgsm_ossl gpgsm_gcm p11smime p11smime_cbc p11smime_p11kit p11smime_auto pkcs11_tool}"
OPS=("encrypt small" "decrypt small" "encrypt large" "decrypt large")

readonly TOKEN=p11smime-user EMAIL=alice@example.org BOB=bob@example.org
readonly BOB_URI="pkcs11:token=$TOKEN;object=bob;type=private"
# targets for p11smime (and p11smime_cbc against openssl_cbc)
readonly TARGET_ENCRYPT=1.00 TARGET_DECRYPT=0.35 TARGET_RSS_MIB=32

# ------------------------------------------------------------- plumbing ---

say() { printf '%s\n' "$*" >&2; }

# The helpers both harnesses share are bench.sh's own functions, read from
# it by name (nothing of bench.sh runs), so that both measure the same way.
# from_bench NAME [AS]: define bench.sh's function NAME (named AS), its
# messages saying bench-crypt.sh
from_bench() {
	local src
	src=$(awk -v f="$1" '$0 ~ "^" f "\\(\\) \\{" { on = 1; print; if ($0 ~ /}$/) exit; next }
		on { print } on && /^}/ { exit }' "$HERE/bench.sh")
	[[ -n $src ]] || { say "bench-crypt.sh: bench.sh has no function $1() any more"; exit 2; }
	src=${src//bench.sh: /bench-crypt.sh: }
	[[ -z ${2:-} ]] || src=$2${src#"$1"}
	eval "$src"
}
# plumbing: cleanup (at exit: our gpg-agent stopped, W removed unless
#   BENCH_KEEP=1), reason LOG STATUS (a failed cell's one line), shq, have
# fixtures: bench_make_fixtures (FX, MODULE, PKI, PIN_FILE), human_size
# tools: openssl_setup (the engine config), bench_gpgsm_setup (GNUPGHOME with
#   gnupg-pkcs11-scd and the pinentry script, alice imported, --learn-card),
#   p11smime_setup, p11smime_has
# measurement: tool_ready, run_row OP SIZE TOOL (timeout guard, peak RSS, the
#   untimed CHECK, then hyperfine or the bash loop for small, one wall time
#   for large), run_in_env, timed_once, stats, repeat_runs, fmt_time, fmt_rss
for f in cleanup reason shq have human_size openssl_setup p11smime_setup p11smime_has \
	tool_ready run_row run_in_env timed_once stats repeat_runs fmt_time fmt_rss; do
	from_bench "$f"
done
from_bench make_fixtures bench_make_fixtures
from_bench gpgsm_setup bench_gpgsm_setup
from_bench versions bench_versions

W=$(mktemp -d "${TMPDIR:-/tmp}/p11smime-bench-crypt.XXXXXX") || exit 1
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$W/home" "$W/out" "$W/log" "$W/in" "$W/p11smime-home"
export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_DATA_HOME=$W/home/.local/share
export XDG_CACHE_HOME=$W/home/.cache
export GNUPGHOME=$W/gnupg P11SMIME_HOME=$W/p11smime-home LC_ALL=C
# every OpenSSL (the tools', and the checks') reads this empty config; only
# the openssl peer's decrypt gets the engine config (CMD_ENV)
: >"$W/openssl-plain.cnf"
export OPENSSL_CONF=$W/openssl-plain.cnf
unset P11_KIT_SERVER_ADDRESS SOFTHSM2_CONF
cd "$W" || exit 1 # whatever a tool drops in its cwd goes away with W

# ------------------------------------------------------------- fixtures ---

make_fixtures() {
	bench_make_fixtures || return 1
	BOB_CERT=$PKI/bob.cert.pem ALICE_CERT=$PKI/alice.cert.pem
}

# ------------------------------------------------------------- messages ---
# The messages of bench.sh (same headers, same body). For each size:
#   IN_MAIL  RFC 5322 message from alice to bob, LF line ends: what p11smime
#            encrypts (it keeps From/To/... outside, encrypts the body entity
#            canonicalised to CRLF) and what its decrypt gives back
#   IN_CRLF  that body entity alone (Content-Type + CTE + body), CRLF: what
#            openssl (-binary) and gpgsm encrypt, and what any correct
#            decryption of any tool's message yields
declare -A IN_MAIL IN_CRLF LABEL

LINE='The quick brown fox jumps over the lazy dog while p11smime signs 0123456789.'

# write_message SIZE BODY-LINES
write_message() {
	local size=$1 lines=$2 d=$W/in
	IN_MAIL[$size]=$d/$size.eml IN_CRLF[$size]=$d/$size.entity.crlf
	{
		printf 'From: Alice <%s>\nTo: Bob <%s>\n' "$EMAIL" "$BOB"
		printf 'Subject: p11smime benchmark (%s)\nDate: Sat, 28 Nov 2026 12:00:00 +0000\n' "$size"
		printf 'Message-ID: <bench-%s@example.org>\nMIME-Version: 1.0\n' "$size"
		printf 'Content-Type: text/plain; charset=us-ascii\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		yes "$LINE" | head -n "$lines" || : # yes ends by SIGPIPE
	} >"${IN_MAIL[$size]}" &&
		sed '1,6d; s/$/\r/' "${IN_MAIL[$size]}" >"${IN_CRLF[$size]}"
}


make_messages() {
	write_message small 25 || return 1
	LABEL[small]=$(human_size "$(stat -c %s "${IN_MAIL[small]}")")
	if ((LARGE_MB > 0)); then
		say "bench-crypt.sh: writing the ${LARGE_MB} MiB message ..."
		write_message large $((LARGE_MB * 1048576 / (${#LINE} + 1))) || return 1
		LABEL[large]=$(human_size "$(stat -c %s "${IN_MAIL[large]}")")
	fi
}

# --------------------------------------------------------------- checks ---
# Run once, untimed, on what a tool produced: a tool that exits 0 but writes
# a wrong message must not get a time.

# to_der FORM FILE: the CMS object in FILE as DER on stdout; FORM is smime
# (an S/MIME mail), b64 (bare base64) or der
to_der() {
	case $1 in
	smime) openssl cms -cmsout -in "$2" -outform DER ;;
	b64) base64 -d "$2" ;;
	der) cat "$2" ;;
	esac
}

# check_encrypted FORM FILE SIZE CIPHER: FILE decrypts with bob's software
# key to exactly IN_CRLF; for small, with alice's too (the sender), and the
# content cipher is CIPHER (e.g. aes-256-gcm)
check_encrypted() {
	local form=$1 f=$2 size=$3 cipher=$4 der=$W/out/check.der who
	to_der "$form" "$f" >"$der" || { echo "not a CMS message ($form)"; return 1; }
	for who in bob alice; do
		openssl cms -decrypt -inform DER -in "$der" -inkey "$PKI/$who.key.pem" \
			-recip "$PKI/$who.cert.pem" -out "$W/out/check.content" ||
			{ echo "$who cannot decrypt it"; return 1; }
		cmp "$W/out/check.content" "${IN_CRLF[$size]}" ||
			{ echo "$who decrypts something else than the body entity"; return 1; }
		[[ $size == small ]] || break
	done
	if [[ $size == small ]]; then
		openssl cms -cmsout -print -inform DER -in "$der" | grep -A1 'contentEncryptionAlgorithm' |
			grep -q "algorithm: $cipher " || { echo "content cipher is not $cipher"; return 1; }
	fi
	rm -f "$der" "$W/out/check.content"
}

# check_same OUT EXPECTED: the decrypted output is exactly EXPECTED
check_same() {
	cmp "$1" "$2" || { echo "decrypted output differs from the input"; return 1; }
}

# once FILE CMD...: make an input for a decrypt row (untimed) unless it exists
once() {
	local f=$1
	shift
	[[ -s $f ]] && return 0
	"$@" || { echo "could not make the input $(basename "$f")"; return 1; }
}

# ------------------------------------------------------------ the tools ---
# As in bench.sh: TOOL_setup once; TOOL_encrypt SIZE / TOOL_decrypt SIZE
# fill CMD (timed), CMD_ENV, PREP, CHECK (untimed, once), NOTE; return 2 =
# no such row. A row writes only $W/out/TOOL.OP.SIZE.* (removed after a
# large row).

# --- openssl cms; decrypt through libp11's pkcs11 engine (openssl_setup:
#     bench.sh's)
# openssl_enc CIPHER SIZE OUT [RECIPIENT-CERTS]: the peer's encryption
openssl_enc() {
	local cipher=$1 size=$2 out=$3
	shift 3
	openssl cms -encrypt "-$cipher" -binary -in "${IN_CRLF[$size]}" -out "$out" "$@"
}
openssl_encrypt_with() { # CIPHER SIZE
	local out=$W/out/$TOOL.encrypt.$2.p7m
	CMD=(openssl cms -encrypt "-$1" -binary -in "${IN_CRLF[$2]}" -out "$out" "$BOB_CERT" "$ALICE_CERT")
	CHECK=(check_encrypted smime "$out" "$2" "$1")
	NOTE="CRLF entity in (-binary), S/MIME out"
}
openssl_decrypt_with() { # CIPHER SIZE
	local in=$W/out/$TOOL.decrypt.$2.in.p7m out=$W/out/$TOOL.decrypt.$2.out
	once "$in" openssl_enc "$1" "$2" "$in" "$BOB_CERT" "$ALICE_CERT" || return 1
	CMD_ENV=("OPENSSL_CONF=$W/openssl-engine.cnf")
	CMD=(openssl cms -decrypt -engine pkcs11 -keyform engine -inkey "$BOB_URI"
		-passin "file:$PIN_FILE" -recip "$BOB_CERT" -in "$in" -out "$out")
	CHECK=(check_same "$out" "${IN_CRLF[$2]}")
	NOTE="own S/MIME msg; key via engine"
}
openssl_encrypt() { openssl_encrypt_with aes-256-gcm "$1"; }
openssl_decrypt() { openssl_decrypt_with aes-256-gcm "$1"; }
openssl_cbc_setup() { tool_ready openssl || { echo "needs openssl: ${SETUP_ERR[openssl]#setup: }"; return 1; }; }
openssl_cbc_encrypt() { openssl_encrypt_with aes-256-cbc "$1"; }
openssl_cbc_decrypt() { openssl_decrypt_with aes-256-cbc "$1"; }

# --- gpgsm with gnupg-pkcs11-scd as its scdaemon: bench.sh's set-up, and
#     bob's certificate and key
gpgsm_setup() {
	bench_gpgsm_setup || return 1
	gpgsm --batch --import "$BOB_CERT" || { echo "import of bob's certificate failed"; return 1; }
	gpgsm --batch --with-colons -K "$BOB" | grep -q '^crs:' ||
		{ echo "gpgsm sees no secret key for $BOB after --learn-card"; return 1; }
	# bob's key id, to check that gpgsm decrypts with bob's key
	BOB_KEYID=$(openssl x509 -in "$BOB_CERT" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d : | tail -c 17)
}
BOB_KEYID=""
# gpgsm_enc SIZE OUT: bob first (gpgsm decrypts with the first recipient it
# has a key for), alice second; bare base64 like the S/MIME body of the others
gpgsm_enc() {
	gpgsm --batch --yes --base64 --cipher-algo AES256 -r "$BOB" -r "$EMAIL" \
		--encrypt -o "$2" "${IN_CRLF[$1]}"
}
gpgsm_encrypt() {
	local out=$W/out/gpgsm.encrypt.$1.b64
	CMD=(gpgsm --batch --yes --base64 --cipher-algo AES256 -r "$BOB" -r "$EMAIL"
		--encrypt -o "$out" "${IN_CRLF[$1]}")
	CHECK=(check_encrypted b64 "$out" "$1" aes-256-cbc)
	NOTE="AES-256-CBC (no GCM); bare base64 out"
}
# gpgsm_check_decrypt IN OUT EXPECTED: OUT is right, and bob's key made it
gpgsm_check_decrypt() {
	check_same "$2" "$3" || return 1
	gpgsm --batch --yes --status-fd 1 --assume-base64 --decrypt -o "$W/out/check.content" "$1" \
		>"$W/log/gpgsm.status" || { echo "gpgsm --decrypt failed the second time"; return 1; }
	rm -f "$W/out/check.content"
	grep -q '^\[GNUPG:\] DECRYPTION_OKAY' "$W/log/gpgsm.status" || { echo "no DECRYPTION_OKAY"; return 1; }
	[[ $(grep -m 1 '^\[GNUPG:\] ENC_TO' "$W/log/gpgsm.status" | cut -d' ' -f3) == "$BOB_KEYID" ]] ||
		{ echo "gpgsm did not use bob's key ($BOB_KEYID)"; return 1; }
}
# gpgsm_decrypt_in SIZE IN: time gpgsm --decrypt of IN (bare base64)
gpgsm_decrypt_in() {
	local out=$W/out/$TOOL.decrypt.$1.out
	CMD=(gpgsm --batch --yes --assume-base64 --decrypt -o "$out" "$2")
	CHECK=(gpgsm_check_decrypt "$2" "$out" "${IN_CRLF[$1]}")
}
gpgsm_decrypt() {
	local in=$W/out/$TOOL.decrypt.$1.in.b64
	once "$in" gpgsm_enc "$1" "$in" || return 1
	gpgsm_decrypt_in "$1" "$in"
	NOTE="own CBC msg; agent+scd warm, not in RSS"
}

# --- gpgsm again, gpg-agent and scdaemon killed before each message (as
#     gpgsm_cold in bench.sh): each one pays agent + scd start and login
gpgsm_cold_setup() { tool_ready gpgsm || { echo "needs gpgsm: ${SETUP_ERR[gpgsm]#setup: }"; return 1; }; }
gpgsm_cold_decrypt() {
	[[ $1 == small ]] || return 2
	gpgsm_decrypt "$1"
	PREP=(gpgconf --kill all)
	NOTE="own CBC msg; agent+scd started per message"
}

# --- gpgsm decrypting what openssl made (to bob only, S/MIME headers cut
#     off: gpgsm reads bare base64 or DER, not a MIME entity)
gpgsm_ossl_setup() { gpgsm_cold_setup; }
# ossl_b64 CIPHER SIZE OUT: openssl's message to bob, its base64 body only
ossl_b64() {
	openssl_enc "$1" "$2" "$3.mime" "$BOB_CERT" && sed '1,/^\r\{0,1\}$/d' "$3.mime" >"$3" && rm -f "$3.mime"
}
# gpgsm_ossl_with CIPHER SIZE: gpgsm decrypts openssl's CIPHER message
gpgsm_ossl_with() {
	[[ $2 == small ]] || return 2
	local in=$W/out/$TOOL.decrypt.$2.in.b64
	once "$in" ossl_b64 "$1" "$2" "$in" || return 1
	gpgsm_decrypt_in "$2" "$in"
	NOTE="openssl-made ${1^^} msg; agent warm"
}
gpgsm_ossl_decrypt() { gpgsm_ossl_with aes-256-cbc "$1"; }
gpgsm_gcm_setup() { gpgsm_cold_setup; }
gpgsm_gcm_decrypt() { gpgsm_ossl_with aes-256-gcm "$1"; }

# --- p11smime itself (p11smime_setup and p11smime_has: bench.sh's)
P11SMIME=""
P11SMIME_ENV=()
P11SMIME_HAS=""
# p11smime_enc CIPHER SIZE OUT: the sender alice is added by p11smime (From:)
p11smime_enc() {
	env "${P11SMIME_ENV[@]}" "$P11SMIME" --module "$MODULE" encrypt --cipher "$1" \
		--recipient-cert "$BOB_CERT" --anchors "$PKI/anchors.pem" -o "$3" "${IN_MAIL[$2]}"
}
# p11smime_encrypt_with CIPHER SIZE [GLOBAL-OPTIONS]: p11smime finds the
# sender's certificate (alice's, From:) on the token of --module
p11smime_encrypt_with() {
	p11smime_has encrypt || return 1
	local cipher=$1 size=$2 out=$W/out/$TOOL.encrypt.$2.eml
	shift 2
	local -a opt=()
	[[ $cipher == aes-256-gcm ]] || opt=(--cipher "$cipher") # GCM: the default
	CMD_ENV=("${P11SMIME_ENV[@]}")
	# never -o /dev/null: OUT is replaced atomically (rename)
	CMD=("$P11SMIME" "$@" encrypt "${opt[@]}" --recipient-cert "$BOB_CERT"
		--anchors "$PKI/anchors.pem" -o "$out" "${IN_MAIL[$size]}")
	CHECK=(check_encrypted smime "$out" "$size" "$cipher")
	NOTE="whole mail in, S/MIME mail out"
}
# p11smime_check_decrypt OUT EXPECTED LOG WHO: right output, and the key
# URI p11smime reports on stderr is WHO's (bob: id 02, alice: id 01)
p11smime_check_decrypt() {
	local id=%02
	[[ $4 == bob ]] || id=%01
	check_same "$1" "$2" || return 1
	grep -Eq "pkcs11:([^ ]*;)?(id=$id|object=$4)(;|\?|\$)" "$3" ||
		{ echo "p11smime names no key URI of $4 on stderr: $(tr '\n' ' ' <"$3")"; return 1; }
}
# p11smime_decrypt_with CIPHER SIZE [--key URI]
p11smime_decrypt_with() {
	p11smime_has decrypt || return 1
	local cipher=$1 size=$2 in=$W/out/$TOOL.decrypt.$2.in.eml out=$W/out/$TOOL.decrypt.$2.out who=bob
	shift 2
	(($#)) || who=alice # p11smime picks the first recipient it has a key for: alice
	once "$in" p11smime_enc "$cipher" "$size" "$in" || return 1
	CMD_ENV=("${P11SMIME_ENV[@]}")
	CMD=("$P11SMIME" --module "$MODULE" --pin-source "file:$PIN_FILE"
		decrypt "$@" -o "$out" "$in")
	CHECK=(p11smime_check_decrypt "$out" "${IN_MAIL[$size]}" "$W/log/$TOOL.decrypt.$size.err" "$who")
	NOTE="own msg; whole mail out"
}
p11smime_encrypt() { p11smime_encrypt_with aes-256-gcm "$1" --module "$MODULE"; }
p11smime_decrypt() { p11smime_decrypt_with aes-256-gcm "$1" --key "$BOB_URI"; }
p11smime_cbc_setup() { tool_ready p11smime || { echo "needs p11smime: ${SETUP_ERR[p11smime]#setup: }"; return 1; }; }
p11smime_cbc_encrypt() { p11smime_encrypt_with aes-256-cbc "$1" --module "$MODULE"; }
p11smime_cbc_decrypt() { p11smime_decrypt_with aes-256-cbc "$1" --key "$BOB_URI"; }
# without --module: p11smime looks for the sender's certificate on every
# module registered with p11-kit (its default; here p11-kit-trust, OpenSC
# and SoftHSM): the command line of the task, and what a user gets
p11smime_p11kit_setup() { p11smime_cbc_setup; }
p11smime_p11kit_encrypt() {
	[[ $1 == small ]] || return 2
	p11smime_encrypt_with aes-256-gcm "$1" || return 1
	NOTE="no --module: every p11-kit module"
}
# without --key: p11smime finds the key itself (alice's, RSA-2048, the
# first RecipientInfo it has a key for); shows the cost of the search
p11smime_auto_setup() { p11smime_cbc_setup; }
p11smime_auto_decrypt() {
	[[ $1 == small ]] || return 2
	p11smime_decrypt_with aes-256-gcm "$1" || return 1
	NOTE="own msg; no --key: finds alice's key itself"
}

# --- the token's floor for a decryption: pkcs11-tool (OpenSC) loads the
#     module, logs in and unwraps one RSA-3072 PKCS#1 v1.5 block with bob's
#     key: no CMS, no MIME, no certificates. No tool decrypting one message
#     per process on this token can be faster (compare with the targets)
pkcs11_tool_setup() {
	have pkcs11-tool || { echo "pkcs11-tool not installed (apt-get install opensc)"; return 1; }
	head -c 32 /dev/urandom >"$W/in/cek.bin" || return 1
	openssl pkeyutl -encrypt -certin -inkey "$BOB_CERT" -pkeyopt rsa_padding_mode:pkcs1 \
		-in "$W/in/cek.bin" -out "$W/in/cek.enc" || { echo "could not wrap a key for bob"; return 1; }
}
pkcs11_tool_decrypt() {
	[[ $1 == small ]] || return 2
	local out=$W/out/$TOOL.decrypt.$1.out
	# --pin env:VAR: the PIN stays off the command line
	CMD_ENV=("BENCH_PIN=$(cat "$PIN_FILE")")
	CMD=(pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --pin env:BENCH_PIN
		--decrypt --id 02 -m RSA-PKCS --input-file "$W/in/cek.enc" --output-file "$out")
	CHECK=(check_same "$out" "$W/in/cek.bin")
	NOTE="token floor: load, login, 1 C_Decrypt; no CMS"
}

# ---------------------------------------------------------- measurement ---
# bench.sh's (from_bench above)

declare -A SETUP_DONE SETUP_ERR R_TIME R_SD R_RSS R_STATUS R_NOTE

# --------------------------------------------------------------- report ---

# target OP SIZE TOOL: the target cell of p11smime's rows (p11smime against
# openssl, p11smime_cbc against openssl_cbc), e.g. "≤1.00x ok; <32 MiB ok"
target() {
	local op=$1 size=$2 tool=$3 peer want cell ok
	case $tool in
	p11smime | p11smime_p11kit) peer=openssl ;;
	p11smime_cbc) peer=openssl_cbc ;;
	*) return 0 ;;
	esac
	[[ $op == encrypt ]] && want=$TARGET_ENCRYPT || want=$TARGET_DECRYPT
	if [[ ${R_STATUS["$op $size|$peer"]:-} == ok ]]; then
		ok=$(awk -v a="${R_TIME["$op $size|$tool"]}" -v b="${R_TIME["$op $size|$peer"]}" -v w="$want" \
			'BEGIN { print (a / b <= w + 0.005 ? "ok" : "MISSED") }')
		cell="≤${want}x"
		[[ $peer == openssl ]] || cell+=" $peer"
		cell+=" $ok"
	else
		cell="≤${want}x n/a"
	fi
	if [[ $size == large ]]; then
		ok=$(awk -v k="${R_RSS["$op $size|$tool"]:-0}" -v m="$TARGET_RSS_MIB" \
			'BEGIN { print (k > 0 && k / 1024 < m ? "ok" : "MISSED") }')
		cell+="; <$TARGET_RSS_MIB MiB $ok"
	fi
	printf '%s' "$cell"
}

table() {
	local opsize op size tool key base cell rss ratio title tgt
	local -a rows=()
	rows+=("operation|tool|time|peak RSS|vs openssl|target|notes")
	for opsize in "${OPS[@]}"; do
		read -r op size <<<"$opsize"
		[[ -n ${LABEL[$size]:-} ]] || continue
		title="$op ${LABEL[$size]}"
		base=""
		[[ ${R_STATUS["$op $size|openssl"]:-} == ok ]] && base=${R_TIME["$op $size|openssl"]}
		for tool in "${TOOLS[@]}"; do
			key="$op $size|$tool"
			[[ -n ${R_STATUS[$key]:-} ]] || continue
			tgt=""
			if [[ ${R_STATUS[$key]} == ok ]]; then
				cell=$(fmt_time "${R_TIME[$key]}" "${R_SD[$key]}")
				rss=$(fmt_rss "${R_RSS[$key]:-}")
				if [[ -n $base ]]; then
					ratio=$(awk -v a="${R_TIME[$key]}" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')
				else
					ratio="n/a"
				fi
				tgt=$(target "$op" "$size" "$tool")
			else
				cell=${R_STATUS[$key]} rss="" ratio=""
			fi
			rows+=("$title|$tool|$cell|$rss|$ratio|$tgt|${R_NOTE[$key]:-}")
		done
	done
	# align the columns (markdown table); awk counts bytes: "±" and "≤"
	# are one column each
	printf '%s\n' "${rows[@]}" | awk -F'|' '
		function width(x,  t) { t = x; return length(x) - gsub(/±/, "", t) - 2 * gsub(/≤/, "", t) }
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

# versions: bench.sh's list, and libksba (gpgsm's CMS parser)
versions() {
	local v
	bench_versions
	v=$(dpkg-query -W -f '${Version}' libksba8 2>/dev/null) && echo "libksba:  $v"
	return 0
}

# ----------------------------------------------------------------- main ---

main() {
	local opsize op size tool
	have /usr/bin/time || { say "bench-crypt.sh: needs GNU time (apt-get install time)"; exit 1; }
	have timeout || { say "bench-crypt.sh: needs timeout (coreutils)"; exit 1; }
	[[ -n ${EPOCHREALTIME:-} ]] || { say "bench-crypt.sh: needs bash >= 5 (EPOCHREALTIME)"; exit 1; }
	local -a known=()
	for tool in "${TOOLS[@]}"; do
		if declare -F "${tool}_setup" >/dev/null; then known+=("$tool"); else say "bench-crypt.sh: unknown tool $tool (skipped)"; fi
	done
	TOOLS=("${known[@]}")
	make_fixtures || { say "bench-crypt.sh: no fixtures"; exit 1; }
	make_messages || { say "bench-crypt.sh: could not write the messages"; exit 1; }

	for opsize in "${OPS[@]}"; do
		read -r op size <<<"$opsize"
		[[ -n ${LABEL[$size]:-} ]] || continue
		for tool in "${TOOLS[@]}"; do
			declare -F "${tool}_$op" >/dev/null || continue
			TOOL=$tool # for the row functions: their files are $W/out/$TOOL.*
			run_row "$op" "$size" "$tool"
			# a large row's files go at once (≈1 GiB each at 256 MiB)
			[[ $size == small ]] || rm -f -- "$W/out/$tool.$op.$size."*
		done
	done

	local report
	report=$(
		echo "p11smime encryption benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "Same token ($TOKEN, SoftHSM2); encrypt to bob (RSA-3072) + alice (RSA-2048), PKCS#1 v1.5 key transport;"
		echo "decrypt with bob's key on the token ($BOB_URI) unless the notes say otherwise."
		echo "small: ${LABEL[small]} mail, $RUNS runs, one process per message, mean ± sd."
		[[ -n ${LABEL[large]:-} ]] && echo "large: ${LABEL[large]} mail, one run, wall time; peak RSS = max resident set of the process (GNU time)."
		echo "vs openssl: time / openssl's (AES-256-GCM) time for the same operation (< 1 = faster)."
		echo "target: p11smime vs openssl (p11smime_cbc vs openssl_cbc): encrypt ≤ ${TARGET_ENCRYPT}x, decrypt ≤ ${TARGET_DECRYPT}x; large: peak RSS < $TARGET_RSS_MIB MiB."
		echo
		table
		echo
		versions
	)
	printf '%s\n' "$report"
	mkdir -p "$(dirname "$RESULTS")" && printf '%s\n' "$report" >"$RESULTS" &&
		say "bench-crypt.sh: wrote $RESULTS"
}

main "$@"
