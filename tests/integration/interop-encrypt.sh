#!/bin/bash
# Interop with the real peers for encryption: what p11smime encrypts (and
# sign-encrypts) decrypts with openssl cms, NSS cmsutil and gpgsm holding
# software copies of the fixture keys; what they encrypt decrypts with
# p11smime and the key on the token. encrypt-decrypt.sh already reads
# p11smime's RSA/AES-256-GCM, OAEP/AES-256-GCM, P-256/AES-128-GCM and
# P-384/AES-256-CBC output with openssl; this covers the rest of the matrix.
#
# What the peers on Debian 12 can read (measured; the GCM checks below keep
# it true: each compares p11smime's message with openssl's for the same peer):
#   openssl 3.0     RSA, RSA-OAEP, ECDH P-256/P-384; AES-CBC and AES-GCM
#   NSS 3.87        RSA PKCS#1 v1.5 with AES-CBC only: AuthEnvelopedData
#                   (AES-GCM) is SEC_ERROR_UNRECOGNIZED_OID, OAEP is
#                   SEC_ERROR_UNSUPPORTED_KEYALG, no CMS ECDH
#   gpgsm 2.2.40    RSA PKCS#1 v1.5 with AES-CBC only: AES-GCM fails with
#                   "error getting IV: Buffer too short" (openssl's too), no
#                   OAEP, no ECC
. "$top_srcdir/tests/integration/lib.sh"
plan 37
fixtures
T=$top_srcdir/tests/integration/smime_tool.py
for tool in gpgsm cmsutil certutil pk12util; do
	command -v $tool >/dev/null || { echo "Bail out! $tool is missing (tests/setup-debian.sh installs it)"; exit 1; }
done
A=(--anchors "$PKI/anchors.pem")
SECRET='the secret word is swordfish.'

# p11 ARGS...: p11smime on the fixture tokens
p11() { run --module "$MODULE" --pin-source "$USER_PIN" "$@"; }

# the RFC 5322 message p11smime encrypts
printf 'From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: interop\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello,\n%s\n' \
	"$SECRET" >"$TMP/m.eml"

# der NAME: the DER inside p11smime's $TMP/NAME.p7m
der() { sed '1,/^$/d' "$TMP/$1.p7m" | openssl base64 -d >"$TMP/$1.der"; }

# entity NAME TEXT: a MIME entity for the peers to encrypt
entity() { printf 'Content-Type: text/plain; charset=us-ascii\n\n%s: %s\n' "$2" "$SECRET" >"$TMP/$1.ent"; }

# routing headers for what the peers made: p11smime decrypts messages
headers() { printf 'From: %s\nTo: bob@example.org\nSubject: from a peer\n' "${FROM:-Alice <alice@example.org>}"; }
# wrap_smime NAME: openssl's S/MIME output $TMP/NAME.smime (has its MIME headers)
wrap_smime() { { headers; cat "$TMP/$1.smime"; } >"$TMP/$1.p7m"; }
# wrap_der NAME: a DER EnvelopedData $TMP/NAME.der from gpgsm or cmsutil
wrap_der() {
	{ headers; printf 'MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\n'
	  printf 'Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="smime.p7m"\n\n'
	  openssl base64 -in "$TMP/$1.der"; } >"$TMP/$1.p7m"
}

# dec NAME [ARGS]: p11smime decrypt $TMP/NAME.p7m -> $TMP/NAME.dec
dec() {
	local name=$1
	shift
	rm -f "$TMP/$name.dec"
	p11 decrypt "${A[@]}" "$@" -o "$TMP/$name.dec" "$TMP/$name.p7m"
}
# decrypted_ok NAME TEXT: exit 0 and TEXT with the secret in the output
decrypted_ok() { [ "$RC" -eq 0 ] && grep -qF "$2: $SECRET" "$TMP/$1.dec"; }

