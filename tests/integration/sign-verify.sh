#!/bin/bash
# p11smime sign and verify on the fixture tokens: round trips for every key
# type, detached and opaque, 7bit/8bit/binary bodies, LF and CRLF input,
# checked by p11smime verify and openssl cms; and the negative twins.
. "$top_srcdir/tests/integration/lib.sh"
plan 60
fixtures
A=(--anchors "$PKI/anchors.pem")
cat "$PKI/anchors.pem" >"$TMP/root.pem"

mkmsg() { # file from body-kind eol
	local f=$1 from=$2 kind=$3 eol=$4
	{
		printf 'From: Someone <%s>\nTo: bob@example.org\nSubject: test %s\nDate: Sat, 28 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.org>\n' "$from" "$kind" "$RANDOM"
		case $kind in
		7bit) printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello,\nplain text.\n' ;;
		8bit) printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe,\nFrom the start of a line, with trailing space \n' ;;
		binary) printf 'MIME-Version: 1.0\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n'; head -c 3000 /dev/urandom ;;
		multipart8) printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\nContent-Transfer-Encoding: 8bit\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe \nFrom here\n--b1\nContent-Type: multipart/alternative; boundary=b2\n\n--b2\nContent-Type: text/html\n\n<p>caf\xc3\xa9</p>\n--b2--\n--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n'; head -c 500 /dev/urandom; printf '\n--b1--\n' ;;
		multipart) printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain\n\nfirst part\n--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAwQF\n--b1--\n' ;;
		esac
	} >"$f"
	[ "$eol" = crlf ] && sed -i 's/$/\r/' "$f" || true
}

