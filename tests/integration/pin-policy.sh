#!/bin/bash
# PIN safety against what SoftHSM cannot do: a PIN on its final try, a
# locked PIN, a PIN pad, a removed card. The fault-injection shim
# (tests/shim/faultshim.c) wraps SoftHSM and fakes those states; its log
# counts every C_Login, so "never retried" and "never tried" are proved,
# not assumed. Output is TAP; every failure shows the command and output.
#
# Needs from `make check`: top_srcdir, top_builddir (absolute),
# P11SMIME_SOFTHSM_MODULE (optional; mkfixtures.sh finds SoftHSM itself).
# Checks are `check DESC eval '...'`: the quoted text is expanded when the
# check runs, so the helpers are only ever called indirectly.
# shellcheck disable=SC2016,SC2317
set -u

: "${top_srcdir:?run through make check (top_srcdir unset)}"
: "${top_builddir:?run through make check (top_builddir unset)}"

P11SMIME=$top_builddir/p11smime
MKFIX=$top_srcdir/softhsm-fixtures/mkfixtures.sh
# the caller's locale, OpenSSL configuration, proxies, ... never reach a
# test (tests/testenv.sh, as lib.sh does)
# shellcheck source=../testenv.sh
. "$top_srcdir/tests/testenv.sh"
psm_env_common
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/p11smime-pin-policy.XXXXXX") && [ -d "$ROOT" ] ||
	{ echo "Bail out! cannot make a temporary folder in ${TMPDIR:-/tmp}"; exit 1; }
trap 'rm -rf "$ROOT"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
unset P11SMIME_SHIM_FLAGS P11SMIME_SHIM_LOG P11SMIME_SHIM_MODULE P11SMIME_SHIM_PINPAD_PIN \
      P11SMIME_SHIM_TOKEN
psm_env_home "$ROOT" || { echo "Bail out! cannot make the test's folders in $ROOT"; exit 1; }

# ---- TAP --------------------------------------------------------------
N=0
echo "1..47"
bail() { echo "Bail out! $*"; exit 1; }
diag() { sed 's/^/# /'; }

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds; otherwise show
# the last command, its exit code, output and the shim log
check() {
	local desc=$1
	shift
	N=$((N + 1))
	if "$@"; then
		echo "ok $N - $desc"
	else
		echo "not ok $N - $desc"
		{
			echo "check: $*"
			echo "command: $LAST"
			echo "exit code: $RC"
			echo "--- stdout:"; head -c 2000 "$C/out"
			echo "--- stderr:"; head -c 2000 "$C/err"
			echo "--- shim log:"; cat "$C/shim.log" 2>/dev/null
		} 2>/dev/null | diag
	fi
}

# ---- setup ------------------------------------------------------------
[ -x "$P11SMIME" ] || bail "$P11SMIME is missing: run make first"

# the shim: built by make when Makefile.am has it, else compiled here
SHIM=$top_builddir/tests/shim/.libs/faultshim.so
if [ ! -f "$SHIM" ]; then
	SHIM=$ROOT/faultshim.so
	# shellcheck disable=SC2046
	${CC:-cc} -shared -fPIC -o "$SHIM" "$top_srcdir/tests/shim/faultshim.c" \
		$(pkg-config --cflags p11-kit-1) -ldl -lpthread >"$ROOT/shim-build.log" 2>&1 ||
		{ diag <"$ROOT/shim-build.log"; bail "could not compile tests/shim/faultshim.c"; }
fi

# The PKI takes seconds to make: the one lib.sh uses, kept per build tree
# and made anew when stale (mkfixtures.sh cached-pki). The tokens are made
# once and copied for each case (making them takes seconds on a loaded
# machine).
PKI=$("$MKFIX" cached-pki "$top_builddir/tests/pki" 2>"$ROOT/pki.err") ||
	{ diag <"$ROOT/pki.err"; bail "could not make the test PKI (see tests/pki.log)"; }
"$MKFIX" tokens "$PKI" "$ROOT/fx" >"$ROOT/fx.log" 2>&1 ||
	{ tail -20 "$ROOT/fx.log" | diag; bail "mkfixtures.sh tokens failed"; }