# ---- p11smime -> openssl cms -decrypt ----
ossl_reads() { # name who
	openssl cms -decrypt -in "$TMP/$1.p7m" -inkey "$PKI/$2.key.pem" -recip "$PKI/$2.cert.pem" \
		-out "$TMP/$1.ossl" 2>"$TMP/err" && grep -qF "$SECRET" "$TMP/$1.ossl"
}
for c in "bob aes-128-gcm" "bob aes-256-cbc" "bob aes-128-gcm --oaep" "bob aes-256-cbc --oaep" \
	"carol aes-256-gcm" "carol aes-256-cbc" "dave aes-256-gcm" "dave aes-128-gcm"; do
	set -- $c
	who=$1 cipher=$2 name=enc-$1-$2${3:-}
	p11 encrypt "${A[@]}" --to "$who@example.org" --cipher "$cipher" ${3:-} -o "$TMP/$name.p7m" "$TMP/m.eml"
	check "p11smime encrypt to $who ($cipher${3:+, OAEP}): openssl cms -decrypt reads it" ossl_reads "$name" "$who"
done

# sign-encrypt, read by openssl cms -decrypt | openssl cms -verify
se_ossl() { # name who
	openssl cms -decrypt -in "$TMP/$1.p7m" -inkey "$PKI/$2.key.pem" -recip "$PKI/$2.cert.pem" 2>"$TMP/err" |
		openssl cms -verify -CAfile "$PKI/anchors.pem" -out "$TMP/$1.ossl" 2>>"$TMP/err" &&
		grep -qF "$SECRET" "$TMP/$1.ossl"
}
sed 's/^From: Alice <alice@/From: Carol <carol@/; s/^To: bob@/To: dave@/' "$TMP/m.eml" >"$TMP/carol.eml"
p11 sign-encrypt "${A[@]}" --opaque --cipher aes-128-gcm -o "$TMP/se1.p7m" "$TMP/carol.eml"
check "sign-encrypt: P-256 opaque signature inside ECDH P-384/AES-128-GCM: openssl decrypts and verifies" se_ossl se1 dave
sed 's/^To: bob@/To: carol@/' "$TMP/m.eml" >"$TMP/tocarol.eml"
p11 sign-encrypt "${A[@]}" --pss --digest sha512 --cipher aes-256-cbc -o "$TMP/se2.p7m" "$TMP/tocarol.eml"
check "sign-encrypt: RSA-PSS/SHA-512 multipart/signed inside ECDH P-256/AES-256-CBC: openssl decrypts and verifies" se_ossl se2 carol
p11 sign-encrypt "${A[@]}" --oaep --cipher aes-256-cbc -o "$TMP/se3.p7m" "$TMP/m.eml"
check "sign-encrypt: RSA signature inside RSA-OAEP/AES-256-CBC: openssl decrypts and verifies" se_ossl se3 bob

# ---- p11smime -> NSS cmsutil -D (RSA PKCS#1 v1.5 only) ----
certutil -N -d "sql:$TMP/nss" --empty-password 2>/dev/null || { mkdir -p "$TMP/nss"; certutil -N -d "sql:$TMP/nss" --empty-password; }
certutil -A -d "sql:$TMP/nss" -n root -t "C,C,C" -i "$PKI/root-ca.cert.pem"
certutil -A -d "sql:$TMP/nss" -n inter -t ",," -i "$PKI/intermediate-ca.cert.pem"
pk12util -i "$PKI/bob.p12" -d "sql:$TMP/nss" -W test >/dev/null 2>&1
nss_dec() { cmsutil -D -d "sql:$TMP/nss" -i "$TMP/$1.der" -o "$TMP/$1.nss" >"$TMP/out" 2>"$TMP/err"; }
nss_reads() { der "$1" && nss_dec "$1" && grep -qF "$SECRET" "$TMP/$1.nss"; }
check "NSS cmsutil -D reads p11smime's RSA/AES-256-CBC (enveloped-data)" nss_reads enc-bob-aes-256-cbc
p11 encrypt "${A[@]}" --to bob@example.org -o "$TMP/gcm.p7m" "$TMP/m.eml"
der gcm
entity ogcm openssl
openssl cms -encrypt -aes-256-gcm -binary -in "$TMP/ogcm.ent" -outform DER -out "$TMP/ogcm.der" "$PKI/bob.cert.pem"
# same_as_openssl TOOL-FUNCTION TEXT-FILE-SUFFIX: the peer reads p11smime's
# AES-GCM exactly when it reads openssl's; when it reads neither, the
# error is the one named in $WHY
same_as_openssl() {
	local fn=$1 sfx=$2 ours=0 theirs=0
	"$fn" gcm && grep -qF "$SECRET" "$TMP/gcm.$sfx" && ours=1
	cp "$TMP/err" "$TMP/gcm.err"
	"$fn" ogcm && grep -qF "$SECRET" "$TMP/ogcm.$sfx" && theirs=1
	[ $ours -eq $theirs ] && { [ $ours -eq 1 ] || grep -qF "$WHY" "$TMP/gcm.err"; }
}
WHY=SEC_ERROR_UNRECOGNIZED_OID
check "NSS 3.87 cmsutil cannot read AES-GCM (authEnveloped-data: unrecognized OID), from openssl alike" \
	same_as_openssl nss_dec nss
