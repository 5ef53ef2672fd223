#!/bin/bash
# Bad input: one clear line on stderr and the contract's exit code.
. "$top_srcdir/tests/integration/lib.sh"
plan 17
fixtures

run --module "$TMP/no-such-module.so" tokens
check "an unknown module path exits 3" rc_is 3
check "...with one line naming the module" sh -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -q 'no-such-module.so' '$TMP/err'"

printf 'not a shared object' >"$TMP/bogus.so"
run --module "$TMP/bogus.so" keys
check "a file that is not a PKCS#11 module exits 3 with one line" sh -c "[ $RC -eq 3 ] && [ \$(wc -l <'$TMP/err') -eq 1 ]"

run --module "$MODULE" --pin-source "$USER_PIN" keys --token "pkcs11:token=nobody-has-this"
check "a token URI matching nothing exits 3" rc_is 3
check "...with one line saying nothing matches" sh -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -q 'no token matches' '$TMP/err'"

run --module "$MODULE" keys --token "pkcs11:token=%zz"
check "a malformed URI exits 2" rc_is 2
check "...with one line" err_one_line

run --module "$MODULE" keys --token "https://example.org/"
check "a non-pkcs11 URI exits 2" rc_is 2

run --module "$MODULE" keys --token "pkcs11:token=p11smime-user?pin-value=123456"
check "a URI carrying a PIN is refused (exit 2)" rc_is 2
check "...and the PIN is not echoed" err_lacks "123456"

run_cmd "$KEYTEST" --module "$MODULE" --pin-source "$USER_PIN" "pkcs11:token=p11smime-user;object=nobody;type=private"
check "a key URI matching no key fails with a clear line" sh -c "[ $RC -eq 3 ] && grep -q 'no private key matches' '$TMP/err'"
printf 'From: bob@example.org\n\nhi\n' >"$TMP/nopin.eml"
run --module "$MODULE" sign --key "pkcs11:token=p11smime-user;object=bob;type=private" "$TMP/nopin.eml"
check "a key URI without any --pin-source: exit 3, one line saying a PIN source is needed" \
	sh -c "[ $RC -eq 3 ] && [ \$(wc -l <'$TMP/err') -eq 1 ] && grep -q -- '--pin-source' '$TMP/err' && ! grep -q 'no private key matches' '$TMP/err'"
run_cmd "$KEYTEST" --module "$MODULE" --pin-source "$USER_PIN" "pkcs11:token=p11smime-user;type=private"
check "a key URI matching several keys is refused as ambiguous" sh -c "[ $RC -eq 3 ] && grep -q 'add id= or object=' '$TMP/err'"

run frobnicate
check "an unknown command exits 2" sh -c "[ $RC -eq 2 ] && [ \$(wc -l <'$TMP/err') -eq 1 ]"
run keys --no-such-option
check "an unknown option exits 2" rc_is 2
run --help
check "--help describes the commands" sh -c "[ $RC -eq 0 ] && grep -q 'keys' '$TMP/out' && grep -q 'pin-source' '$TMP/out'"
run --version
check "--version prints the version" out_has "p11smime "
done_testing
