#!/bin/bash
# Runs that end early leave nothing behind: decrypt, sign and verify killed
# by SIGINT, SIGTERM or SIGHUP part-way (the header not yet read, in the
# middle of the content, before the last bytes and the tag) leave no file
# next to their output; SIGKILL leaves nothing either where the file system
# has unnamed files (O_TMPFILE), and, where it has not (a shim makes
# open(O_TMPFILE) fail), only the marked temporary. Decrypted outputs are
# 0600 from creation; the others follow the umask. A reader that goes away
# and a remote token (p11-kit server) that dies are errors with one line,
# not deaths by SIGPIPE.
. "$top_srcdir/tests/integration/lib.sh"
plan 50
fixtures
A="--anchors $PKI/anchors.pem"
NOTMPFILE=$top_builddir/tests/shim/.libs/notmpfile.so
CLIENT=$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null)/p11-kit-client.so
[ -f "$CLIENT" ] || CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
PIDS=""
# shellcheck disable=SC2016
at_exit 'for p in $PIDS; do kill -9 "$p" 2>/dev/null; done'

# a 24 MiB message to Bob, and it encrypted (GCM) and signed
{
	printf 'From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: long\r\n'
	printf 'MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n'
	head -c 18000000 /dev/urandom | base64 -w 76 | sed 's/$/\r/'
} >"$TMP/big.eml"
"$P11SMIME" --module "$MODULE" encrypt $A --to bob@example.org -o "$TMP/big.p7m" "$TMP/big.eml" \
	2>"$TMP/err" || { echo "Bail out! encrypt failed"; diag <"$TMP/err"; exit 1; }
"$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" sign --opaque -o "$TMP/big.p7s" \
	"$TMP/big.eml" 2>"$TMP/err" || { echo "Bail out! sign failed"; diag <"$TMP/err"; exit 1; }
BOB="pkcs11:token=p11smime-user;object=bob"

# interrupted SIG BYTES INPUT [ENV...] -- ARGS...: run p11smime ARGS with
# its output in the empty folder $TMP/o, INPUT fed through a pipe that
# stops after BYTES; once those are read, send SIG. $RC is the exit code.
interrupted() {
	local sig=$1 bytes=$2 input=$3 env=() wpid ppid
	shift 3
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	rm -rf "$TMP/o" "$TMP/fifo" "$TMP/wrote"
	mkdir "$TMP/o"
	mkfifo "$TMP/fifo"
	( head -c "$bytes" "$input"; touch "$TMP/wrote"; sleep 30 ) >"$TMP/fifo" &
	wpid=$!
	PIDS="$PIDS $wpid"
	# a background job of a script starts with SIGINT ignored: give it back
	env --default-signal=INT,TERM,HUP "${env[@]}" "$P11SMIME" "$@" <"$TMP/fifo" \
		>"$TMP/out" 2>"$TMP/err" &
	ppid=$!
	PIDS="$PIDS $ppid"
	for _ in $(seq 1 200); do [ -e "$TMP/wrote" ] && break; sleep 0.05; done
	sleep 0.4   # what the pipe still held is read and written out
	kill -s "$sig" "$ppid" 2>/dev/null
	RC=0
	wait "$ppid" || RC=$?
	kill "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	# the writer's sleep may outlive it
	pkill -f "sleep 30" -P "$wpid" 2>/dev/null || true
}

# nothing in $TMP/o: no output, no temporary
nothing_left() { [ -z "$(ls -A "$TMP/o")" ]; }
signum() { kill -l "$1"; }
died_of() { [ "$RC" -eq $((128 + $(signum "$1"))) ]; }

size=$(stat -c %s "$TMP/big.p7m")
for sig in INT TERM HUP; do
	for point in header middle tag; do
		case $point in
		header) n=300 ;;
		middle) n=$((size / 2)) ;;
		tag) n=$((size - 40)) ;;
		esac
		interrupted "$sig" "$n" "$TMP/big.p7m" -- --module "$MODULE" --pin-source "$USER_PIN" \
			decrypt $A --key "$BOB" -o "$TMP/o/out.eml"
		check "decrypt, SIG$sig at the $point: it dies of the signal (rc=$RC)" died_of "$sig"
		check "decrypt, SIG$sig at the $point: no output and no temporary left" nothing_left
	done
done

ssize=$(stat -c %s "$TMP/big.eml")
for sig in INT TERM HUP; do
	interrupted "$sig" $((ssize / 2)) "$TMP/big.eml" -- --module "$MODULE" \
		--pin-source "$USER_PIN" sign -o "$TMP/o/out.eml"
	check "sign, SIG$sig in the middle: it dies of the signal" died_of "$sig"
	check "sign, SIG$sig in the middle: nothing left" nothing_left