p11 sign-encrypt "${A[@]}" --cipher aes-256-cbc -o "$TMP/se4.p7m" "$TMP/m.eml"
der se4
nss_dec se4
python3 "$T" split "$TMP/se4.nss" "$TMP/se4.content" "$TMP/se4.p7s" 2>/dev/null
run_cmd cmsutil -D -d "sql:$TMP/nss" -c "$TMP/se4.content" -i "$TMP/se4.p7s" -u 4 -n -h 1
check "NSS decrypts p11smime's sign-encrypt (AES-256-CBC) and verifies the signature inside" \
	sh -c "[ $RC -eq 0 ] && grep -q 'status=GoodSignature' '$TMP/out' && grep -qF '$SECRET' '$TMP/se4.content'"

# ---- p11smime -> gpgsm --decrypt (RSA PKCS#1 v1.5 only; gpgsm 2.2 has no ECC) ----
export GNUPGHOME=$TMP/gnupg
mkdir -m 700 "$GNUPGHOME"
# gpgsm starts a gpg-agent of this home: stopped however the test ends
at_exit 'gpgconf --kill all >/dev/null 2>&1'
printf '#!/bin/sh\necho "OK ready"\nwhile read -r cmd rest; do case "$cmd" in GETPIN) echo "D test"; echo OK;; BYE) echo OK; exit 0;; *) echo OK;; esac; done\n' >"$GNUPGHOME/pinentry.sh"
chmod 755 "$GNUPGHOME/pinentry.sh"
printf 'pinentry-program %s\n' "$GNUPGHOME/pinentry.sh" >"$GNUPGHOME/gpg-agent.conf"
printf 'disable-crl-checks\n' >"$GNUPGHOME/gpgsm.conf"
printf '%s S relax\n' "$(openssl x509 -in "$PKI/root-ca.cert.pem" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d :)" >"$GNUPGHOME/trustlist.txt"
gpgsm --batch --import "$PKI/root-ca.cert.pem" "$PKI/intermediate-ca.cert.pem" "$PKI/alice.cert.pem" >/dev/null 2>&1
# gpgsm 2.2 reads only 3DES/SHA-1 PKCS#12
gpgsm_import_key bob bob@example.org
# p11smime always adds the sender (alice): gpgsm has no key for that copy,
# says NO_SECKEY and exits 2 even when it decrypts Bob's: judge by the status
gpg_dec() { gpgsm --batch --status-fd 1 --decrypt -o "$TMP/$1.gpg" "$TMP/$1.der" >"$TMP/out" 2>"$TMP/err"; grep -q DECRYPTION_OKAY "$TMP/out"; }
gpg_reads() { der "$1" && gpg_dec "$1" && grep -qF "$SECRET" "$TMP/$1.gpg"; }
check "gpgsm --decrypt reads p11smime's RSA/AES-256-CBC" gpg_reads enc-bob-aes-256-cbc
p11 encrypt "${A[@]}" --to bob@example.org --cipher aes-128-cbc -o "$TMP/cbc128.p7m" "$TMP/m.eml"
check "gpgsm --decrypt reads p11smime's RSA/AES-128-CBC" gpg_reads cbc128
WHY="error getting IV"
check "gpgsm 2.2 cannot read AES-GCM (contrary to DESIGN.md: 'error getting IV'), from openssl alike" \
	same_as_openssl gpg_dec gpg
gpg_dec se4
python3 "$T" split "$TMP/se4.gpg" "$TMP/se4g.content" "$TMP/se4g.p7s" 2>/dev/null
run_cmd gpgsm --batch --status-fd 1 --verify "$TMP/se4g.p7s" "$TMP/se4g.content"
check "gpgsm decrypts p11smime's sign-encrypt and verifies the signature inside" \
	sh -c "grep -q GOODSIG '$TMP/out' && grep -q TRUST_FULLY '$TMP/out' && grep -qF '$SECRET' '$TMP/se4g.content'"