signs() { # name from key-uri pin extra...  -> $TMP/name.signed
	local name=$1 from=$2 key=$3 pin=$4
	shift 4
	RC=0
	"$P11SMIME" --module "$MODULE" --pin-source "$pin" sign ${key:+--key "$key"} "$@" \
		-o "$TMP/$name.signed" "$TMP/$name.eml" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

roundtrip() { # desc name from key pin kind eol extra...
	local desc=$1 name=$2 from=$3 key=$4 pin=$5 kind=$6 eol=$7
	shift 7
	mkmsg "$TMP/$name.eml" "$from" "$kind" "$eol"
	signs "$name" "$from" "$key" "$pin" "$@"
	if [ "$RC" -ne 0 ]; then not_ok "$desc: sign failed"; diag <"$TMP/err"; return; fi
	run verify "${A[@]}" -o "$TMP/$name.content" "$TMP/$name.signed"
	check "$desc: p11smime verify says OK" sh -c "[ $RC -eq 0 ] && grep -q 'signature OK' '$TMP/err'"
	RC=0; openssl cms -verify -in "$TMP/$name.signed" -CAfile "$TMP/root.pem" -out /dev/null \
		>/dev/null 2>"$TMP/err" || RC=$?
	check "$desc: openssl cms -verify accepts it" rc_is 0
}

roundtrip "RSA-2048, 7bit, LF" alice alice@example.org "" "$USER_PIN" 7bit lf
roundtrip "RSA-2048, 8bit text, CRLF" alice8 alice@example.org "" "$USER_PIN" 8bit crlf
roundtrip "RSA-2048, binary body" alicebin alice@example.org "" "$USER_PIN" binary lf
roundtrip "RSA-2048, multipart body" alicemp alice@example.org "" "$USER_PIN" multipart crlf
roundtrip "RSA-2048, multipart body with 8-bit and binary parts" alicemp8 alice@example.org "" "$USER_PIN" multipart8 lf
roundtrip "RSA-PSS" alicepss alice@example.org "" "$USER_PIN" 8bit lf --pss
roundtrip "RSA-3072, SHA-512" bob bob@example.org "" "$USER_PIN" 7bit lf --digest sha512
roundtrip "EC P-256" carol carol@example.org "" "$USER_PIN" 8bit lf
roundtrip "EC P-384" dave dave@example.org "" "$USER_PIN" binary crlf
roundtrip "opaque signed-data" daveo dave@example.org "" "$USER_PIN" 8bit lf --opaque
# a PIV card holds no CA certificates: the intermediate comes from --certfile
roundtrip "always-authenticate PIV key, chosen by From:" pat pat@example.org "" "$PIV_PIN" 8bit lf \
	--certfile "$PKI/intermediate-ca.cert.pem"
roundtrip "always-authenticate PIV key, opaque" pato pat@example.org "" "$PIV_PIN" 7bit crlf --opaque \
	--certfile "$PKI/intermediate-ca.cert.pem"

# a PIV card holds no CA certificates: the intermediate comes from the user's store
# (an empty one here: the verifications above kept the intermediate their
# messages carried)
mkmsg "$TMP/pivstore.eml" pat@example.org 7bit lf
rm -rf "$P11SMIME_HOME"
mkdir -p "$P11SMIME_HOME"
RC=0; "$P11SMIME" --module "$MODULE" --pin-source "$PIV_PIN" sign -o "$TMP/pivstore.nostore" \
	"$TMP/pivstore.eml" 2>"$TMP/err" || RC=$?
RC2=0; openssl cms -verify -in "$TMP/pivstore.nostore" -CAfile "$TMP/root.pem" -out /dev/null 2>/dev/null || RC2=$?
check "without --certfile or the store, a PIV signature lacks its intermediate (openssl cannot chain it)" \
	sh -c "[ $RC -eq 0 ] && [ $RC2 -ne 0 ]"
run --module "$MODULE" verify "${A[@]}" --no-aia -o /dev/null "$TMP/pivstore.nostore"
check "...p11smime verify finds the intermediate among the tokens' CA certificates" rc_is 0
"$P11SMIME" certs import "$PKI/intermediate-ca.cert.pem" >/dev/null 2>&1
signs pivstore pat@example.org "" "$PIV_PIN"
RC2=0; openssl cms -verify -in "$TMP/pivstore.signed" -CAfile "$TMP/root.pem" -out /dev/null 2>/dev/null || RC2=$?
check "...with the intermediate in the user's store, it is sent along and openssl verifies" \
	sh -c "[ $RC -eq 0 ] && [ $RC2 -eq 0 ]"

check "the 8-bit body was made quoted-printable" grep -q 'Content-Transfer-Encoding: quoted-printable' "$TMP/alice8.signed"
check "\"From \" at a line start is protected" grep -q '^=46rom the start' "$TMP/alice8.signed"
check "8-bit parts inside a multipart were made quoted-printable" sh -c "grep -q '^Gr=C3=BC=C3=9Fe=20' '$TMP/alicemp8.signed' && grep -q 'caf=C3=A9' '$TMP/alicemp8.signed'"
check "the binary body was made base64" grep -q 'Content-Transfer-Encoding: base64' "$TMP/alicebin.signed"
check "routing headers stay outside, MIME-Version is set" sh -c "head -8 '$TMP/alice.signed' | grep -q '^Subject: test' && grep -q '^MIME-Version: 1.0' '$TMP/alice.signed'"
check "P-384 uses micalg=sha-384" grep -q 'micalg=sha-384' "$TMP/dave.signed"
check "the PIV signature names the key-management certificate (encryption key preference)" sh -c "
	awk '/smime.p7s/{p=1} p' '$TMP/pat.signed' | sed '1,/^\$/d;/^--/,\$d' | openssl base64 -d |
	openssl cms -cmsout -print -inform DER | grep -q 'encrypKeyPref'"
check "verify wrote the signed content" grep -q 'plain text' "$TMP/alice.content"
run verify "${A[@]}" --json -o "$TMP/j.content" "$TMP/carol.signed"
check "verify --json reports signer, anchor and algorithm" json_q '
  d["valid"] and d["from_matches"] and "carol@example.org" in d["signer_emails"]
  and "Root CA" in d["anchor"] and d["digest"]=="SHA256"'
check "a valid signer is remembered in the certificate store" sh -c "ls '$P11SMIME_HOME/certs/' | grep -q '.pem'"

# a pipe or device as OUT is written into, never replaced by a rename
# (the reader gives up after a minute: the test never hangs on the FIFO)
mkfifo "$TMP/fifo"
timeout 60 cat "$TMP/fifo" >"$TMP/fifo.out" &
run verify "${A[@]}" -o "$TMP/fifo" "$TMP/alice.signed"
wait
check "-o to a FIFO writes the content into it and leaves the FIFO in place" sh -c "[ $RC -eq 0 ] && [ -p '$TMP/fifo' ] && grep -q 'plain text' '$TMP/fifo.out'"
timeout 60 cat "$TMP/fifo" >"$TMP/fifo.out" &
sed 's/plain text\./plain text!/' "$TMP/alice.signed" >"$TMP/t0"
run verify "${A[@]}" -o "$TMP/fifo" "$TMP/t0"
wait
check "...and a failed check releases nothing into it" sh -c "[ $RC -eq 1 ] && [ ! -s '$TMP/fifo.out' ]"

# ---- negative twins ----
neg() { # desc file expected-rc text
	run verify "${A[@]}" -o "$TMP/neg.out" "$2"
	check "$1" sh -c "[ $RC -eq $3 ] && grep -qi -- '$4' '$TMP/err' && [ ! -e '$TMP/neg.out' ]"
}
sed 's/plain text\./plain text!/' "$TMP/alice.signed" >"$TMP/t1"
neg "tampered body fails, nothing written" "$TMP/t1" 1 "changed after signing"
sed 's/^Content-Type: text\/plain; charset=us-ascii/Content-Type: text\/html; charset=us-ascii/' "$TMP/alice.signed" >"$TMP/t2"
neg "tampered header inside the signed entity fails" "$TMP/t2" 1 "changed after signing"
sed 's/micalg=sha-256/micalg=sha-512/' "$TMP/alice.signed" >"$TMP/t3"
neg "wrong micalg fails" "$TMP/t3" 1 "micalg"
sed 's/^From: Someone <alice@example.org>/From: Someone <carol@example.org>/' "$TMP/alice.signed" >"$TMP/t4"
neg "From: of someone else fails" "$TMP/t4" 1 "carol@example.org"
head -n -5 "$TMP/alice.signed" >"$TMP/t5"
neg "a truncated message is malformed (2)" "$TMP/t5" 2 "truncated"
awk '/smime.p7s/{p=1} p&&/^[A-Za-z0-9+\/]+=*$/&&!done{print "Z2FyYmFnZSBnYXJiYWdl"; done=1; skip=1; next} skip&&/^[A-Za-z0-9+\/]+=*$/{next} {print}' "$TMP/alice.signed" >"$TMP/t6"
neg "garbage instead of the signature part is malformed (2)" "$TMP/t6" 2 "CMS"
mkmsg "$TMP/mallory.eml" mallory@example.org 7bit lf
signs mallory mallory@example.org "pkcs11:token=p11smime-user;object=mallory" "$USER_PIN"
neg "a signer from an untrusted CA fails" "$TMP/mallory.signed" 1 "trusted anchor"
mkmsg "$TMP/eve.eml" eve@example.org 7bit lf
signs eve eve@example.org "pkcs11:token=p11smime-user;object=eve" "$USER_PIN"
check "signing with an expired certificate: signed, with a warning that recipients will not accept it" \
	sh -c "[ $RC -eq 0 ] && grep -q 'warning: the signing certificate expired on' '$TMP/err'"
mkmsg "$TMP/carolpss.eml" carol@example.org 7bit lf
signs carolpss carol@example.org "" "$USER_PIN" --pss
check "--pss with an EC key: exit 2, one line, before anything else" \
	sh -c "[ $RC -eq 2 ] && [ \$(wc -l <'$TMP/err') -eq 1 ] && grep -q 'pss needs an RSA key' '$TMP/err'"
neg "an expired signer fails" "$TMP/eve.signed" 1 "expired"
run verify "${A[@]}" --at "$(date -u -d "@$P11SMIME_TEST_OLD_AT" +%Y-%m-%dT%H:%M:%SZ)" -o "$TMP/eve.content" "$TMP/eve.signed"
check "...and verifies with --at inside its validity" rc_is 0
openssl cms -sign -in "$TMP/alice.eml" -signer "$PKI/alice.cert.pem" -inkey "$PKI/alice.key.pem" \
	-from alice@example.org -certfile "$PKI/intermediate-ca.cert.pem" -md sha1 \
	-out "$TMP/sha1.signed" 2>/dev/null
neg "a SHA-1 signature fails without --allow-weak" "$TMP/sha1.signed" 1 "SHA-1"
run verify "${A[@]}" --allow-weak -o "$TMP/sha1.content" "$TMP/sha1.signed"
check "...and verifies with --allow-weak" rc_is 0

mkmsg "$TMP/km.eml" pat@example.org 7bit lf
signs km pat@example.org "pkcs11:token=p11smime-piv;id=%03;type=private" "$PIV_PIN"
check "a key that cannot sign is refused (exit 3), nothing written" sh -c "[ $RC -eq 3 ] && grep -q 'may not sign' '$TMP/err' && [ ! -e '$TMP/km.signed' ]"
run verify "${A[@]}" -o /dev/null "$TMP/alice.signed"
check "verify ends with one verdict line: signed by whom, trusted, not encrypted" \
	sh -c "[ \"\$(tail -1 '$TMP/err')\" = 'p11smime: verdict: signed by alice@example.org, trusted; not encrypted' ]"
sed 's/plain text\./plain text!/' "$TMP/alice.signed" >"$TMP/alice.tampered"
run verify "${A[@]}" -o /dev/null "$TMP/alice.tampered"
check "...and for a tampered one: NOT validly signed, with the reason" \
	sh -c "[ $RC -eq 1 ] && tail -1 '$TMP/err' | grep -q '^p11smime: verdict: NOT validly signed by alice@example.org (.*changed.*)'"
# From: removed after signing: nobody can say who signed it against whom
sed '/^From:/d' "$TMP/alice.signed" >"$TMP/nofrom.signed"
run verify "${A[@]}" -o "$TMP/nofrom.out" "$TMP/nofrom.signed"
check "From: removed: exit 1, one line saying no sender was checked, nothing written" \
	sh -c "[ $RC -eq 1 ] && grep -q 'no From: address' '$TMP/err' && [ ! -e '$TMP/nofrom.out' ]"
run verify "${A[@]}" --json "$TMP/nofrom.signed"
nofrom_json() { rc_is 1 && json_q 'd["valid"] is False and d["from"] is None'; }
check "From: removed: --json says not valid, from null" nofrom_json
run verify "${A[@]}" --no-from-check -o "$TMP/nofrom.out" "$TMP/nofrom.signed"
check "From: removed, --no-from-check (the caller checks the address): exit 0" \
	sh -c "[ $RC -eq 0 ] && [ -s '$TMP/nofrom.out' ]"
sed 's/^From: .*/From: mallory@example.org/' "$TMP/alice.signed" >"$TMP/otherfrom.signed"
run verify "${A[@]}" --no-from-check "$TMP/otherfrom.signed"
check "--no-from-check does not excuse a From: of someone else (exit 1)" \
	sh -c "[ $RC -eq 1 ] && grep -q 'From: mallory@example.org' '$TMP/err'"
mkmsg "$TMP/nokey.eml" nobody@example.org 7bit lf
signs nokey nobody@example.org "" "$USER_PIN"
check "no key for the From: address: exit 3 with a hint" sh -c "[ $RC -eq 3 ] && grep -q 'no token key' '$TMP/err'"
done_testing
