#!/bin/bash
# p11smime inspect: the layers of a message without any key: signed by
# whom, encrypted for whom and how, and the MIME structure.
. "$top_srcdir/tests/integration/lib.sh"
plan 19
fixtures
A=(--anchors "$PKI/anchors.pem")
P=(--module "$MODULE" --pin-source "$USER_PIN")

cat >"$TMP/m.eml" <<'MSG'
From: Alice <alice@example.org>
To: Bob <bob@example.org>, carol@example.org
Subject: report
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=us-ascii

See the attachment.
--b1
Content-Type: application/pdf; name="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IK
--b1--
MSG
run inspect --json "$TMP/m.eml"
check "a plain message: one content layer with its MIME tree" json_q '
  len(d["layers"])==1 and d["layers"][0]["kind"]=="content"
  and [p["type"] for p in d["layers"][0]["parts"]]==["multipart/mixed","text/plain","application/pdf"]
  and d["layers"][0]["parts"][2]["filename"]=="report.pdf" and d["layers"][0]["parts"][2]["depth"]==1'

"$P11SMIME" "${P[@]}" sign -o "$TMP/signed.eml" "$TMP/m.eml" 2>/dev/null
run inspect "${A[@]}" --json "$TMP/signed.eml"
check "signed: who signed, valid, then the content's tree" json_q '
  [l["kind"] for l in d["layers"]]==["signed","content"]
  and d["layers"][0]["signature"]["valid"] and "alice@example.org" in d["layers"][0]["signature"]["signer_emails"]
  and d["layers"][1]["parts"][0]["type"]=="multipart/mixed"'
run inspect "${A[@]}" "$TMP/signed.eml"
check "...the text says signed by, algorithm and valid" sh -c "[ $RC -eq 0 ] && grep -q 'signed by:   emailAddress=alice' '$TMP/out' && grep -q 'signature:   valid' '$TMP/out'"
check "...and ends with one verdict line: signed by whom, trusted, not encrypted" \
	sh -c "[ \"\$(tail -1 '$TMP/out')\" = 'verdict: signed by alice@example.org, trusted; not encrypted' ]"
sed 's/See the attachment\./See the attachment!/' "$TMP/signed.eml" >"$TMP/tampered.eml"
run inspect "${A[@]}" "$TMP/tampered.eml"
check "a tampered signature is shown as NOT valid (and inspect still exits 0)" sh -c "[ $RC -eq 0 ] && grep -q 'NOT valid' '$TMP/out'"
check "...and the verdict says so" sh -c "tail -1 '$TMP/out' | grep -q '^verdict: NOT validly signed by alice@example.org (.*); not encrypted\$'"

"$P11SMIME" "${P[@]}" sign --opaque -o "$TMP/opaque.eml" "$TMP/m.eml" 2>/dev/null
run inspect "${A[@]}" --json "$TMP/opaque.eml"
check "opaque signed-data is opened the same way" json_q '
  d["layers"][0]["smime_type"]=="signed-data" and d["layers"][0]["signature"]["valid"]
  and d["layers"][1]["kind"]=="content"'

"$P11SMIME" "${P[@]}" encrypt "${A[@]}" -o "$TMP/enc.eml" "$TMP/m.eml" 2>/dev/null
run inspect --json "$TMP/enc.eml"
check "encrypted: the cipher, authenticated, and one entry per recipient (bob, carol, alice)" json_q '
  len(d["layers"])==1 and d["layers"][0]["kind"]=="encrypted" and d["layers"][0]["cipher"]=="aes-256-gcm"
  and d["layers"][0]["authenticated"] and len(d["layers"][0]["recipients"])==3'
check "...with their key management (RSA and ECDH)" json_q '
  sorted(r["key_management"] for r in d["layers"][0]["recipients"])==["dhSinglePass-stdDH-sha256kdf-scheme","rsaEncryption","rsaEncryption"]'
run inspect "$TMP/enc.eml"
check "...the text says NOT a word of the content" sh -c "grep -q 'aes-256-gcm, authenticated' '$TMP/out' && ! grep -q 'attachment' '$TMP/out'"
check "...verdict: encrypted, authenticated, for 3 recipients" \
	sh -c "tail -1 '$TMP/out' | grep -q '^verdict: encrypted (aes-256-gcm, authenticated) for 3 recipients'"
"$P11SMIME" "${P[@]}" encrypt "${A[@]}" --cipher aes-128-cbc --to bob@example.org -o "$TMP/cbc.eml" "$TMP/m.eml" 2>/dev/null
run inspect "$TMP/cbc.eml"
check "CBC is shown as not authenticated" grep -q 'aes-128-cbc, NOT authenticated' "$TMP/out"
check "...also in the verdict" sh -c "tail -1 '$TMP/out' | grep -q '^verdict: encrypted (aes-128-cbc, NOT authenticated)'"
run inspect "$TMP/m.eml"
check "a plain message's verdict: not signed, not encrypted" \
	sh -c "[ \"\$(tail -1 '$TMP/out')\" = 'verdict: not signed, not encrypted' ]"

"$P11SMIME" "${P[@]}" sign-encrypt "${A[@]}" -o "$TMP/se.eml" "$TMP/m.eml" 2>/dev/null
"$P11SMIME" "${P[@]}" decrypt "${A[@]}" --keep-signed -o "$TMP/se.dec" "$TMP/se.eml" 2>/dev/null
run inspect "${A[@]}" --json "$TMP/se.dec"
check "a decrypted sign-encrypted message: signed, then content" json_q '[l["kind"] for l in d["layers"]]==["signed","content"]'
"$P11SMIME" "${P[@]}" sign --key "pkcs11:token=p11smime-user;object=alice" -o "$TMP/twice.eml" "$TMP/signed.eml" 2>/dev/null
run inspect "${A[@]}" --json "$TMP/twice.eml"
check "signed twice: two signed layers, then content" json_q '[l["kind"] for l in d["layers"]]==["signed","signed","content"]'
head -c 300 "$TMP/enc.eml" >"$TMP/cut.eml"
run inspect "$TMP/cut.eml"
check "a cut encrypted message: exit 2, one line" eval '[ $RC -eq 2 ] && err_one_line'
printf 'Subject: a\0b\n\nbody\n' >"$TMP/nul.eml"
run inspect "$TMP/nul.eml"
check "a NUL byte in a header line: exit 2, one line (found by fuzzing)" eval '[ $RC -eq 2 ] && err_one_line'
run inspect "$TMP/nothing-here.eml"
check "a missing file: exit 2" rc_is 2
done_testing