# new_case NAME: a fresh folder $C with its own HOME, P11SMIME_HOME,
# TMPDIR, ... (psm_env_home), copy of the SoftHSM tokens ($C/fx,
# SOFTHSM2_CONF) and shim log ($C/shim.log)
C=$ROOT
# relocate FILE OLD NEW: every OLD in FILE becomes NEW (literal strings)
relocate() {
	local text
	text=$(cat "$1") && printf '%s\n' "${text//"$2"/"$3"}" >"$1"
}
new_case() {
	C=$(mktemp -d "$ROOT/case-$1.XXXXXX")
	psm_env_home "$C" || bail "cannot make the case's folders in $C"
	cp -a "$ROOT/fx" "$C/fx"
	# env.sh has the paths shell-quoted (printf %q), softhsm2.conf as they are
	relocate "$C/fx/env.sh" "$(printf %q "$ROOT/fx")" "$(printf %q "$C/fx")"
	relocate "$C/fx/softhsm2.conf" "$ROOT/fx" "$C/fx"
	# shellcheck disable=SC1091
	. "$C/fx/env.sh"
	if [ "$SOFTHSM2_CONF" != "$C/fx/softhsm2.conf" ] ||
	   [ "$P11SMIME_TEST_USER_PIN_FILE" != "$C/fx/user.pin" ] ||
	   ! grep -q "$C/fx/tokens" "$SOFTHSM2_CONF"; then
		bail "could not relocate the token copy to $C/fx"
	fi
	USER_PIN=file:$P11SMIME_TEST_USER_PIN_FILE
	PIV_PIN=file:$P11SMIME_TEST_PIV_PIN_FILE
	USER_TOK=$P11SMIME_TEST_USER_TOKEN_URI
	: >"$C/out"; : >"$C/err"
}

# shim FLAGS CMD ARGS...: run CMD with the shim wrapping SoftHSM; stdout,
# stderr and exit code go to $C/out, $C/err, $RC (appends to the log)
RC=0
LAST=
shim() {
	local flags=$1
	shift
	LAST="P11SMIME_SHIM_FLAGS=$flags $*"
	RC=0
	P11SMIME_SHIM_MODULE=$P11SMIME_TEST_MODULE P11SMIME_SHIM_FLAGS=$flags \
	P11SMIME_SHIM_LOG=$C/shim.log P11SMIME_SHIM_PINPAD_PIN=${PINPAD_PIN:-} \
	P11SMIME_SHIM_TOKEN=${SHIM_TOKEN:-} "$@" >"$C/out" 2>"$C/err" || RC=$?
	# keep every output for the "PIN never shown" check at the end
	cat "$C/out" >>"$C/all-out"; cat "$C/err" >>"$C/all-err"
}
# p11 FLAGS ARGS...: p11smime through the shim
p11() { local f=$1; shift; shim "$f" "$P11SMIME" --module "$SHIM" "$@"; }

rc_is() { [ "$RC" -eq "$1" ]; }
err_has() { grep -qiF -- "$1" "$C/err"; }
err_lacks() { ! grep -qF -- "$1" "$C/err"; }
out_has() { grep -qF -- "$1" "$C/out"; }
# exactly one line on stderr, "p11smime: ..."
err_one_line() { [ "$(wc -l <"$C/err")" -eq 1 ] && grep -q '^p11smime: ' "$C/err"; }
# count REGEX: lines of the shim log that match ^REGEX
count() {
	local n=0
	[ -f "$C/shim.log" ] && n=$(grep -c -- "^$1" "$C/shim.log")
	echo "${n:-0}"
}
logins_are() { [ "$(count 'C_Login ')" -eq "$1" ]; }
all_logins_are() { [ "$(count "$1")" -eq "$2" ] && logins_are "$2"; }
private_alice_listed() { out_has 'object=alice;type=private'; }

# ---- 0. the shim itself (so a failure below is p11smime's, not ours) --
new_case shim
shim final-try pkcs11-tool --module "$SHIM" --list-token-slots
check "shim loaded directly (pkcs11-tool) reports the final try and the real label" \
	eval 'rc_is 0 && out_has "final user PIN try" && out_has "p11smime-user"'
shim final-tri pkcs11-tool --module "$SHIM" --list-token-slots
check "shim refuses to load with a misspelt flag, naming it" \
	eval '! rc_is 0 && err_has "faultshim: unknown flag '"'final-tri'"'"'