done
vsize=$(stat -c %s "$TMP/big.p7s")
interrupted TERM $((vsize / 2)) "$TMP/big.p7s" -- verify $A -o "$TMP/o/out.eml"
check "verify, SIGTERM in the middle: it dies of the signal" died_of TERM
check "verify, SIGTERM in the middle: nothing left" nothing_left

# SIGKILL cannot be caught: an unnamed temporary leaves nothing at all
if python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o600))' \
	"$TMP" 2>/dev/null; then
	interrupted KILL $((size / 2)) "$TMP/big.p7m" -- --module "$MODULE" --pin-source "$USER_PIN" \
		decrypt $A --key "$BOB" -o "$TMP/o/out.eml"
	check "decrypt, SIGKILL in the middle: it was killed" died_of KILL
	check "decrypt, SIGKILL in the middle: nothing left (an unnamed temporary)" nothing_left
else
	ok "# SKIP the test folder's file system has no O_TMPFILE"
	ok "# SKIP the test folder's file system has no O_TMPFILE"
fi

# Where there are no unnamed files: named, marked temporaries, removed on
# the signals; SIGKILL leaves one, 0600, with its mark.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
interrupted TERM $((size / 2)) "$TMP/big.p7m" LD_PRELOAD="$NOTMPFILE" -- --module "$MODULE" \
	--pin-source "$USER_PIN" decrypt $A --key "$BOB" -o "$TMP/o/out.eml"
check "no O_TMPFILE: decrypt, SIGTERM in the middle: it dies of the signal" died_of TERM
check "no O_TMPFILE: decrypt, SIGTERM in the middle: the named temporary is removed" nothing_left
interrupted KILL $((size / 2)) "$TMP/big.p7m" LD_PRELOAD="$NOTMPFILE" -- --module "$MODULE" \
	--pin-source "$USER_PIN" decrypt $A --key "$BOB" -o "$TMP/o/out.eml"
left=$(ls -A "$TMP/o")
check "no O_TMPFILE: SIGKILL leaves only the marked temporary ($left)" \
	sh -c "echo '$left' | grep -qx 'out.eml.p11smime-[A-Za-z0-9]\{6\}'"
check "no O_TMPFILE: that temporary is 0600" \
	sh -c "[ \"\$(stat -c %a '$TMP/o/$left')\" = 600 ]"
rm -rf "$TMP/o"
mkdir "$TMP/o"
RC=0
LD_PRELOAD="$NOTMPFILE" "$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" decrypt $A \
	--key "$BOB" -o "$TMP/o/out.eml" "$TMP/big.p7m" >"$TMP/out" 2>"$TMP/err" || RC=$?
check "no O_TMPFILE: a whole decrypt still works" rc_is 0
check "no O_TMPFILE: and leaves only its output" \
	sh -c "[ \"\$(ls -A '$TMP/o')\" = out.eml ] && cmp -s '$TMP/o/out.eml' '$TMP/big.eml'"

# modes: decrypted content 0600 from creation, whatever the umask; the rest
# 0666 less the umask; an existing output is replaced
rm -rf "$TMP/o"
mkdir "$TMP/o"
echo old >"$TMP/o/dec.eml"
chmod 644 "$TMP/o/dec.eml"
for mask in 022 000; do
	RC=0
	(umask $mask; "$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" decrypt $A --key "$BOB" \
		-o "$TMP/o/dec.eml" "$TMP/big.p7m") >"$TMP/out" 2>"$TMP/err" || RC=$?
	check "umask $mask: decrypt's output is 0600" \
		sh -c "[ $RC -eq 0 ] && [ \"\$(stat -c %a '$TMP/o/dec.eml')\" = 600 ]"
	RC=0
	(umask $mask; "$P11SMIME" verify $A -o "$TMP/o/ver.eml" "$TMP/big.p7s") >"$TMP/out" \
		2>"$TMP/err" || RC=$?
	check "umask $mask: verify's output (the signed content) is 0600" \
		sh -c "[ $RC -eq 0 ] && [ \"\$(stat -c %a '$TMP/o/ver.eml')\" = 600 ]"
	RC=0
	rm -f "$TMP/o/signed.eml"
	(umask $mask; "$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" sign \
		-o "$TMP/o/signed.eml" "$TMP/big.eml") >"$TMP/out" 2>"$TMP/err" || RC=$?
	want=$(printf '%o' $((0666 & ~0$mask)))
	check "umask $mask: sign's output is $want" \
		sh -c "[ $RC -eq 0 ] && [ \"\$(stat -c %a '$TMP/o/signed.eml')\" = $want ]"
done
check "the old output was replaced" cmp -s "$TMP/o/dec.eml" "$TMP/big.eml"

# progress: on a terminal (script(1) gives one) a run that lasts shows how
# far it is, and clears the line at the end; not on a file
rm -rf "$TMP/o" "$TMP/fifo"
mkdir "$TMP/o"
mkfifo "$TMP/fifo"
( head -c $((ssize / 2)) "$TMP/big.eml"; sleep 1.6; tail -c +$((ssize / 2 + 1)) "$TMP/big.eml" ) \
	>"$TMP/fifo" &
