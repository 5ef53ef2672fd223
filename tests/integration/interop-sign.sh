#!/bin/bash
# Interop with the real peers: what p11smime signs on the token verifies
# with openssl cms, gpgsm and NSS cmsutil; what they sign verifies with
# p11smime verify.
. "$top_srcdir/tests/integration/lib.sh"
plan 13
fixtures
T=$top_srcdir/tests/integration/smime_tool.py
for tool in gpgsm cmsutil certutil pk12util; do
	command -v $tool >/dev/null || { echo "Bail out! $tool is missing (tests/setup-debian.sh installs it)"; exit 1; }
done

printf 'From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: interop\n\nHello from the token.\nSecond line with 8 bits: \xc3\xa9\n' >"$TMP/m.eml"
printf 'From: Carol <carol@example.org>\nTo: bob@example.org\nSubject: interop\n\nHello from an EC key.\n' >"$TMP/mc.eml"
run --module "$MODULE" --pin-source "$USER_PIN" sign -o "$TMP/alice.signed" "$TMP/m.eml"
run --module "$MODULE" --pin-source "$USER_PIN" sign -o "$TMP/carol.signed" "$TMP/mc.eml"
python3 "$T" split "$TMP/alice.signed" "$TMP/alice.content" "$TMP/alice.p7s"
python3 "$T" split "$TMP/carol.signed" "$TMP/carol.content" "$TMP/carol.p7s"

# ---- openssl ----
run_cmd openssl cms -verify -in "$TMP/carol.signed" -CAfile "$PKI/anchors.pem" -purpose smimesign -out /dev/null
check "openssl cms verifies p11smime's EC P-256 signature" rc_is 0
printf 'Content-Type: text/plain\r\n\r\nSigned by openssl.\r\n' >"$TMP/osl.content"
openssl cms -sign -binary -in "$TMP/osl.content" -signer "$PKI/dave.cert.pem" -inkey "$PKI/dave.key.pem" \
	-certfile "$PKI/intermediate-ca.cert.pem" -md sha384 -outform DER -out "$TMP/osl.p7s" 2>/dev/null
python3 "$T" wrap "$TMP/osl.content" "$TMP/osl.p7s" "dave@example.org" sha-384 "$TMP/osl.signed"
run verify --anchors "$PKI/anchors.pem" -o "$TMP/out.content" "$TMP/osl.signed"
check "p11smime verifies an openssl cms P-384 signature" rc_is 0

# ---- NSS ----
certutil -N -d "sql:$TMP/nss" --empty-password 2>/dev/null || { mkdir -p "$TMP/nss"; certutil -N -d "sql:$TMP/nss" --empty-password; }
certutil -A -d "sql:$TMP/nss" -n root -t "C,C,C" -i "$PKI/root-ca.cert.pem"
certutil -A -d "sql:$TMP/nss" -n inter -t ",," -i "$PKI/intermediate-ca.cert.pem"
run_cmd cmsutil -D -d "sql:$TMP/nss" -c "$TMP/alice.content" -i "$TMP/alice.p7s" -u 4 -n -h 1
check "NSS cmsutil verifies p11smime's RSA signature" sh -c "[ $RC -eq 0 ] && grep -q 'status=GoodSignature' '$TMP/out'"
run_cmd cmsutil -D -d "sql:$TMP/nss" -c "$TMP/carol.content" -i "$TMP/carol.p7s" -u 4 -n -h 1
check "NSS cmsutil verifies p11smime's EC signature" sh -c "[ $RC -eq 0 ] && grep -q 'status=GoodSignature' '$TMP/out'"
printf 'x' >>"$TMP/alice.content"
run_cmd cmsutil -D -d "sql:$TMP/nss" -c "$TMP/alice.content" -i "$TMP/alice.p7s" -u 4 -n -h 1
check "...and NSS rejects it once the content is changed" sh -c "! grep -q GoodSignature '$TMP/out'"
pk12util -i "$PKI/alice.p12" -d "sql:$TMP/nss" -W test >/dev/null 2>&1
printf 'Content-Type: text/plain\r\n\r\nSigned by NSS.\r\n' >"$TMP/nss.content"
cmsutil -S -N alice -T -G -P -H SHA256 -i "$TMP/nss.content" -o "$TMP/nss.p7s" -d "sql:$TMP/nss" >/dev/null 2>&1
python3 "$T" wrap "$TMP/nss.content" "$TMP/nss.p7s" "alice@example.org" sha-256 "$TMP/nss.signed"
run verify --anchors "$PKI/anchors.pem" -o "$TMP/out.content" "$TMP/nss.signed"
check "p11smime verifies an NSS cmsutil signature" rc_is 0
check "...and names the signing time NSS set" err_has "signed at:"