# ---- openssl cms -encrypt -> p11smime decrypt, key on the token ----
ossl_enc() { # name recipient-cert openssl-options...
	local name=$1 cert=$2
	shift 2
	entity "$name" "openssl $name"
	# -keyopt applies to the -recip before it
	openssl cms -encrypt -in "$TMP/$name.ent" -out "$TMP/$name.smime" -recip "$cert" "$@" 2>"$TMP/err"
	wrap_smime "$name"
}
ossl_enc o-cbc "$PKI/bob.cert.pem" -aes-256-cbc
ossl_enc o-gcm "$PKI/bob.cert.pem" -aes-256-gcm
ossl_enc o-oaep "$PKI/bob.cert.pem" -aes-256-gcm -keyopt rsa_padding_mode:oaep
ossl_enc o-oaep256 "$PKI/bob.cert.pem" -aes-128-cbc -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256
ossl_enc o-carol "$PKI/carol.cert.pem" -aes-128-gcm
ossl_enc o-dave "$PKI/dave.cert.pem" -aes-256-cbc
ossl_enc o-des3 "$PKI/bob.cert.pem" -des3
ossl_enc o-keyid "$PKI/alice.cert.pem" -aes-256-gcm -keyid
for c in "o-cbc RSA, AES-256-CBC" "o-gcm RSA, AES-256-GCM" "o-oaep RSA-OAEP (SHA-1), AES-256-GCM" \
	"o-oaep256 RSA-OAEP (SHA-256, MGF1-SHA-256), AES-128-CBC" "o-carol ECDH P-256, AES-128-GCM" \
	"o-dave ECDH P-384, AES-256-CBC" "o-des3 RSA, 3DES" "o-keyid RSA by subject key identifier, AES-256-GCM"; do
	name=${c%% *}
	dec "$name"
	check "openssl cms -encrypt, ${c#* }: p11smime decrypts it on the token" decrypted_ok "$name" "openssl $name"
done
check "...and keeps the routing headers" grep -q '^Subject: from a peer' "$TMP/o-keyid.dec"
# openssl signs, then encrypts: the signature inside is checked
entity o-se "openssl signed"
openssl cms -sign -in "$TMP/o-se.ent" -signer "$PKI/dave.cert.pem" -inkey "$PKI/dave.key.pem" -md sha384 \
	-certfile "$PKI/intermediate-ca.cert.pem" 2>/dev/null |
	openssl cms -encrypt -aes-256-gcm -out "$TMP/o-se.smime" "$PKI/carol.cert.pem" 2>/dev/null
FROM="Dave <dave@example.org>" wrap_smime o-se
dec o-se
check "openssl cms -sign | -encrypt (P-384 signer, to P-256): p11smime decrypts and reports the good signature" \
	sh -c "[ $RC -eq 0 ] && grep -q 'signature OK' '$TMP/err' && grep -q 'dave@example.org' '$TMP/err' && grep -qF 'openssl signed: $SECRET' '$TMP/o-se.dec'"
wrap_smime o-se
dec o-se
check "...but From: alice over dave's signature: exit 1, nothing written" \
	sh -c "[ $RC -eq 1 ] && grep -q 'NOT valid' '$TMP/err' && [ ! -e '$TMP/o-se.dec' ]"

# ---- gpgsm --encrypt -> p11smime ----
entity g128 "gpgsm g128"
gpgsm --batch -r bob@example.org --encrypt -o "$TMP/g128.der" "$TMP/g128.ent" 2>"$TMP/err"
wrap_der g128
dec g128
check "gpgsm --encrypt (RSA, its default AES-128-CBC): p11smime decrypts it on the token" decrypted_ok g128 "gpgsm g128"
entity g256 "gpgsm g256"
gpgsm --batch --cipher-algo AES256 -r bob@example.org --encrypt -o "$TMP/g256.der" "$TMP/g256.ent" 2>"$TMP/err"
wrap_der g256
dec g256
check "gpgsm --encrypt --cipher-algo AES256 (RSA): p11smime decrypts it on the token" decrypted_ok g256 "gpgsm g256"