PIDS="$PIDS $!"
script -qec "'$P11SMIME' --module '$MODULE' --pin-source '$USER_PIN' sign $A -o '$TMP/o/p.eml' '$TMP/fifo'" \
	/dev/null >"$TMP/tty.out" 2>&1 </dev/null
check "on a terminal, a long sign shows its progress (MiB read from a pipe) and clears it" \
	sh -c "grep -q 'p11smime: signing: [0-9]* MiB read' '$TMP/tty.out' && tail -c 4 '$TMP/tty.out' | od -c | grep -q '033'"
( head -c $((ssize / 2)) "$TMP/big.eml"; sleep 1.6; tail -c +$((ssize / 2 + 1)) "$TMP/big.eml" ) \
	>"$TMP/fifo" &
PIDS="$PIDS $!"
RC=0
"$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" sign $A -o "$TMP/o/p2.eml" "$TMP/fifo" \
	2>"$TMP/err" || RC=$?
check "...and nothing of it when standard error is not a terminal" \
	sh -c "[ $RC -eq 0 ] && [ ! -s '$TMP/err' ]"

# a reader that goes away: an error line, not a death by SIGPIPE
RC=0
{ "$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" decrypt $A --key "$BOB" \
	"$TMP/big.p7m" 2>"$TMP/err"; echo $? >"$TMP/rc"; } | head -c 10 >/dev/null
RC=$(cat "$TMP/rc")
check "decrypt to a pipe closed early: exit 2, not SIGPIPE (rc=$RC)" rc_is 2
check "decrypt to a pipe closed early: one line says so" \
	sh -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -qi 'broken pipe' '$TMP/err'"

# a remote token whose server dies mid-run (p11-kit server, p11-kit-client.so)
start_server() {
	rm -f "$TMP/p11.sock"
	p11-kit server -f -n "$TMP/p11.sock" --provider "$MODULE" "pkcs11:token=p11smime-user" \
		>"$TMP/srv.out" 2>"$TMP/srv.err" &
	SRV=$!
	PIDS="$PIDS $SRV"
	for _ in $(seq 1 100); do [ -S "$TMP/p11.sock" ] && break; sleep 0.05; done
	export P11_KIT_SERVER_ADDRESS="unix:path=$TMP/p11.sock"
}
# the server and the process it forked for our connection
kill_server() { pkill -KILL -P "$SRV" 2>/dev/null; kill -KILL "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; }

# through_dying_server INPUT ARGS...: p11smime ARGS on the remote token,
# INPUT arriving in two halves; the server dies between them. $RC.
through_dying_server() {
	local input=$1 half w s
	shift
	half=$(($(stat -c %s "$input") / 2))
	start_server
	rm -rf "$TMP/o" "$TMP/wrote" "$TMP/fifo"
	mkdir "$TMP/o"
	mkfifo "$TMP/fifo"
	( head -c $half "$input"; touch "$TMP/wrote"; sleep 1.5; tail -c +$((half + 1)) "$input" ) \
		>"$TMP/fifo" &
	w=$!
	PIDS="$PIDS $w"
	RC=0
	"$P11SMIME" --module "$CLIENT" --pin-source "$USER_PIN" "$@" <"$TMP/fifo" >"$TMP/out" \
		2>"$TMP/err" &
	s=$!
	for _ in $(seq 1 200); do [ -e "$TMP/wrote" ] && break; sleep 0.05; done
	kill_server
	wait "$s" || RC=$?
	wait "$w" 2>/dev/null
}

if [ -f "$CLIENT" ] && command -v p11-kit >/dev/null; then
	through_dying_server "$TMP/big.eml" sign $A -o "$TMP/o/s.eml"
	check "p11-kit server killed mid-sign: exit 3, not SIGPIPE (rc=$RC)" rc_is 3
	check "p11-kit server killed mid-sign: one line naming the token" \
		sh -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -q \"token 'p11smime-user'\" '$TMP/err'"
	check "p11-kit server killed mid-sign: no output, no temporary" nothing_left
	# decrypt needs the token only for the content key: a server that dies
	# after that does not spoil a decryption that can finish
	through_dying_server "$TMP/big.p7m" decrypt $A --key "$BOB" -o "$TMP/o/d.eml"
	check "p11-kit server killed after the key was used: decrypt finishes (rc=$RC)" rc_is 0
	check "p11-kit server killed after the key was used: the whole message" \
		cmp -s "$TMP/o/d.eml" "$TMP/big.eml"
	unset P11_KIT_SERVER_ADDRESS
else
	for _ in 1 2 3 4 5; do ok "# SKIP p11-kit server or p11-kit-client.so is missing"; done
fi
done_testing