# ---- gpgsm (RSA; gpgsm 2.2 has no ECC) ----
export GNUPGHOME=$TMP/gnupg
mkdir -m 700 "$GNUPGHOME"
# gpgsm starts a gpg-agent of this home: stopped however the test ends
at_exit 'gpgconf --kill all >/dev/null 2>&1'
printf '#!/bin/sh\necho "OK ready"\nwhile read -r cmd rest; do case "$cmd" in GETPIN) echo "D test"; echo OK;; BYE) echo OK; exit 0;; *) echo OK;; esac; done\n' >"$GNUPGHOME/pinentry.sh"
chmod 755 "$GNUPGHOME/pinentry.sh"
printf 'pinentry-program %s\n' "$GNUPGHOME/pinentry.sh" >"$GNUPGHOME/gpg-agent.conf"
printf 'disable-crl-checks\n' >"$GNUPGHOME/gpgsm.conf"
printf '%s S relax\n' "$(openssl x509 -in "$PKI/root-ca.cert.pem" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d :)" >"$GNUPGHOME/trustlist.txt"
gpgsm --batch --import "$PKI/root-ca.cert.pem" "$PKI/intermediate-ca.cert.pem" >/dev/null 2>&1
python3 "$T" split "$TMP/alice.signed" "$TMP/alice.content" "$TMP/alice.p7s"
run_cmd gpgsm --batch --status-fd 1 --verify "$TMP/alice.p7s" "$TMP/alice.content"
check "gpgsm verifies p11smime's RSA signature" sh -c "[ $RC -eq 0 ] && grep -q 'GOODSIG' '$TMP/out' && grep -q 'TRUST_FULLY' '$TMP/out'"
# gpgsm through gnupg-pkcs11-scd puts a 00 in front of about every second
# RSA signature (k + 1 octets); gpgsm accepts that, and so does p11smime
python3 "$T" pad-sig "$TMP/alice.p7s" "$TMP/alice-padded.p7s"
python3 "$T" wrap "$TMP/alice.content" "$TMP/alice-padded.p7s" "alice@example.org" sha-256 "$TMP/padded.signed"
run verify --anchors "$PKI/anchors.pem" -o "$TMP/out.content" "$TMP/padded.signed"
check "p11smime accepts an RSA signature sent with a 00 in front (gpgsm + gnupg-pkcs11-scd)" rc_is 0
run_cmd gpgsm --batch --status-fd 1 --verify "$TMP/alice-padded.p7s" "$TMP/alice.content"
check "...as gpgsm does" sh -c "grep -q 'GOODSIG' '$TMP/out'"
printf 'x' >>"$TMP/alice.content"
run_cmd gpgsm --batch --status-fd 1 --verify "$TMP/alice.p7s" "$TMP/alice.content"
check "...and gpgsm rejects it once the content is changed" sh -c "grep -q 'BADSIG' '$TMP/out'"
# gpgsm 2.2 reads only 3DES/SHA-1 PKCS#12
gpgsm_import_key bob bob@example.org
printf 'Content-Type: text/plain\r\n\r\nSigned by gpgsm.\r\n' >"$TMP/gpgsm.content"
gpgsm --batch -u bob@example.org --detach-sign -o "$TMP/gpgsm.p7s" "$TMP/gpgsm.content" >/dev/null 2>&1
python3 "$T" wrap "$TMP/gpgsm.content" "$TMP/gpgsm.p7s" "bob@example.org" sha-256 "$TMP/gpgsm.signed"
run verify --anchors "$PKI/anchors.pem" -o "$TMP/out.content" "$TMP/gpgsm.signed"
check "p11smime verifies a gpgsm signature" rc_is 0
run verify --anchors "$PKI/anchors.pem" --json -o "$TMP/out.content" "$TMP/gpgsm.signed"
check "...by bob, through the test root" json_q 'd["valid"] and "bob@example.org" in d["signer_emails"] and "Root CA" in d["anchor"]'
gpgconf --kill gpg-agent 2>/dev/null || true
done_testing