# ---- NSS cmsutil -E -> p11smime ----
entity n "cmsutil"
cmsutil -E -d "sql:$TMP/nss" -r bob@example.org -i "$TMP/n.ent" -o "$TMP/n.der" >/dev/null 2>&1
wrap_der n
dec n
check "NSS cmsutil -E (RSA): p11smime decrypts it on the token" decrypted_ok n cmsutil

# ---- negative twins ----
# a message for a key on no token: an EC recipient named by subject key identifier
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/zoe.key" \
	-subj "/CN=Zoe Nokey/emailAddress=zoe@example.org" -addext keyUsage=keyAgreement -days 30 -out "$TMP/zoe.crt" 2>/dev/null
ski=$(openssl x509 -in "$TMP/zoe.crt" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' :' | tr 'A-F' 'a-f')
ossl_enc nokey "$TMP/zoe.crt" -aes-256-gcm -keyid
dec nokey
check "openssl to an ECDH key on no token (by key id): exit 1, nothing written, naming the recipient" \
	eval "[ $RC -eq 1 ] && err_one_line && grep -q 'encrypted for: .*$ski' '$TMP/err' && [ ! -e '$TMP/nokey.dec' ]"
# gpgsm's AES-CBC, one bit flipped in the ciphertext
entity gbig "gpgsm gbig"
for i in $(seq 1 300); do echo "line $i of the text around the secret"; done >>"$TMP/gbig.ent"
gpgsm --batch -r bob@example.org --encrypt -o "$TMP/gbig.der" "$TMP/gbig.ent" 2>"$TMP/err"
ctflip() { # in out mid|pad: flip a bit in the middle of the ciphertext, or the last
	# byte of the next-to-last block (that byte of the padding changes: always invalid)
	python3 - "$@" <<'EOF'
import re, subprocess, sys
der = bytearray(open(sys.argv[1], 'rb').read())
out = subprocess.run(['openssl', 'asn1parse', '-inform', 'DER', '-in', sys.argv[1]],
                     capture_output=True, text=True, check=True).stdout
pat = re.compile(r'^\s*(\d+):d=(\d+)\s+hl=(\d+)\s+l=\s*(\S+)\s+(prim|cons):\s*(.*)$')
rows = [m.groups() for m in map(pat.match, out.splitlines()) if m]
# encryptedContent: the last [0] at depth 4, primitive or a run of OCTET STRINGs
start = max(i for i, r in enumerate(rows) if r[1] == '4' and r[5].startswith('cont [ 0 ]'))
if rows[start][4] == 'prim':
    chunks = [(int(rows[start][0]) + int(rows[start][2]), int(rows[start][3]))]
else:
    chunks = []
    for r in rows[start + 1:]:
        if int(r[1]) <= 4:
            break
        if r[5].startswith('OCTET STRING'):
            chunks.append((int(r[0]) + int(r[2]), int(r[3])))
offs = [a + i for a, n in chunks for i in range(n)]
der[offs[len(offs) // 2] if sys.argv[3] == 'mid' else offs[-17]] ^= 0x01
open(sys.argv[2], 'wb').write(der)
EOF
}
ctflip "$TMP/gbig.der" "$TMP/gmid.der" mid
wrap_der gmid
dec gmid
# garbled_ok: exit 0, the first and last lines intact, one or two in between not
garbled_ok() {
	local n
	n=$(grep -c 'of the text around the secret' "$TMP/gmid.dec")
	[ "$RC" -eq 0 ] && [ "$n" -ge 297 ] && [ "$n" -le 299 ] &&
		grep -q '^line 1 of' "$TMP/gmid.dec" && grep -q '^line 300 of' "$TMP/gmid.dec"
}
check "gpgsm AES-CBC with a bit flipped mid-ciphertext: CBC cannot tell, it decrypts (exit 0) to changed text" garbled_ok
check "...and p11smime warns that it is NOT authenticated" err_has "NOT authenticated"
dec gmid --require-authenticated
check "...which --require-authenticated refuses (exit 1, nothing written)" sh -c "[ $RC -eq 1 ] && [ ! -e '$TMP/gmid.dec' ]"
ctflip "$TMP/gbig.der" "$TMP/gpad.der" pad
wrap_der gpad
dec gpad
check "gpgsm AES-CBC with the padding broken: exit 1, nothing written" \
	eval "[ $RC -eq 1 ] && err_one_line && [ ! -e '$TMP/gpad.dec' ]"
gpgconf --kill gpg-agent 2>/dev/null || true
done_testing
