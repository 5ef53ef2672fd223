#!/bin/bash
# p11smime import-p12, keygen, csr and import-cert: a key and certificate
# put on a token (from a PKCS#12 file, modern and legacy, or generated on
# the token, certified by the test CA and imported back) can sign, verify,
# encrypt and decrypt; and the negative twins leave nothing on the token.
. "$top_srcdir/tests/integration/lib.sh"
plan 74
fixtures
A=(--anchors "$PKI/anchors.pem")
T="pkcs11:token=p11smime-new"
SO=$(cat "$P11SMIME_TEST_SO_PIN_FILE")
UPIN=$(cat "$P11SMIME_TEST_USER_PIN_FILE")

# an empty token next to the two fixture tokens, same PINs
softhsm2-util --init-token --free --label p11smime-new --so-pin "$SO" --pin "$UPIN" >/dev/null ||
	{ echo "Bail out! cannot make an empty SoftHSM token"; exit 1; }
printf test >"$TMP/pass"
printf wrong >"$TMP/wrongpass"
printf 999999 >"$TMP/wrongpin"
chmod 600 "$TMP/pass" "$TMP/wrongpass" "$TMP/wrongpin"
PASS=(--pass-source "file:$TMP/pass")

p() { run --module "$MODULE" --pin-source "$USER_PIN" "$@"; }
# objects on token $1 (a label), seen after a login: "keys certs pubs"
objects() {
	pkcs11-tool --module "$MODULE" --token-label "$1" --login --pin "$UPIN" --list-objects \
		>"$TMP/objects" 2>/dev/null
	echo "$(grep -c '^Private Key Object' "$TMP/objects") $(grep -c '^Certificate Object' "$TMP/objects") $(grep -c '^Public Key Object' "$TMP/objects")"
}
keys_json() { p keys --token "$T" --json; cp "$TMP/out" "$TMP/keys.json"; }
# kq EXPR: a Python expression over key entries k(label) of the last keys_json
kq() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); k=lambda l: [x for x in d["keys"] if x["label"]==l][0]; sys.exit(0 if ('"$1"') else 1)' "$TMP/keys.json"; }
mkmsg() { # file from to
	printf 'From: <%s>\nTo: <%s>\nSubject: provisioned\nDate: Sat, 28 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.org>\n\nThe secret word is swordfish.\n' "$2" "$3" "$RANDOM" >"$1"
}
# sign_verify NAME KEY-URI FROM: sign with the key, verify, and a tampered copy fails
sign_verify() {
	mkmsg "$TMP/$1.eml" "$3" bob@example.org
	p sign --key "$2" -o "$TMP/$1.signed" "$TMP/$1.eml"
	check "$1: signs with the key on the token" rc_is 0
	run verify "${A[@]}" -o "$TMP/$1.content" "$TMP/$1.signed"
	check "$1: the signature verifies (trusted, From: matches)" sh -c "[ $RC -eq 0 ] && grep -q swordfish '$TMP/$1.content'"
	sed 's/swordfish/swordfisk/' "$TMP/$1.signed" >"$TMP/$1.tampered"
	run verify "${A[@]}" -o "$TMP/$1.content2" "$TMP/$1.tampered"
	check "$1: a tampered copy fails (exit 1)" rc_is 1
}
# encrypt_decrypt NAME KEY-URI CERT ADDR: encrypt to the certificate, decrypt on the token
encrypt_decrypt() {
	mkmsg "$TMP/$1.msg" alice@example.org "$4"
	p encrypt "${A[@]}" --recipient-cert "$3" -o "$TMP/$1.p7m" "$TMP/$1.msg"
	if [ "$RC" -ne 0 ]; then not_ok "$1: encrypt failed"; diag <"$TMP/err"; return; fi
	p decrypt "${A[@]}" --key "$2" -o "$TMP/$1.dec" "$TMP/$1.p7m"
	check "$1: encrypted to its certificate, decrypts with the token key" sh -c "[ $RC -eq 0 ] && grep -q swordfish '$TMP/$1.dec'"
}

