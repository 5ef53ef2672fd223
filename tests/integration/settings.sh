#!/bin/bash
# The settings file: $P11SMIME_HOME/config (or the XDG config folder):
# default key, digest, cipher and anchors; command-line options win; bad
# lines are reported with their number.
. "$top_srcdir/tests/integration/lib.sh"
plan 11
fixtures
P=(--module "$MODULE" --pin-source "$USER_PIN")
printf 'From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: s\n\nhello\n' >"$TMP/m.eml"
conf=$P11SMIME_HOME/config

"$P11SMIME" "${P[@]}" sign -o "$TMP/s.eml" "$TMP/m.eml" 2>/dev/null
run verify -o /dev/null "$TMP/s.eml"
check "without settings, the test root is not trusted" rc_is 1
printf '# my settings\nanchors = %s\n\ndigest = sha512   # strong\ncipher = aes-128-cbc\n' "$PKI/anchors.pem" >"$conf"
run verify -o /dev/null "$TMP/s.eml"
check "anchors from the settings file are used" rc_is 0
run "${P[@]}" sign -o "$TMP/s2.eml" "$TMP/m.eml"
check "digest from the settings file" grep -q 'micalg=sha-512' "$TMP/s2.eml"
run "${P[@]}" sign --digest sha256 -o "$TMP/s3.eml" "$TMP/m.eml"
check "...and --digest wins over it" grep -q 'micalg=sha-256' "$TMP/s3.eml"
run "${P[@]}" encrypt -o "$TMP/e.eml" "$TMP/m.eml"
check "cipher from the settings file" sh -c "[ $RC -eq 0 ] && grep -q 'smime-type=enveloped-data' '$TMP/e.eml'"
printf 'key = pkcs11:token=p11smime-user;object=carol\nanchors = %s\n' "$PKI/anchors.pem" >"$conf"
run "${P[@]}" sign -o "$TMP/s4.eml" "$TMP/m.eml"
run inspect --json "$TMP/s4.eml"
check "the default key from the settings file signs" json_q '"carol@example.org" in d["layers"][0]["signature"]["signer_emails"]'
printf 'anchors = %s\ncolour = blue\n' "$PKI/anchors.pem" >"$conf"
run verify -o /dev/null "$TMP/s.eml"
check "an unknown setting: exit 2, naming the file and line" eval "[ $RC -eq 2 ] && err_one_line && grep -q 'config line 2: unknown setting .colour.' '$TMP/err'"
printf 'cipher = rot13\n' >"$conf"
run "${P[@]}" encrypt -o "$TMP/e2.eml" "$TMP/m.eml"
check "a bad value: exit 2" sh -c "[ $RC -eq 2 ] && grep -q 'line 1' '$TMP/err'"
printf 'just words\n' >"$conf"
run verify -o /dev/null "$TMP/s.eml"
check "a line without '=': exit 2" rc_is 2
rm -f "$conf"
mkdir -p "$TMP/xdg/p11smime"
printf 'anchors = %s\n' "$PKI/anchors.pem" >"$TMP/xdg/p11smime/config"
RC=0; env -u P11SMIME_HOME XDG_CONFIG_HOME="$TMP/xdg" "$P11SMIME" verify -o /dev/null "$TMP/s.eml" \
	>"$TMP/out" 2>"$TMP/err" || RC=$?
check "without P11SMIME_HOME, the XDG config folder is read" rc_is 0
# a relative XDG_CONFIG_HOME is ignored, as the XDG spec says and the store does
(cd "$TMP" && env -u P11SMIME_HOME XDG_CONFIG_HOME=xdg "$P11SMIME" verify -o /dev/null "$TMP/s.eml") \
	>"$TMP/out" 2>"$TMP/err"
RC=$?
check "...but not a relative XDG_CONFIG_HOME (its anchors are not used: exit 1)" rc_is 1
done_testing
