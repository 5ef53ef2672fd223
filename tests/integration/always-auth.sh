#!/bin/bash
# CKA_ALWAYS_AUTHENTICATE keys (PIV slot 9C): one context-specific login
# per signature, from the same PIN source, so batch use works.
. "$top_srcdir/tests/integration/lib.sh"
plan 8
fixtures
KEY="pkcs11:token=p11smime-piv;id=%02;type=private"

run_cmd "$KEYTEST" --module "$MODULE" --pin-source "$PIV_PIN" --count 3 "$KEY"
check "three signatures with file: PIN source" sh -c "[ $RC -eq 0 ] && grep -q 'always-authenticate' '$TMP/out'"

RC=0; "$KEYTEST" --module "$MODULE" --pin-source fd:5 --count 3 "$KEY" 5<"$P11SMIME_TEST_PIV_PIN_FILE" >"$TMP/out" 2>"$TMP/err" || RC=$?
check "three signatures with an fd: PIN source read once" rc_is 0

# in a URI, the values are percent-encoded ($TMP may have a space in it)
run_cmd "$KEYTEST" --module "$MODULE" --count 2 "$KEY;?pin-source=$(uri_value "$PIV_PIN")"
check "the key URI's pin-source= is used" rc_is 0

run_cmd "$KEYTEST" --module "$MODULE" --count 1 \
	"pkcs11:token=p11smime-piv;id=%02;type=private?module-path=$(uri_value "$MODULE")&pin-source=$(uri_value "$PIV_PIN")"
check "module-path= and pin-source= in the URI alone are enough" rc_is 0

run_cmd "$KEYTEST" --module "$MODULE" --count 1 "$KEY"
check "without a PIN source the key is not found and the hint says --pin-source" sh -c "[ $RC -eq 3 ] && grep -q 'pin-source' '$TMP/err'"

printf '000000' >"$TMP/wrong.pin"; chmod 600 "$TMP/wrong.pin"
run_cmd "$KEYTEST" --module "$MODULE" --pin-source "file:$TMP/wrong.pin" --count 1 "$KEY"
check "a wrong PIN fails with exit 3" rc_is 3

# a plain key on the same token needs no context login
run_cmd "$KEYTEST" --module "$MODULE" --pin-source "$USER_PIN" --count 2 "pkcs11:token=p11smime-user;object=dave"
check "an ordinary EC P-384 key signs twice" rc_is 0
run_cmd "$KEYTEST" --module "$MODULE" --pin-source "$PIV_PIN" --count 1 "pkcs11:token=p11smime-piv;id=%03;type=private"
check "a decrypt-only key refuses to sign" test "$RC" -ne 0
done_testing