# ---- import-p12: the PKI's alice.p12 (AES-256-CBC, PBKDF2) --------------
p import-p12 "$PKI/alice.p12" --token "$T" --label "Alice (imported)" "${PASS[@]}"
check "import-p12 of an AES/PBKDF2 file exits 0 and prints the key's URI" sh -c "[ $RC -eq 0 ] && grep -q '^pkcs11:.*token=p11smime-new;.*type=private' '$TMP/out'"
ALICE=$(head -1 "$TMP/out")
check "it says what it put where" err_has "CA certificates: 2 added"
check "key, public key, certificate and the two CA certificates are on the token" test "$(objects p11smime-new)" = "1 3 1"
keys_json
check "keys lists the pair under the new label, paired by CKA_ID" kq 'k("Alice (imported)")["certificate"]["emails"]==["alice@example.org"] and k("Alice (imported)")["certificate"]["paired_by"]=="id"'
check "the key is sensitive and not extractable" kq 'k("Alice (imported)")["sensitive"] and not k("Alice (imported)")["extractable"]'
check "the key may sign and decrypt, as alice's keyUsage says" kq 'k("Alice (imported)")["usage"]==["sign","decrypt","unwrap"]'
modsha=$(python3 -c 'import hashlib,sys; print(hashlib.sha1(bytes.fromhex(sys.argv[1])).hexdigest())' \
	"$(openssl rsa -in "$PKI/alice.key.pem" -noout -modulus | cut -d= -f2)")
check "CKA_ID is the SHA-1 of the modulus" kq 'k("Alice (imported)")["id"]=="'"$modsha"'"'
pkcs11-tool --module "$MODULE" --token-label p11smime-new --login --pin "$UPIN" --list-objects --type privkey 2>/dev/null >"$TMP/priv"
check "pkcs11-tool sees the private key sensitive and not extractable" grep -Eq '^ *Access: +sensitive$' "$TMP/priv"
if command -v p11tool >/dev/null 2>&1; then
	p11tool --provider "$MODULE" --list-all-certs "$T" >"$TMP/p11tool" 2>/dev/null
	check "the CA certificates are marked as authorities (CKA_CERTIFICATE_CATEGORY 2)" test "$(grep -c 'CKA_CERTIFICATE_CATEGORY=CA' "$TMP/p11tool")" -eq 2
else
	ok "# SKIP p11tool (gnutls-bin) not installed"
fi
sign_verify alice-p12 "$ALICE" alice@example.org
encrypt_decrypt alice-p12 "$ALICE" "$PKI/alice.cert.pem" alice@example.org

# ---- legacy PKCS#12: RC2-40 and 3DES with a SHA-1 MAC -------------------
openssl pkcs12 -export -legacy -name bob -inkey "$PKI/bob.key.pem" -in "$PKI/bob.cert.pem" \
	-certfile "$PKI/chain.pem" -passout pass:test -out "$TMP/bob-legacy.p12"
openssl pkcs12 -export -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 -name carol \
	-inkey "$PKI/carol.key.pem" -in "$PKI/carol.cert.pem" -certfile "$PKI/chain.pem" \
	-passout pass:test -out "$TMP/carol-3des.p12"
openssl pkcs12 -export -legacy -keypbe PBE-SHA1-RC2-40 -certpbe PBE-SHA1-RC2-40 -name dave \
	-inkey "$PKI/dave.key.pem" -in "$PKI/dave.cert.pem" -passout pass:test -out "$TMP/dave-rc2.p12"
