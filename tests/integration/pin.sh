#!/bin/bash
# PIN sources: file: (refused when others can read it), fd:, pinentry,
# tty; a wrong PIN is reported, never retried, and the token still works.
. "$top_srcdir/tests/integration/lib.sh"
plan 16
fixtures
TOK="pkcs11:token=p11smime-user"

# wrong PIN, then the right one
printf '000000' >"$TMP/wrong.pin"; chmod 600 "$TMP/wrong.pin"
run --module "$MODULE" keys --pin-source "file:$TMP/wrong.pin" --token "$TOK"
check "a wrong PIN exits 3" rc_is 3
check "a wrong PIN gives one line that mentions the PIN" sh -c "grep -q 'PIN' '$TMP/err' && [ \$(wc -l <'$TMP/err') -eq 1 ]"
check "the wrong PIN is not echoed" err_lacks "000000"
run --module "$MODULE" keys --pin-source "$USER_PIN" --token "$TOK"
check "after a wrong PIN the right one still works" rc_is 0

# a PIN file others can read is refused, before any login
cp "$P11SMIME_TEST_USER_PIN_FILE" "$TMP/open.pin"; chmod 644 "$TMP/open.pin"
run --module "$MODULE" keys --pin-source "file:$TMP/open.pin" --token "$TOK"
check "a world-readable PIN file is refused with exit 3" rc_is 3
check "...with one line saying how to fix it" sh -c "err_one_line() { [ \$(wc -l <'$TMP/err') -eq 1 ]; }; err_one_line && grep -q 'chmod 600' '$TMP/err'"
chmod 640 "$TMP/open.pin"
run --module "$MODULE" keys --pin-source "file:$TMP/open.pin" --token "$TOK"
check "a group-readable PIN file is refused too" rc_is 3

run --module "$MODULE" keys --pin-source "file:$TMP/missing.pin" --token "$TOK"
check "a missing PIN file gives exit 3 and names it" sh -c "[ $RC -eq 3 ] && grep -q 'missing.pin' '$TMP/err'"

# fd:N
RC=0; "$P11SMIME" --module "$MODULE" keys --pin-source fd:7 --token "$TOK" 7<"$P11SMIME_TEST_USER_PIN_FILE" >"$TMP/out" 2>"$TMP/err" || RC=$?
check "fd:N reads the PIN from a descriptor" sh -c "[ $RC -eq 0 ] && grep -q 'object=alice' '$TMP/out'"

# pinentry (the Assuan protocol of GnuPG's pinentry programs)
cat >"$TMP/fake-pinentry" <<PE
#!/bin/sh
echo "OK fake pinentry ready"
while read -r cmd rest; do
  case "\$cmd" in
    GETPIN) echo "D $(cat "$P11SMIME_TEST_USER_PIN_FILE")"; echo OK ;;
    BYE) echo "OK closing"; exit 0 ;;
    *) echo OK ;;
  esac
done
PE
sed 's/GETPIN) echo "D [^"]*"; echo OK/GETPIN) echo "ERR 83886179 Operation cancelled"/' "$TMP/fake-pinentry" >"$TMP/cancel-pinentry"
chmod 755 "$TMP/fake-pinentry" "$TMP/cancel-pinentry"
run --module "$MODULE" keys --pin-source "pinentry:$TMP/fake-pinentry" --token "$TOK"
check "pinentry:PROGRAM supplies the PIN" sh -c "[ $RC -eq 0 ] && grep -q 'object=alice' '$TMP/out'"
run --module "$MODULE" keys --pin-source "pinentry:$TMP/cancel-pinentry" --token "$TOK"
check "a cancelled pinentry exits 3 and says so" sh -c "[ $RC -eq 3 ] && grep -qi 'cancel' '$TMP/err'"
run --module "$MODULE" keys --pin-source "pinentry:$TMP/no-such-pinentry" --token "$TOK"
check "a pinentry that cannot start exits 3" rc_is 3

# tty without a terminal
RC=0; setsid "$P11SMIME" --module "$MODULE" keys --pin-source tty --token "$TOK" </dev/null >"$TMP/out" 2>"$TMP/err" || RC=$?
check "tty without a terminal exits 3 with a hint" sh -c "[ $RC -eq 3 ] && grep -q 'pin-source' '$TMP/err'"

# bad specs are usage errors
run --module "$MODULE" keys --pin-source "sms:12345" --token "$TOK"
check "an unknown PIN source is a usage error (exit 2)" rc_is 2
check "...and does not echo its value" err_lacks "12345"

# the PIN never shows up in any output
for src in "$USER_PIN" "pinentry:$TMP/fake-pinentry"; do
	"$P11SMIME" --module "$MODULE" keys --json --pin-source "$src" >>"$TMP/all" 2>&1 || true
done
check "the PIN never appears in output" sh -c "! grep -q 123456 '$TMP/all'"
done_testing