# ---- 1. final try: p11smime does not spend it on its own --------------
new_case final-try
p11 final-try keys --pin-source "$USER_PIN" --token "$USER_TOK"
check "final try: keys exits 3" rc_is 3
check "final try: one stderr line saying one PIN try is left and naming --allow-last-pin-try" \
	eval 'err_one_line && err_has "one PIN try left" && err_has "--allow-last-pin-try"'
check "final try: C_Login was never called" logins_are 0

# ---- 2. final try with --allow-last-pin-try -----------------------------
new_case final-try-allowed
p11 final-try --allow-last-pin-try keys --pin-source "$USER_PIN" --token "$USER_TOK"
check "final try + --allow-last-pin-try: keys exits 0" rc_is 0
check "final try + --allow-last-pin-try: private keys are listed" private_alice_listed
check "final try + --allow-last-pin-try: exactly one C_Login (user=1, 6-digit PIN)" \
	all_logins_are 'C_Login user=1 pinlen=6$' 1

# ---- 3. locked PIN (token flag) -----------------------------------------
new_case locked
p11 locked keys --pin-source "$USER_PIN" --token "$USER_TOK"
check "locked: keys exits 3" rc_is 3
check "locked: one stderr line saying locked and how to unlock (SO PIN or PUK)" \
	eval 'err_one_line && err_has locked && { err_has "SO PIN" || err_has PUK; }'
check "locked: C_Login was never called" logins_are 0
# a card that only says so when C_Login answers CKR_PIN_LOCKED (0xa4)
p11 login-fail=0xa4 keys --pin-source "$USER_PIN" --token "$USER_TOK"
check "CKR_PIN_LOCKED from C_Login: exit 3, one line saying locked and SO PIN or PUK" \
	eval 'rc_is 3 && err_one_line && err_has locked && { err_has "SO PIN" || err_has PUK; }'
check "CKR_PIN_LOCKED from C_Login: exactly one C_Login, not retried" logins_are 1

# ---- 4. wrong PIN: reported, never retried, token unharmed ---------------
new_case wrong-pin
printf '000000' >"$C/wrong.pin"
chmod 600 "$C/wrong.pin"
p11 "" keys --pin-source "file:$C/wrong.pin" --token "$USER_TOK"
check "wrong PIN: keys exits 3" rc_is 3
check "wrong PIN: one stderr line that mentions the PIN and does not echo it" \
	eval 'err_one_line && err_has PIN && err_lacks 000000'
check "wrong PIN: exactly one C_Login (never retried)" logins_are 1
: >"$C/shim.log"
p11 "" keys --pin-source "$USER_PIN" --token "$USER_TOK"
check "wrong PIN: afterwards the right PIN still works, with one C_Login" \
	eval 'rc_is 0 && private_alice_listed && logins_are 1'

# ---- 5. PIN pad: the host sends no PIN ----------------------------------
new_case pinpad
PINPAD_PIN=$P11SMIME_TEST_USER_PIN_FILE
p11 pinpad keys --token "$USER_TOK"
check "PIN pad, no --pin-source: keys exits 0" rc_is 0
check "PIN pad, no --pin-source: private keys are listed" private_alice_listed
check "PIN pad, no --pin-source: exactly one C_Login, user=1 pinlen=0 (NULL PIN)" \
	all_logins_are 'C_Login user=1 pinlen=0$' 1
: >"$C/shim.log"
p11 pinpad keys --pin-source "$USER_PIN" --token "$USER_TOK"
check "PIN pad with --pin-source: the host PIN is not sent (one C_Login pinlen=0), exit 0" \
	eval 'rc_is 0 && private_alice_listed && all_logins_are "C_Login user=1 pinlen=0$" 1'
printf '000000' >"$C/wrong.pin"
chmod 600 "$C/wrong.pin"
PINPAD_PIN=$C/wrong.pin
: >"$C/shim.log"
p11 pinpad keys --token "$USER_TOK"
check "PIN pad, wrong PIN typed: exit 3 with one line, one C_Login (not retried)" \
	eval 'rc_is 3 && err_one_line && logins_are 1'
PINPAD_PIN=

# ---- 6. removed card ----------------------------------------------------
new_case removed
p11 removed keys --pin-source "$USER_PIN" --token "$USER_TOK"
check "removed: keys exits 3" rc_is 3
check "removed: one clear stderr line saying the token was removed" \
	eval 'err_one_line && err_has removed'