openssl pkcs12 -legacy -info -noout -in "$TMP/dave-rc2.p12" -passin pass:test >"$TMP/info" 2>&1
check "the RC2 test file really is RC2-40 throughout" sh -c "grep -q 'Shrouded Keybag: pbeWithSHA1And40BitRC2-CBC' '$TMP/info' && grep -q 'MAC: sha1' '$TMP/info'"
check "...which OpenSSL 3 reads only with its legacy provider" sh -c "! openssl pkcs12 -info -noout -in '$TMP/dave-rc2.p12' -passin pass:test -nokeys >/dev/null 2>&1"
p import-p12 "$TMP/bob-legacy.p12" --token "$T" "${PASS[@]}"
check "import-p12 of an 'openssl pkcs12 -legacy' file (RC2-40, 3DES) exits 0" rc_is 0
BOB=$(head -1 "$TMP/out")
check "the CA certificates already there are not written twice" err_has "CA certificates: 0 added, 2 on the token already"
p import-p12 "$TMP/carol-3des.p12" --token "$T" "${PASS[@]}"
check "import-p12 of a 3DES/SHA-1 EC file exits 0" rc_is 0
CAROL=$(head -1 "$TMP/out")
RC=0
"$P11SMIME" --module "$MODULE" --pin-source "$USER_PIN" import-p12 "$TMP/dave-rc2.p12" --token "$T" \
	--pass-source fd:3 3<"$TMP/pass" >"$TMP/out" 2>"$TMP/err" || RC=$?
check "import-p12 of an all-RC2-40 file, password from fd:3, exits 0" rc_is 0
check "...labelled with the file's friendly name" out_has "object=dave;type=private"
keys_json
check "the EC keys may sign and derive (keyAgreement), not decrypt" kq 'k("carol")["usage"]==["sign","derive"] and k("dave")["usage"]==["sign","derive"] and k("carol")["description"]=="EC P-256"'
check "the legacy imports are sensitive and not extractable too" kq 'all(k(l)["sensitive"] and not k(l)["extractable"] for l in ("bob","carol","dave"))'
check "four keys, four public keys, four certificates and two CAs on the token" test "$(objects p11smime-new)" = "4 6 4"
sign_verify carol-3des "$CAROL" carol@example.org
encrypt_decrypt carol-3des "$CAROL" "$PKI/carol.cert.pem" carol@example.org
encrypt_decrypt bob-legacy "$BOB" "$PKI/bob.cert.pem" bob@example.org

# ---- import-p12: the negative twins -------------------------------------
before=$(objects p11smime-new)
p import-p12 "$PKI/eve.p12" --token "$T" --pass-source "file:$TMP/wrongpass"
check "a wrong password: exit 2, one line" sh -c "[ $RC -eq 2 ] && grep -q 'the PKCS#12 password is wrong' '$TMP/err' && [ \$(wc -l <'$TMP/err') -eq 1 ]"
check "...and nothing on the token" test "$(objects p11smime-new)" = "$before"
p import-p12 "$PKI/eve.p12" --token "$T"
check "no password source for a protected file: exit 2, says to give --pass-source" sh -c "[ $RC -eq 2 ] && grep -q -- '--pass-source' '$TMP/err'"
openssl pkcs12 -export -nokeys -in "$PKI/eve.cert.pem" -passout pass:test -out "$TMP/certonly.p12"
p import-p12 "$TMP/certonly.p12" --token "$T" "${PASS[@]}"
check "a file with only a certificate: exit 2, one line" sh -c "[ $RC -eq 2 ] && grep -q 'no private key' '$TMP/err' && [ \$(wc -l <'$TMP/err') -eq 1 ]"
run --module "$MODULE" --pin-source "file:$TMP/wrongpin" import-p12 "$PKI/eve.p12" --token "$T" "${PASS[@]}"
check "a wrong PIN: exit 3, not retried" sh -c "[ $RC -eq 3 ] && grep -q 'not retried' '$TMP/err'"
check "...and nothing on the token" test "$(objects p11smime-new)" = "$before"
run --module "$MODULE" import-p12 "$PKI/eve.p12" --token "$T" "${PASS[@]}"
check "no PIN source: exit 3, says to give one" sh -c "[ $RC -eq 3 ] && grep -q -- '--pin-source' '$TMP/err'"
p import-p12 "$PKI/eve.p12" --token "$T" --pass test
check "there is no option to give the password on the command line" rc_is 2
p import-p12 "$PKI/eve.p12" --token "$T" --pass-source pass:test
check "a password in --pass-source is refused without repeating it" sh -c "[ $RC -eq 2 ] && ! grep -q 'pass:test' '$TMP/err'"
p import-p12 "$PKI/alice.p12" --token "pkcs11:token=p11smime-user" "${PASS[@]}"
check "a key already on the token is refused (exit 2), naming it" sh -c "[ $RC -eq 2 ] && grep -q \"labelled 'alice' (id 01)\" '$TMP/err'"
p import-p12 "$PKI/eve.p12" --token "$T" --label carol "${PASS[@]}"
check "a label another key has is refused (exit 2)" sh -c "[ $RC -eq 2 ] && grep -q -- '--label' '$TMP/err'"
check "...and nothing on the token" test "$(objects p11smime-new)" = "$before"
p import-p12 "$PKI/eve.p12" "${PASS[@]}"
check "several writable tokens and no --token: exit 3, asks for --token" sh -c "[ $RC -eq 3 ] && grep -q -- '--token URI' '$TMP/err'"

