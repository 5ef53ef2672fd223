#!/bin/bash
# p11smime certs: the user's certificate store (import, list, find, export,
# remove, trust, untrust), and how encrypt and verify use it.
. "$top_srcdir/tests/integration/lib.sh"
plan 22
fixtures
P=(--module "$MODULE")

run certs import "$PKI/bob.cert.pem" "$PKI/carol.cert.pem"
check "import remembers certificates" sh -c "[ $RC -eq 0 ] && [ \$(ls '$P11SMIME_HOME/certs/' | grep -c '\.pem$') -eq 2 ]"
run certs list --json
check "list --json shows them with their addresses" json_q 'len(d)==2 and any("bob@example.org" in c["emails"] for c in d)'
run certs list
check "list shows a short fingerprint, subject and validity" sh -c "grep -q 'CN=Carol' '$TMP/out' && grep -q 'valid until' '$TMP/out'"
openssl x509 -in "$PKI/dave.cert.pem" -outform DER -out "$TMP/dave.der"
run certs import "$TMP/dave.der"
check "import reads DER too" rc_is 0
run "${P[@]}" certs find carol@example.org --json
check "find looks on the tokens and in the store" json_q 'len(d)>=2 and all("carol@example.org" in c["emails"] for c in d)'
run certs export bob@example.org -o "$TMP/bob.pem"
check "export writes PEM" bash -c "[ $RC -eq 0 ] && cmp -s <(openssl x509 -in '$TMP/bob.pem' -outform DER) <(openssl x509 -in '$PKI/bob.cert.pem' -outform DER)"
fp=$(openssl x509 -in "$PKI/bob.cert.pem" -outform DER | sha256sum | cut -c1-12)
run certs remove "$fp"
check "remove by fingerprint prefix" sh -c "[ $RC -eq 0 ] && ! ls '$P11SMIME_HOME/certs/' | grep -q '^$fp'"
run certs remove bob@example.org
check "removing what is not there: exit 3, one line" sh -c "[ $RC -eq 3 ] && grep -q 'no certificate in the store' '$TMP/err'"
run certs remove 12
check "WHICH must be an address or 8+ hex digits (exit 2)" rc_is 2
printf 'no certificate here\n' >"$TMP/not-a-cert.txt"
run certs import "$TMP/not-a-cert.txt"
check "a file without certificates: exit 2, one line" eval "[ $RC -eq 2 ] && err_one_line"
run certs frobnicate
check "an unknown sub-command: exit 2" rc_is 2

# trust: the user's own anchors
printf 'From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: t\n\nhello\n' >"$TMP/m.eml"
"$P11SMIME" "${P[@]}" --pin-source "$USER_PIN" sign -o "$TMP/m.signed" "$TMP/m.eml" 2>/dev/null
run verify -o /dev/null "$TMP/m.signed"
check "without trust in the test root, verify fails" rc_is 1
run certs trust "$PKI/root-ca.cert.pem"
check "trust FILE makes the root an anchor" rc_is 0
run verify -o /dev/null "$TMP/m.signed"
check "...and verify now succeeds without --anchors" rc_is 0
run certs list --trusted --json
check "list --trusted shows it" json_q 'len(d)==1 and "Root CA" in d[0]["subject"]'
rootfp=$(openssl x509 -in "$PKI/root-ca.cert.pem" -outform DER | sha256sum | cut -c1-16)
run certs untrust "$rootfp"
run verify -o /dev/null "$TMP/m.signed"
check "untrust takes it back" rc_is 1

# a damaged entry is skipped, never a crash
echo "garbage" >"$P11SMIME_HOME/certs/0000.pem"
run certs list
check "a damaged entry is reported and skipped" sh -c "[ $RC -eq 0 ] && grep -q 'damaged' '$TMP/err' && grep -q 'CN=Carol' '$TMP/out'"
rm -f "$P11SMIME_HOME/certs/0000.pem"

# two processes writing at once lose nothing
for i in $(seq 1 8); do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=p$i/emailAddress=p$i@example.org" -days 2 -out "$TMP/p$i.pem" 2>/dev/null
done
before=$(ls "$P11SMIME_HOME/certs/" | grep -c '\.pem$')
for i in $(seq 1 8); do "$P11SMIME" certs import "$TMP/p$i.pem" >/dev/null 2>&1 & done
wait
after=$(ls "$P11SMIME_HOME/certs/" | grep -c '\.pem$')
check "eight imports at once: all eight are there" [ "$after" -eq $((before + 8)) ]
check "...and no temporary files are left" sh -c "! ls -a '$P11SMIME_HOME/certs/' | grep -q '^\.[^.]'"
# an option that does nothing for a sub-command is refused, not ignored
run certs list -o "$TMP/list.pem"
check "certs list -o: exit 2, nothing written (-o is for export)" \
	sh -c "[ $RC -eq 2 ] && [ ! -e '$TMP/list.pem' ] && grep -q 'certs export' '$TMP/err'"
run certs remove --trusted bob@example.org
check "certs remove --trusted: exit 2 (--trusted is for list)" rc_is 2
run certs import --json "$PKI/bob.cert.pem"
check "certs import --json: exit 2 (--json is for list and find)" rc_is 2
done_testing
