#!/bin/bash
# p11smime keys: key/certificate pairs with URIs, usage, always-auth,
# subject, e-mail addresses and validity; the URIs it prints work.
. "$top_srcdir/tests/integration/lib.sh"
plan 27
fixtures

run --module "$MODULE" --pin-source "$USER_PIN" keys --token "pkcs11:token=p11smime-user"
check "keys exits 0" rc_is 0
check "keys lists alice's key with its URI" out_has "token=p11smime-user;id=%01;object=alice;type=private"
check "keys shows the e-mail address" out_has "e-mail:   carol@example.org"
check "keys shows the key type and size" out_has "key:      RSA 3072, sign, decrypt"
check "keys shows the EC curve" out_has "key:      EC P-384, sign, derive"
check "keys marks an expired certificate" out_has "(EXPIRED)"
check "keys lists all six user keys" test "$(grep -c ';type=private' "$TMP/out")" -eq 6
check "the CA certificates (no key) are not listed as keys" out_lacks "intermediate-ca"

run --module "$MODULE" keys --pin-source "$PIV_PIN" --token "pkcs11:token=p11smime-piv" --json
check "keys --json is valid JSON" json_ok
check "the PIV signing key is always-authenticate and sign-only" json_q '
  [k for k in d["keys"] if k["id"]=="02"][0]["always_authenticate"] and
  [k for k in d["keys"] if k["id"]=="02"][0]["usage"]==["sign"]'
check "the key-management key is decrypt-only" json_q '
  "sign" not in [k for k in d["keys"] if k["id"]=="03"][0]["usage"] and
  "decrypt" in [k for k in d["keys"] if k["id"]=="03"][0]["usage"]'
check "both retired key-management keys are listed with their certificates" json_q '
  sorted(k["id"] for k in d["keys"] if k["certificate"])==["02","03","05","06"]'
check "the retired EC key can derive (ECDH)" json_q '
  "derive" in [k for k in d["keys"] if k["id"]=="06"][0]["usage"]'
check "certificates carry subject, e-mail and validity" json_q '
  all(k["certificate"]["emails"]==["pat@example.org"] and "CN=Pat PIV" in k["certificate"]["subject"]
      and k["certificate"]["not_after"].endswith("Z") for k in d["keys"])'

# the URIs keys prints are accepted back
cp "$TMP/out" "$TMP/piv.json"
uri=$(python3 -c 'import json,sys; print([k["uri"] for k in json.load(open(sys.argv[1]))["keys"] if k["id"]=="02"][0])' "$TMP/piv.json")
run_cmd "$KEYTEST" --module "$MODULE" --pin-source "$PIV_PIN" --count 1 "$uri"
check "a key URI printed by keys loads and signs" rc_is 0
run --module "$MODULE" keys --pin-source "$PIV_PIN" --json \
	--token "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"][0]["token_uri"])' "$TMP/piv.json")"
check "a token URI printed by keys selects that token" json_q 'len(d["keys"])==4 and all(k["token"]=="p11smime-piv" for k in d["keys"])'

# without a PIN source: what the token shows without a login
run --module "$MODULE" keys --token "pkcs11:token=p11smime-piv"
check "without a PIN, keys shows the certificates and exits 0" test "$RC" -eq 0 -a "$(grep -c 'private key hidden until login' "$TMP/out")" -eq 4
check "without a PIN, keys says how to see the private keys" err_has "give --pin-source"
# one fixed PIN and two tokens that need one: no PIN try is spent on a guess
run --module "$MODULE" keys --pin-source "$USER_PIN" --json
check "a PIN file with several tokens logs in to none of them" json_q '
  not d["complete"] and "several tokens" in d["incomplete_reason"] and
  all(not k["private_key"] for k in d["keys"])'
run --module "$MODULE" tokens --json
check "...so no token's PIN counter moved" json_q '
  not any(s["token"]["user_pin_count_low"] for m in d["modules"] for s in m["slots"] if "token" in s)'
run_cmd "$KEYTEST" --module "$MODULE" --pin-source "$USER_PIN" "pkcs11:id=%02;type=private"
check "a key URI matching keys on two tokens with one PIN file is refused" sh -c "[ $RC -eq 3 ] && grep -q 'add token=' '$TMP/err'"

# a printed URI works as given: with its ?module-path=, also when that names
# the module through a symlink or a copy of it (Debian installs
# /usr/lib/softhsm/libsofthsm2.so as a symlink; p11-kit's registry has
# another path), with --module naming it another way, or with no --module
run --module "$MODULE" keys --token "pkcs11:token=p11smime-user" --pin-source "$USER_PIN"
BOBURI=$(grep -o '^pkcs11:[^ ]*object=bob;type=private?module-path=[^ ]*' "$TMP/out" | head -1)
check "keys prints bob's private key with its ?module-path=" test -n "$BOBURI"
printf 'From: bob@example.org\nTo: alice@example.org\nSubject: uri\n\nhi\n' >"$TMP/uri.eml"
ln -s "$(readlink -f "$MODULE")" "$TMP/link.so"
cp "$(readlink -f "$MODULE")" "$TMP/copy.so"
enc_path() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
for how in "as printed:$BOBURI" "through a symlink:${BOBURI%%\?*}?module-path=$(enc_path "$TMP/link.so")" \
	"through a copy:${BOBURI%%\?*}?module-path=$(enc_path "$TMP/copy.so")"; do
	name=${how%%:*}
	uri=${how#*:}
	run --module "$MODULE" --pin-source "$USER_PIN" sign --key "$uri" -o "$TMP/uri.signed" "$TMP/uri.eml"
	check "the printed key URI, $name, with --module: signs (exit 0)" rc_is 0
done
run --module "$TMP/link.so" --pin-source "$USER_PIN" sign --key "$BOBURI" -o "$TMP/uri.signed" "$TMP/uri.eml"
check "the printed key URI with --module naming the module through a symlink: signs" rc_is 0
run --module "$MODULE" --pin-source "$USER_PIN" sign --key "${BOBURI%%\?*}?module-path=$(enc_path "$TMP/none.so")" \
	-o "$TMP/uri2.signed" "$TMP/uri.eml"
check "...and a module-path that is no module is refused (exit 3), nothing written" \
	sh -c "[ $RC -eq 3 ] && [ ! -e '$TMP/uri2.signed' ]"
done_testing