# a token failing the third object (the certificate): the key and public
# key written before it are taken away again (SoftHSM cannot be made to
# fail a write; a small wrapper module fails C_CreateObject number N)
cat >"$TMP/failcreate.c" <<'EOF'
#include <p11-kit/pkcs11.h>
#include <dlfcn.h>
#include <stdlib.h>
static CK_FUNCTION_LIST list;
static CK_FUNCTION_LIST_PTR real;
static int calls;
static CK_RV create(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR h)
{
	if (++calls == atoi(getenv("FAIL_CREATE_AT")))
		return CKR_DEVICE_MEMORY;
	return real->C_CreateObject(s, t, n, h);
}
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	void *h = dlopen(getenv("FAIL_CREATE_MODULE"), RTLD_NOW | RTLD_LOCAL);
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR) = h ? (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(h, "C_GetFunctionList") : NULL;
	if (get == NULL || get(&real) != CKR_OK)
		return CKR_GENERAL_ERROR;
	list = *real;
	list.C_CreateObject = create;
	*out = &list;
	return CKR_OK;
}
EOF
if ${CC:-cc} -shared -fPIC -o "$TMP/failcreate.so" "$TMP/failcreate.c" $(pkg-config --cflags p11-kit-1) -ldl 2>"$TMP/cc.err"; then
	RC=0
	FAIL_CREATE_AT=3 FAIL_CREATE_MODULE=$MODULE "$P11SMIME" --module "$TMP/failcreate.so" \
		--pin-source "$USER_PIN" import-p12 "$PKI/eve.p12" --token "$T" "${PASS[@]}" >"$TMP/out" 2>"$TMP/err" || RC=$?
	check "a write failing half-way (the certificate): exit 3, says nothing was left" sh -c "[ $RC -eq 3 ] && grep -q 'writing the certificate on token .* (nothing was left on it)' '$TMP/err'"
	check "...and the key and public key written before it are gone" test "$(objects p11smime-new)" = "$before"
else
	not_ok "cannot build the failing wrapper module"; diag <"$TMP/cc.err"; not_ok "skipped"
fi

