#!/bin/bash
# A token someone else made: their own label, PIN file, keys, IDs and
# labels (a certificate whose CKA_ID differs from its key's, a key with no
# certificate, an always-authenticate key made on the token). keys must
# list every key/certificate pair correctly.
. "$top_srcdir/tests/integration/lib.sh"
plan 12
MODULE=${P11SMIME_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

D=$TMP/theirs
mkdir -p "$D/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$D" >"$D/softhsm2.conf"
export SOFTHSM2_CONF=$D/softhsm2.conf
softhsm2-util --init-token --free --label "Ops Team HSM" --so-pin 87654321 --pin 24681357 >/dev/null
printf '24681357\n' >"$D/pin.txt"; chmod 600 "$D/pin.txt"
P11() { pkcs11-tool --module "$MODULE" --token-label "Ops Team HSM" --login --pin 24681357 "$@" >/dev/null 2>&1; }

# their keys and self-made certificates
mkcert() { # name email keyfile
	openssl req -x509 -new -key "$3" -subj "/CN=$1/emailAddress=$2" -days 30 \
		-addext "subjectAltName=email:$2" -addext "extendedKeyUsage=emailProtection" \
		-out "$D/$1.pem" 2>/dev/null
	openssl x509 -in "$D/$1.pem" -outform DER -out "$D/$1.der"
}
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$D/ops.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/gw.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$D/lone.key" 2>/dev/null
mkcert "Ops Signing" ops@corp.example "$D/ops.key"
mkcert "Gateway" gateway@corp.example "$D/gw.key"
openssl pkey -in "$D/gw.key" -pubout -outform DER -out "$D/gw.pub.der" 2>/dev/null

# RSA key and certificate under the same odd ID
P11 --write-object "$D/ops.key" --type privkey --id deadbeef --label "ops signing key" --usage-sign
P11 --write-object "$D/Ops Signing.der" --type cert --id deadbeef --label "ops cert"
# EC key (with its public key object) and a certificate filed under another ID
P11 --write-object "$D/gw.key" --type privkey --id 4242 --label "gateway key" --usage-sign --usage-derive
P11 --write-object "$D/gw.pub.der" --type pubkey --id 4242 --label "gateway pub"
P11 --write-object "$D/Gateway.der" --type cert --id 9999 --label "gateway certificate"
# a key without a certificate
P11 --write-object "$D/lone.key" --type privkey --id 01 --label "spare" --usage-decrypt
# an always-authenticate key generated on the token, and its certificate
P11 --keypairgen --key-type rsa:2048 --id c0ffee --label "pin every time" --usage-sign --always-auth

run --module "$MODULE" --pin-source "file:$D/pin.txt" keys --json
check "keys on someone else's token exits 0" rc_is 0
check "every private key is listed (4)" json_q 'len(d["keys"])==4 and d["complete"]'
check "same-ID pair: ops key with its certificate" json_q '
  [k for k in d["keys"] if k["id"]=="deadbeef"][0]["certificate"]["emails"]==["ops@corp.example"]'
check "...paired by id" json_q '[k for k in d["keys"] if k["id"]=="deadbeef"][0]["certificate"]["paired_by"]=="id"'
check "different IDs: the EC key is paired with its certificate by public key" json_q '
  [k for k in d["keys"] if k["id"]=="4242"][0]["certificate"]["paired_by"]=="public-key" and
  [k for k in d["keys"] if k["id"]=="4242"][0]["certificate"]["emails"]==["gateway@corp.example"]'
check "the EC key reports its curve" json_q '[k for k in d["keys"] if k["id"]=="4242"][0]["curve"]=="P-256"'
check "a key without a certificate is listed with none" json_q '
  [k for k in d["keys"] if k["id"]=="01"][0]["certificate"] is None'
check "the always-authenticate key is flagged" json_q '
  [k for k in d["keys"] if k["id"]=="c0ffee"][0]["always_authenticate"]'
check "their labels are kept" json_q '
  sorted(k["label"] for k in d["keys"])==["gateway key","ops signing key","pin every time","spare"]'
check "URIs name their token" json_q 'all("token=Ops%20Team%20HSM" in k["uri"] for k in d["keys"])'

# their always-authenticate key signs in batch through the library
run_cmd "$KEYTEST" --module "$MODULE" --pin-source "file:$D/pin.txt" --count 2 \
	"pkcs11:token=Ops%20Team%20HSM;id=%c0%ff%ee;type=private"
check "their always-authenticate key signs twice in batch" rc_is 0
run_cmd "$KEYTEST" --module "$MODULE" --pin-source "file:$D/pin.txt" --count 1 \
	"pkcs11:token=Ops%20Team%20HSM;object=gateway%20key"
check "their EC key (cert under another ID) signs and verifies" rc_is 0
done_testing