check "removed: C_Login was never called" logins_are 0

# ---- 8. always-authenticate key: SignInit, context login, Sign ---------
msg() {
	printf 'From: Pat PIV <pat@example.org>\r\nTo: bob@example.org\r\n'
	printf 'Subject: pin policy\r\n\r\nhello\r\n'
}
# seq: the log's C_SignInit / C_Login / C_Sign lines (size queries left out)
seq_is() {
	[ "$(grep -E '^(C_SignInit|C_Login|C_Sign)' "$C/shim.log" 2>/dev/null | grep -v 'size-query' |
	     tr '\n' ';')" = "$1" ]
}
new_case always-auth
msg >"$C/msg.eml"
PIVKEY="$P11SMIME_TEST_PIV_TOKEN_URI;id=%02;type=private"
p11 "" --pin-source "$PIV_PIN" sign --key "$PIVKEY" -o "$C/signed.eml" "$C/msg.eml"
check "always-authenticate key: sign exits 0 and writes a multipart/signed message" \
	eval 'rc_is 0 && grep -qi multipart/signed "$C/signed.eml"'
check "always-authenticate key: log order is C_Login user=1, C_SignInit, C_Login user=2, C_Sign" \
	seq_is "C_Login user=1 pinlen=6;C_SignInit;C_Login user=2 pinlen=6;C_Sign;"
: >"$C/shim.log"
PINPAD_PIN=$P11SMIME_TEST_PIV_PIN_FILE
p11 pinpad sign --key "$PIVKEY" -o "$C/signed2.eml" "$C/msg.eml"
PINPAD_PIN=
check "always-authenticate key on a PIN pad: sign exits 0, no --pin-source needed" rc_is 0
check "always-authenticate key on a PIN pad: the context login is C_Login user=2 pinlen=0" \
	seq_is "C_Login user=1 pinlen=0;C_SignInit;C_Login user=2 pinlen=0;C_Sign;"
# final try: the signature is refused before any PIN is spent
: >"$C/shim.log"
p11 final-try --pin-source "$PIV_PIN" sign --key "$PIVKEY" -o "$C/signed3.eml" "$C/msg.eml"
check "always-authenticate key on its final try: exit 3, no C_Login, no output file" \
	eval 'rc_is 3 && logins_are 0 && [ ! -e "$C/signed3.eml" ]'

# ---- 9. a PIN source belongs to one token -------------------------------
# A message for Bob (his key on the user token) and Pat (the PIV token's
# key-management key), decrypted with the user token's PIN: the PIV token
# must never see that PIN.
new_case two-tokens
printf 'Subject: for two\r\n\r\nfor bob and pat\r\n' >"$C/plain.eml"
openssl cms -encrypt -aes-256-gcm -in "$C/plain.eml" -out "$C/two.p7m" \
	"$PKI/bob.cert.pem" "$PKI/pat-keymgmt.cert.pem" 2>"$C/err" || bail "openssl cms -encrypt failed"
logins_on() { [ "$(count "Login token=$1\$")" -eq "$2" ]; }
SHIM_TOKEN=p11smime-piv
p11 "" --pin-source "$USER_PIN" decrypt -o "$C/dec.eml" "$C/two.p7m"
check "keys on two tokens, a fixed PIN, no --token: exit 3, nothing decrypted" \
	eval 'rc_is 3 && [ ! -e "$C/dec.eml" ]'
check "keys on two tokens: one line naming both tokens and --token" \
	eval 'err_one_line && err_has "p11smime-user" && err_has "p11smime-piv" && err_has "--token"'
check "keys on two tokens: no C_Login at all (no PIN spent on a guess)" logins_are 0
: >"$C/shim.log"
p11 "" --pin-source "$USER_PIN" decrypt --token "$USER_TOK" -o "$C/dec.eml" "$C/two.p7m"
check "--token names the user token: decrypted (exit 0)" \
	eval 'rc_is 0 && grep -q "for bob and pat" "$C/dec.eml"'
check "--token names the user token: one C_Login, on that token only" \
	eval 'logins_are 1 && logins_on p11smime-user 1 && logins_on p11smime-piv 0'
