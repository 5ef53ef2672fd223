#!/bin/bash
# --json for what scripts drive: sign, encrypt, sign-encrypt and keygen
# say what they did as one JSON object on stdout (the message only to -o);
# a failure under --json is one JSON object on stderr with the exit status.
. "$top_srcdir/tests/integration/lib.sh"
plan 12
fixtures
A="--anchors $PKI/anchors.pem"
printf 'From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: json\n\nhello\n' >"$TMP/m.eml"
p() { run --module "$MODULE" --pin-source "$USER_PIN" "$@"; }
err_json_q() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ('"$1"') else 1)' "$TMP/err"; }

p sign $A --json -o "$TMP/s.eml" "$TMP/m.eml"
check "sign --json: exit 0, one JSON object naming the signer and the chain sent" json_q '
  d["signed"] and d["output"].endswith("/s.eml") and d["signer"]["subject"].endswith("CN=Alice")
  and d["signer"]["digest"] == "sha256" and d["signer"]["chain_complete"]
  and any("Intermediate" in c for c in d["signer"]["chain"]) and "type=private" in d["signer"]["key"]'
check "...and the signed message went to -o only" sh -c "grep -q multipart/signed '$TMP/s.eml' && [ \$(wc -l <'$TMP/out') -eq 1 ]"
run --module "$MODULE" --pin-source "$PIV_PIN" sign $A --json \
	--key "pkcs11:token=p11smime-piv;id=%02;type=private" -o "$TMP/p.eml" "$TMP/m.eml"
check "sign --json with a chain that stops short: chain_complete false, the missing issuer named" json_q '
  not d["signer"]["chain_complete"] and "Intermediate" in d["signer"]["chain_missing"]'
p sign --json "$TMP/m.eml"
check "sign --json without -o: exit 2, the error as JSON on stderr" \
	sh -c "[ $RC -eq 2 ] && [ ! -s '$TMP/out' ]"
check "...{error, exit 2, kind usage}" err_json_q 'd["exit"] == 2 and d["kind"] == "usage" and "-o" in d["error"]'

p encrypt $A --json --to bob@example.org -o "$TMP/e.p7m" "$TMP/m.eml"
check "encrypt --json: cipher and each recipient with its key management" json_q '
  d["encrypted"] and not d["signed"] and d["cipher"] == "aes-256-gcm"
  and sorted(r["for"] for r in d["recipients"]) == ["alice@example.org", "bob@example.org"]
  and all(r["key_management"] == "rsaes-pkcs1-v1_5" for r in d["recipients"])'
p sign-encrypt $A --json --to carol@example.org -o "$TMP/se.p7m" "$TMP/m.eml"
check "sign-encrypt --json: signed, the signer, and ECDH for carol" json_q '
  d["encrypted"] and d["signed"] and d["signer"]["subject"].endswith("CN=Alice")
  and [r["key_management"] for r in d["recipients"] if r["for"] == "carol@example.org"] == ["ecdh"]'
p encrypt $A --json --to nobody@example.org -o "$TMP/n.p7m" "$TMP/m.eml"
check "encrypt --json to someone without a certificate: exit 1, the error as one JSON object" \
	sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/n.p7m' ] && [ \$(wc -l <'$TMP/err') -eq 1 ]"
check "...{error naming the address, exit 1, kind check}" \
	err_json_q 'd["exit"] == 1 and d["kind"] == "check" and "nobody@example.org" in d["error"]'

p keygen --token "pkcs11:token=p11smime-user" --type ec:p256 --label json-key --json
check "keygen --json: the new key's URI, label, type and usage" json_q '
  d["done"] == "key pair generated" and d["token"] == "p11smime-user" and d["label"] == "json-key"
  and d["type"] == "EC" and d["sign"] and "type=private" in d["key"]'
p keygen --token "pkcs11:token=p11smime-user" --type ec:p256 --label json-key --json
check "keygen --json of a label that exists: a JSON error, not a line" \
	sh -c "[ $RC -ne 0 ] && head -c1 '$TMP/err' | grep -q '{'"
run --module "$MODULE" --pin-source "file:$TMP/no-such.pin" keys --token "pkcs11:token=p11smime-user" --json
check "keys --json with a PIN file that does not exist: {exit 3, kind token, the file named}" \
	sh -c "[ $RC -eq 3 ] && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d[\"kind\"] == \"token\" and \"no-such.pin\" in d[\"error\"] else 1)' '$TMP/err'"
done_testing