# ---- keygen -------------------------------------------------------------
p keygen --token "$T" --type rsa:2048 --label newbie
check "keygen rsa:2048 exits 0 and prints the new key's URI" sh -c "[ $RC -eq 0 ] && grep -q '^pkcs11:.*object=newbie;type=private' '$TMP/out'"
NEWBIE=$(head -1 "$TMP/out")
p keygen --token "$T" --type ec:p256 --label ecnew --always-auth
check "keygen ec:p256 --always-auth exits 0" rc_is 0
ECNEW=$(head -1 "$TMP/out")
keys_json
check "the generated RSA key: sensitive, not extractable, signs and decrypts, no certificate yet" kq 'k("newbie")["sensitive"] and not k("newbie")["extractable"] and k("newbie")["usage"]==["sign","decrypt","unwrap"] and k("newbie")["certificate"] is None and k("newbie")["description"]=="RSA 2048"'
check "the generated EC key: always-authenticate, signs and derives" kq 'k("ecnew")["always_authenticate"] and k("ecnew")["usage"]==["sign","derive"] and k("ecnew")["description"]=="EC P-256"'
newid=$(python3 -c 'import json,sys; print([x["id"] for x in json.load(open(sys.argv[1]))["keys"] if x["label"]=="newbie"][0])' "$TMP/keys.json")
objects p11smime-new >/dev/null
check "both halves share one 20-byte CKA_ID" sh -c "[ ${#newid} -eq 40 ] && [ \$(grep -c '^ *ID: *$newid\$' '$TMP/objects') -eq 2 ]"
p keygen --token "$T" --type ec:p256 --label newbie
check "keygen with a label another key has: exit 2" rc_is 2
p keygen --token "$T" --type rsa:1024 --label weak
check "keygen of a type not offered (rsa:1024): exit 2" rc_is 2
p keygen --token "$T" --type ec:p256 --label deconly --usage decrypt
check "keygen --usage decrypt makes a key that only derives" rc_is 0
DECONLY=$(head -1 "$TMP/out")

# ---- csr ----------------------------------------------------------------
p csr --key "$NEWBIE" --email newbie@example.org --name "New Bie" -o "$TMP/newbie.csr"
check "csr for the RSA key exits 0" rc_is 0
openssl req -in "$TMP/newbie.csr" -verify -noout -text >"$TMP/newbie.txt" 2>&1
check "the RSA request verifies (openssl req -verify)" grep -q 'verify OK' "$TMP/newbie.txt"
check "...asks for CN, emailAddress, SAN, keyUsage and emailProtection" sh -c "grep -q 'Subject: CN = New Bie, emailAddress = newbie@example.org' '$TMP/newbie.txt' && grep -q 'email:newbie@example.org' '$TMP/newbie.txt' && grep -q 'Digital Signature, Key Encipherment' '$TMP/newbie.txt' && grep -q 'E-mail Protection' '$TMP/newbie.txt'"
p csr --key "$ECNEW" --email ecnew@example.org -o "$TMP/ecnew.csr"
openssl req -in "$TMP/ecnew.csr" -verify -noout -text >"$TMP/ecnew.txt" 2>&1
check "the EC request (always-authenticate key) verifies, asks for keyAgreement, CN = the address" sh -c "[ $RC -eq 0 ] && grep -q 'verify OK' '$TMP/ecnew.txt' && grep -q 'Digital Signature, Key Agreement' '$TMP/ecnew.txt' && grep -q 'Subject: CN = ecnew@example.org' '$TMP/ecnew.txt' && grep -q 'ecdsa-with-SHA256' '$TMP/ecnew.txt'"
p csr --key "$DECONLY" --email deconly@example.org -o "$TMP/deconly.csr"
check "csr for a key that may not sign: exit 3, and no output file" sh -c "[ $RC -eq 3 ] && grep -q 'may not sign' '$TMP/err' && [ ! -e '$TMP/deconly.csr' ]"
p csr --key "$NEWBIE" --email "not an address" -o "$TMP/bad.csr"
check "csr for something that is no e-mail address: exit 2" sh -c "[ $RC -eq 2 ] && [ ! -e '$TMP/bad.csr' ]"