# the PIV token's counter is low: the fixed PIN can only be for the other
rm -f "$C/dec.eml"
: >"$C/shim.log"
p11 count-low --pin-source "$USER_PIN" decrypt -o "$C/dec.eml" "$C/two.p7m"
check "the PIV token's PIN count is low: the user token's key is used (exit 0)" \
	eval 'rc_is 0 && grep -q "for bob and pat" "$C/dec.eml"'
check "the PIV token's PIN count is low: its counter is untouched (no C_Login on it)" \
	eval 'logins_on p11smime-piv 0 && logins_on p11smime-user 1'
# the user's PIN given for the PIV token: refused there once, and never
# tried on the user token that also holds a matching key
rm -f "$C/dec.eml"
: >"$C/shim.log"
p11 "" --pin-source "$USER_PIN" decrypt --token "$P11SMIME_TEST_PIV_TOKEN_URI" -o "$C/dec.eml" \
	"$C/two.p7m"
check "the user's PIN for the PIV token: exit 3, one line, nothing written" \
	eval 'rc_is 3 && err_one_line && err_has "wrong" && [ ! -e "$C/dec.eml" ]'
check "the user's PIN for the PIV token: one C_Login, on the PIV token, not retried elsewhere" \
	eval 'logins_are 1 && logins_on p11smime-piv 1 && logins_on p11smime-user 0'
# an interactive PIN source names the token it asks for: the person chooses
# (pinentry that answers with the user token's PIN)
cat >"$C/pinentry" <<EOF
#!/bin/sh
echo "OK ready"
while read -r cmd rest; do
	case \$cmd in
	GETPIN) echo "D \$(cat "$P11SMIME_TEST_USER_PIN_FILE")"; echo OK ;;
	SETDESC) echo "\$rest" >>"$C/asked"; echo OK ;;
	BYE) echo OK; exit 0 ;;
	*) echo OK ;;
	esac
done
EOF
chmod 755 "$C/pinentry"
rm -f "$C/dec.eml"
: >"$C/shim.log"
p11 "" --pin-source "pinentry:$C/pinentry" decrypt -o "$C/dec.eml" "$C/two.p7m"
check "an interactive PIN source: the prompt names the one token it asks for" \
	eval 'grep -q "p11smime-" "$C/asked" && [ "$(wc -l <"$C/asked")" -eq 1 ]'
check "an interactive PIN source: at most one C_Login" eval '[ "$(count "C_Login ")" -le 1 ]'
SHIM_TOKEN=
# sign: Pat's key is on the PIV token only, so that is where the PIN goes;
# refused there, it is not tried on the user token
printf 'From: pat@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nhi\r\n' >"$C/pat.eml"
SHIM_TOKEN=p11smime-piv
: >"$C/shim.log"
p11 "" --pin-source "$USER_PIN" sign -o "$C/s.eml" "$C/pat.eml"
check "sign as pat with the user token's PIN: exit 3, one line, no output" \
	eval 'rc_is 3 && err_one_line && [ ! -e "$C/s.eml" ]'
check "sign as pat with the user token's PIN: one C_Login, on the PIV token only" \
	eval 'logins_are 1 && logins_on p11smime-piv 1 && logins_on p11smime-user 0'
SHIM_TOKEN=

# ---- 7. the PIN never shows (every run above kept its output) ---------
cat "$ROOT"/case-*/all-out >"$ROOT/every-out" 2>/dev/null
cat "$ROOT"/case-*/all-err >"$ROOT/every-err" 2>/dev/null
cat "$ROOT"/case-*/shim.log >"$ROOT/every-log" 2>/dev/null
C=$ROOT
: >"$C/out"; : >"$C/err"
LAST="grep -e 123456 -e 654321 over every stdout, stderr and shim log"
check "the runs above produced output and logged in with a 6-digit PIN" \
	eval '[ -s "$ROOT/every-out" ] && grep -q "pinlen=6" "$ROOT/every-log"'
check "the PINs (123456, 654321) never appear in stdout" \
	eval '! grep -qE "123456|654321" "$ROOT/every-out"'
check "the PINs never appear in stderr" eval '! grep -qE "123456|654321" "$ROOT/every-err"'
check "the PINs never appear in the shim log" eval '! grep -qE "123456|654321" "$ROOT/every-log"'

[ "$N" -eq 47 ] || echo "# planned 47 tests, ran $N"
exit 0