# ---- the CA signs (a copy of the test CA: the PKI stays untouched) --------
mkdir -p "$TMP/ca"
cp "$PKI/intermediate-ca.key.pem" "$PKI/intermediate-ca.cert.pem" "$PKI/chain.pem" "$TMP/ca/"
openssl x509 -req -in "$TMP/newbie.csr" -CA "$TMP/ca/intermediate-ca.cert.pem" \
	-CAkey "$TMP/ca/intermediate-ca.key.pem" -CAcreateserial -days 30 -sha256 \
	-copy_extensions copy -out "$TMP/newbie.cert.pem" 2>/dev/null
cat "$TMP/newbie.cert.pem" "$TMP/ca/chain.pem" >"$TMP/newbie.bundle.pem"
# the CA certifies another address than the request asked for
printf 'subjectAltName=email:ecother@example.org\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=emailProtection\n' >"$TMP/ecother.ext"
openssl x509 -req -in "$TMP/ecnew.csr" -CA "$TMP/ca/intermediate-ca.cert.pem" \
	-CAkey "$TMP/ca/intermediate-ca.key.pem" -CAcreateserial -days 30 -sha256 \
	-subj "/CN=EC Other/emailAddress=ecother@example.org" -extfile "$TMP/ecother.ext" \
	-outform DER -out "$TMP/ecnew.cert.der" 2>/dev/null

# ---- import-cert ----------------------------------------------------------
p import-cert "$TMP/newbie.bundle.pem" --token "$T"
check "import-cert of the issued certificate (with its chain) exits 0, prints the key's URI" sh -c "[ $RC -eq 0 ] && [ \"\$(head -1 '$TMP/out')\" = '$NEWBIE' ]"
keys_json
check "keys pairs it with the generated key, same CKA_ID and label" kq 'k("newbie")["certificate"]["emails"]==["newbie@example.org"] and k("newbie")["certificate"]["label"]=="newbie" and k("newbie")["certificate"]["paired_by"]=="id"'
before=$(objects p11smime-new)
p import-cert "$TMP/newbie.bundle.pem" --token "$T"
check "importing it again writes nothing twice" sh -c "[ $RC -eq 0 ] && grep -q 'there already' '$TMP/err' && [ '$(objects p11smime-new)' = '$before' ]"
p import-cert "$TMP/ecnew.cert.der" --token "$T" --email ecnew@example.org
check "import-cert --email ADDR of a certificate for another address: exit 1" sh -c "[ $RC -eq 1 ] && grep -q 'not for ecnew@example.org' '$TMP/err'"
check "...and nothing on the token" test "$(objects p11smime-new)" = "$before"
p import-cert "$TMP/ecnew.cert.der" --token "$T"
check "without --email the CA's choice of address is accepted and shown" sh -c "[ $RC -eq 0 ] && grep -q 'the certificate is for ecother@example.org' '$TMP/err'"
p import-cert "$PKI/pat-sign.cert.pem" --token "$T"
check "a certificate for a key not on that token: exit 1, one line" sh -c "[ $RC -eq 1 ] && grep -q 'matches no private key' '$TMP/err' && [ \$(wc -l <'$TMP/err') -eq 1 ]"
p import-cert "$PKI/anchors.pem" --token "$T"
check "a file with only CA certificates: exit 2" rc_is 2

# ---- the generated keys at work -------------------------------------------
sign_verify newbie "$NEWBIE" newbie@example.org
encrypt_decrypt newbie "$NEWBIE" "$TMP/newbie.cert.pem" newbie@example.org
sign_verify ecnew "$ECNEW" ecother@example.org
openssl x509 -inform DER -in "$TMP/ecnew.cert.der" -out "$TMP/ecnew.cert.pem"
encrypt_decrypt ecnew "$ECNEW" "$TMP/ecnew.cert.pem" ecother@example.org
p keys --token "$T"
check "keys lists every pair put on the token" sh -c "[ \$(grep -c ';type=private' '$TMP/out') -eq 7 ] && [ \$(grep -c '^  cert:     pkcs11:' '$TMP/out') -eq 6 ]"
done_testing
