#!/usr/bin/env bash
# mkfixtures.sh - reproducible test PKI and SoftHSM2 tokens for p11smime.
#
#   mkfixtures.sh pki DIR               test PKI (software keys + certificates)
#   mkfixtures.sh tokens PKIDIR OUTDIR  fresh SoftHSM2 tokens from that PKI
#   mkfixtures.sh all DIR               both: PKI in DIR/pki, tokens in DIR
#   mkfixtures.sh check OUTDIR          self-test of a tokens OUTDIR
#   mkfixtures.sh cached-pki LINK       a current PKI behind the symlink
#                                       LINK, made anew when stale; prints
#                                       its folder
#
# See README.md in this folder for every object, label, CKA_ID and PIN.
# No network. Never touches ~/.config/softhsm2 or /etc/softhsm2.conf:
# SOFTHSM2_CONF always points at OUTDIR/softhsm2.conf before a token tool runs.
set -euo pipefail

readonly USER_TOKEN=p11smime-user
readonly PIV_TOKEN=p11smime-piv
readonly USER_PIN=123456
readonly PIV_PIN=654321
readonly SO_PIN=12345678
readonly P12_PASS=test

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
PROG=$(basename "$0")
readonly PROG

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

usage() {
	cat >&2 <<EOF
usage: $PROG pki DIR
       $PROG tokens PKIDIR OUTDIR
       $PROG all DIR
       $PROG check OUTDIR
       $PROG cached-pki LINK
EOF
	exit 2
}

need() {
	local c pkg
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 && continue
		case $c in
		pkcs11-tool) pkg=opensc ;;
		softhsm2-util) pkg=softhsm2 ;;
		cc) pkg="gcc libp11-kit-dev" ;;
		flock) pkg=util-linux ;;
		*) pkg=$c ;;
		esac
		die "missing program '$c' (apt-get install $pkg)"
	done
}

# Absolute path of DIR, creating it.
absdir() {
	mkdir -p -- "$1"
	(cd -- "$1" && pwd)
}

# Run a command quietly; show its output only if it fails.
quiet() {
	local out
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out" >&2
		die "failed: $*"
	fi
}

find_module() {
	local m
	for m in "${P11SMIME_SOFTHSM_MODULE:-}" \
		/usr/lib/softhsm/libsofthsm2.so \
		/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
		/usr/lib/*/softhsm/libsofthsm2.so \
		/usr/local/lib/softhsm/libsofthsm2.so; do
		if [[ -n $m && -f $m ]]; then
			printf '%s\n' "$m"
			return 0
		fi
	done
	die "libsofthsm2.so not found (apt-get install softhsm2, or set P11SMIME_SOFTHSM_MODULE)"
}

# ---------------------------------------------------------------- PKI ----

# Users: name | key type | issuing CA section | extension section |
#        CN | e-mail | notBefore | notAfter, in days from now ("" = -1 .. +1095).
# Every date is relative to the time `pki` runs, so the PKI is the same in
# any year: the old certificates (eve, the retired PIV keys) have expired
# years ago, inside their issuer's validity, which began before them.
readonly USERS=(
	"alice|rsa:2048|ca_intermediate|ext_user_rsa|Alice|alice@example.org||"
	"bob|rsa:3072|ca_intermediate|ext_user_rsa|Bob|bob@example.org||"
	"carol|ec:P-256|ca_intermediate|ext_user_ec|Carol|carol@example.org||"
	"dave|ec:P-384|ca_intermediate|ext_user_ec|Dave|dave@example.org||"
	"eve|rsa:2048|ca_intermediate|ext_user_rsa|Eve|eve@example.org|-2555|-2190"
	"mallory|rsa:2048|ca_untrusted|ext_user_rsa|Mallory|mallory@example.org||"
	"pat-sign|rsa:2048|ca_intermediate|ext_piv_sign|Pat PIV|pat@example.org||"
	"pat-keymgmt|rsa:2048|ca_intermediate|ext_piv_keymgmt_rsa|Pat PIV|pat@example.org||"
	"pat-retired1|rsa:2048|ca_intermediate|ext_piv_keymgmt_rsa|Pat PIV|pat@example.org|-2920|-1825"
	"pat-retired2|ec:P-256|ca_intermediate|ext_piv_keymgmt_ec|Pat PIV|pat@example.org|-2190|-1095"
)
# The CAs' validity, in days from now: both began before the oldest user
# certificate above.
readonly ROOT_DAYS=(-3650 7300) INTERMEDIATE_DAYS=(-3640 5475) UNTRUSTED_DAYS=(-1 7300)
# Times inside the old validity periods (days from now), written to
# dates.sh for the tests' --at: eve and pat-retired1 were both valid at
# OLD_AT, pat-retired2 at OLD2_AT.
readonly OLD_AT_DAYS=-2372 OLD2_AT_DAYS=-1642

write_openssl_cnf() {
	cat >"$1" <<'EOF'
# OpenSSL configuration of the p11smime test PKI (written by mkfixtures.sh).
# Paths are relative: run `openssl ca -config openssl.cnf -name ca_...`
# from the PKI directory.

[ req ]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes
prompt             = no

[ req_dn ]
CN = unused

# ----- CAs (one database each; random serials) -----

[ ca_root ]
dir           = ./ca/root-ca
database      = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate   = ./root-ca.cert.pem
private_key   = ./root-ca.key.pem
default_md      = sha256
policy          = policy_any
unique_subject  = no
rand_serial     = yes
copy_extensions = none
preserve        = yes

[ ca_intermediate ]
dir           = ./ca/intermediate-ca
database      = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate   = ./intermediate-ca.cert.pem
private_key   = ./intermediate-ca.key.pem
default_md      = sha256
policy          = policy_any
unique_subject  = no
rand_serial     = yes
copy_extensions = none
preserve        = yes

[ ca_untrusted ]
dir           = ./ca/untrusted-ca
database      = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate   = ./untrusted-ca.cert.pem
private_key   = ./untrusted-ca.key.pem
default_md      = sha256
policy          = policy_any
unique_subject  = no
rand_serial     = yes
copy_extensions = none
preserve        = yes

[ policy_any ]
organizationName = optional
commonName       = supplied
emailAddress     = optional

# ----- extensions -----

[ ext_root ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ ext_intermediate ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ext_user_rsa ]
keyUsage               = critical, digitalSignature, nonRepudiation, keyEncipherment
basicConstraints       = critical, CA:FALSE
extendedKeyUsage       = emailProtection, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = email:copy

[ ext_user_ec ]
keyUsage               = critical, digitalSignature, keyAgreement
basicConstraints       = critical, CA:FALSE
extendedKeyUsage       = emailProtection, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = email:copy

# PIV slot 9C (digital signature)
[ ext_piv_sign ]
keyUsage               = critical, digitalSignature, nonRepudiation
basicConstraints       = critical, CA:FALSE
extendedKeyUsage       = emailProtection
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = email:copy

# PIV slot 9D and retired slots 82.. (key management), RSA
[ ext_piv_keymgmt_rsa ]
keyUsage               = critical, keyEncipherment
basicConstraints       = critical, CA:FALSE
extendedKeyUsage       = emailProtection
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = email:copy

# PIV key management, EC (ECDH)
[ ext_piv_keymgmt_ec ]
keyUsage               = critical, keyAgreement
basicConstraints       = critical, CA:FALSE
extendedKeyUsage       = emailProtection
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = email:copy
EOF
}

# genkey NAME TYPE: unencrypted PKCS#8 NAME.key.pem and NAME.pub.pem.
genkey() {
	local name=$1 type=$2
	case $type in
	rsa:*)
		openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:${type#rsa:}" \
			-out "$name.key.pem" ;;
	ec:*)
		openssl genpkey -quiet -algorithm EC -pkeyopt "ec_paramgen_curve:${type#ec:}" \
			-pkeyopt ec_param_enc:named_curve -out "$name.key.pem" ;;
	*) die "bad key type $type" ;;
	esac
	openssl pkey -in "$name.key.pem" -pubout -out "$name.pub.pem"
}

# issue NAME CA_SECTION EXT_SECTION SUBJECT FROM-DAYS TO-DAYS [-selfsign ...]:
# valid from FROM-DAYS to TO-DAYS days after $NOW (both given as dates:
# `openssl ca -days` would count from the time it runs, not from -startdate)
issue() {
	local name=$1 ca=$2 ext=$3 subj=$4 from=$5 to=$6
	shift 6
	quiet openssl req -new -config openssl.cnf -key "$name.key.pem" \
		-subj "$subj" -out "ca/$name.csr.pem"
	quiet openssl ca -batch -notext -config openssl.cnf -name "$ca" \
		-extensions "$ext" -startdate "$(days_from_now "$from")" \
		-enddate "$(days_from_now "$to")" "$@" \
		-in "ca/$name.csr.pem" -out "$name.cert.pem"
}

# days_from_now N: $NOW + N days as an `openssl ca` date (UTC)
days_from_now() {
	date -u -d "@$((NOW + $1 * 86400))" +%Y%m%d%H%M%SZ
}

make_pki() {
	need openssl "${CC:-cc}"
	local dir
	dir=$(absdir "$1")
	cd -- "$dir"
	umask 077
	rm -rf ca
	mkdir -p ca/root-ca/newcerts ca/intermediate-ca/newcerts ca/untrusted-ca/newcerts
	: >ca/root-ca/index.txt
	: >ca/intermediate-ca/index.txt
	: >ca/untrusted-ca/index.txt
	write_openssl_cnf openssl.cnf

	# Key generation dominates: run it in parallel.
	local -a pids=() spec
	local u pid
	genkey root-ca rsa:3072 & pids+=($!)
	genkey intermediate-ca rsa:3072 & pids+=($!)
	genkey untrusted-ca rsa:2048 & pids+=($!)
	for u in "${USERS[@]}"; do
		IFS='|' read -r -a spec <<<"$u"
		genkey "${spec[0]}" "${spec[1]}" & pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || die "key generation failed"
	done

	# One "now" for every date of the PKI.
	NOW=$(date -u +%s)
	issue root-ca ca_root ext_root "/O=p11smime Test PKI/CN=p11smime Test Root CA" \
		"${ROOT_DAYS[@]}" -selfsign -keyfile root-ca.key.pem
	issue intermediate-ca ca_root ext_intermediate \
		"/O=p11smime Test PKI/CN=p11smime Test Intermediate CA" "${INTERMEDIATE_DAYS[@]}"
	issue untrusted-ca ca_untrusted ext_root "/O=Nobody Trusts Me/CN=p11smime Untrusted CA" \
		"${UNTRUSTED_DAYS[@]}" -selfsign -keyfile untrusted-ca.key.pem

	cat intermediate-ca.cert.pem root-ca.cert.pem >chain.pem
	cp root-ca.cert.pem anchors.pem

	local start end chainfile
	for u in "${USERS[@]}"; do
		IFS='|' read -r -a spec <<<"$u"
		start=${spec[6]:--1}
		end=${spec[7]:-1095}
		issue "${spec[0]}" "${spec[2]}" "${spec[3]}" \
			"/CN=${spec[4]}/emailAddress=${spec[5]}" "$start" "$end"
		if [[ ${spec[2]} == ca_untrusted ]]; then
			chainfile=untrusted-ca.cert.pem
		else
			chainfile=chain.pem
		fi
		quiet openssl pkcs12 -export -name "${spec[0]}" -inkey "${spec[0]}.key.pem" \
			-in "${spec[0]}.cert.pem" -certfile "$chainfile" \
			-passout "pass:$P12_PASS" -out "${spec[0]}.p12"
	done
	# when the PKI was made and when the old certificates were valid, for
	# the tests (tokens copies it into env.sh)
	{
		printf '# p11smime test PKI dates (written by mkfixtures.sh), seconds since the epoch\n'
		printf 'export P11SMIME_TEST_PKI_MADE=%s\n' "$NOW"
		printf '# eve and pat-retired1 were valid then\n'
		printf 'export P11SMIME_TEST_OLD_AT=%s\n' "$((NOW + OLD_AT_DAYS * 86400))"
		printf '# pat-retired2 was valid then\n'
		printf 'export P11SMIME_TEST_OLD2_AT=%s\n' "$((NOW + OLD2_AT_DAYS * 86400))"
		printf "# eve's validity, for tests that make old certificates of their own\n"
		printf 'export P11SMIME_TEST_OLD_FROM=%s P11SMIME_TEST_OLD_UNTIL=%s\n' \
			"$(openssl x509 -in eve.cert.pem -noout -startdate | cut -d= -f2 | date -u -f - +%Y%m%d%H%M%SZ)" \
			"$(openssl x509 -in eve.cert.pem -noout -enddate | cut -d= -f2 | date -u -f - +%Y%m%d%H%M%SZ)"
	} >dates.sh
	chmod 0644 ./*.cert.pem ./*.pub.pem chain.pem anchors.pem openssl.cnf dates.sh
	chmod 0600 ./*.key.pem ./*.p12

	# The attribute helper is built once here; `tokens` reuses it.
	build_p11attr "$dir/p11attr"
	chmod 0755 "$dir/p11attr"
}

build_p11attr() {
	local out=$1 cflags
	need "${CC:-cc}"
	cflags=$(pkg-config --cflags p11-kit-1 2>/dev/null || echo -I/usr/include/p11-kit-1)
	# shellcheck disable=SC2086 # word splitting of cflags is wanted
	quiet "${CC:-cc}" -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra $cflags \
		-o "$out.tmp.$$" "$HERE/p11attr.c" -ldl
	mv -f -- "$out.tmp.$$" "$out"
}

# ------------------------------------------------------------- tokens ----

# p11 TOKEN PIN ARGS...: pkcs11-tool on the fixture module, logged in.
p11() {
	local token=$1 pin=$2
	shift 2
	quiet pkcs11-tool --module "$MODULE" --token-label "$token" --login --pin "$pin" "$@"
}

# put TOKEN PIN NAME ID KEYLABEL PUBLABEL CERTLABEL USAGE-FLAGS...
put_identity() {
	local token=$1 pin=$2 name=$3 id=$4 klabel=$5 publabel=$6 clabel=$7
	shift 7
	local -a extra=()
	local f
	for f in "$@"; do
		[[ $f == --always-auth ]] && extra+=("$f")
	done
	local -a usage=()
	for f in "$@"; do
		[[ $f == --usage-* ]] && usage+=("$f")
	done
	p11 "$token" "$pin" --write-object "$PKI/$name.key.pem" --type privkey \
		--id "$id" --label "$klabel" --sensitive "${usage[@]}" "${extra[@]}"
	p11 "$token" "$pin" --write-object "$PKI/$name.pub.pem" --type pubkey \
		--id "$id" --label "$publabel" "${usage[@]}"
	p11 "$token" "$pin" --write-object "$PKI/$name.cert.pem" --type cert \
		--id "$id" --label "$clabel"
}

make_tokens() {
	need pkcs11-tool softhsm2-util
	local pkidir outdir f
	[[ -d $1 ]] || die "no PKI directory $1 (run: $PROG pki $1)"
	pkidir=$(cd -- "$1" && pwd)
	for f in root-ca.cert.pem intermediate-ca.cert.pem alice.key.pem pat-retired2.cert.pem dates.sh; do
		[[ -f $pkidir/$f ]] || die "incomplete PKI in $pkidir: no $f (run: $PROG pki $pkidir)"
	done
	outdir=$(absdir "$2")
	PKI=$pkidir
	MODULE=$(find_module)

	local attr=$pkidir/p11attr
	if [[ ! -x $attr || $HERE/p11attr.c -nt $attr ]]; then
		attr=$outdir/p11attr
		build_p11attr "$attr"
	fi

	rm -rf -- "$outdir/tokens"
	mkdir -p -- "$outdir/tokens"
	cat >"$outdir/softhsm2.conf" <<EOF
# SoftHSM2 configuration for p11smime tests (written by mkfixtures.sh)
directories.tokendir = $outdir/tokens
objectstore.backend = file
log.level = ERROR
EOF
	export SOFTHSM2_CONF=$outdir/softhsm2.conf
	(
		umask 077
		printf '%s' "$USER_PIN" >"$outdir/user.pin"
		printf '%s' "$PIV_PIN" >"$outdir/piv.pin"
		printf '%s' "$SO_PIN" >"$outdir/so.pin"
	)
	chmod 0600 "$outdir/user.pin" "$outdir/piv.pin" "$outdir/so.pin"

	quiet softhsm2-util --init-token --free --label "$USER_TOKEN" --pin "$USER_PIN" --so-pin "$SO_PIN"
	quiet softhsm2-util --init-token --free --label "$PIV_TOKEN" --pin "$PIV_PIN" --so-pin "$SO_PIN"

	# --- token p11smime-user: key, public key and certificate share
	#     CKA_ID and CKA_LABEL.
	local -a rsa=(--usage-sign --usage-decrypt) ec=(--usage-sign --usage-derive)
	put_identity "$USER_TOKEN" "$USER_PIN" alice 01 alice alice alice "${rsa[@]}"
	put_identity "$USER_TOKEN" "$USER_PIN" bob 02 bob bob bob "${rsa[@]}"
	put_identity "$USER_TOKEN" "$USER_PIN" carol 03 carol carol carol "${ec[@]}"
	put_identity "$USER_TOKEN" "$USER_PIN" dave 04 dave dave dave "${ec[@]}"
	put_identity "$USER_TOKEN" "$USER_PIN" eve 05 eve eve eve "${rsa[@]}"
	put_identity "$USER_TOKEN" "$USER_PIN" mallory 06 mallory mallory mallory "${rsa[@]}"
	# CA certificates: CKA_CERTIFICATE_CATEGORY (2 = authority) can only be
	# set at creation and only p11tool (gnutls-bin) sets it; without
	# p11tool they are written with the default category (0).
	local ca_category=""
	if command -v p11tool >/dev/null 2>&1; then
		quiet env GNUTLS_PIN="$USER_PIN" p11tool --provider "$MODULE" --batch --login --write --mark-ca \
			--load-certificate "$PKI/intermediate-ca.cert.pem" --id a0 \
			--label intermediate-ca "pkcs11:token=$USER_TOKEN"
		quiet env GNUTLS_PIN="$USER_PIN" p11tool --provider "$MODULE" --batch --login --write --mark-ca \
			--load-certificate "$PKI/root-ca.cert.pem" --id a1 \
			--label root-ca "pkcs11:token=$USER_TOKEN"
		ca_category=private=0,certificate_category=2
	else
		p11 "$USER_TOKEN" "$USER_PIN" --write-object "$PKI/intermediate-ca.cert.pem" \
			--type cert --id a0 --label intermediate-ca
		p11 "$USER_TOKEN" "$USER_PIN" --write-object "$PKI/root-ca.cert.pem" \
			--type cert --id a1 --label root-ca
		ca_category=private=0,certificate_category=0
	fi

	# --- token p11smime-piv: laid out like OpenSC shows a PIV card.
	put_identity "$PIV_TOKEN" "$PIV_PIN" pat-sign 02 "SIGN key" "SIGN pubkey" \
		"Certificate for Digital Signature" --usage-sign --always-auth
	put_identity "$PIV_TOKEN" "$PIV_PIN" pat-keymgmt 03 "KEY MAN key" "KEY MAN pubkey" \
		"Certificate for Key Management" --usage-decrypt
	put_identity "$PIV_TOKEN" "$PIV_PIN" pat-retired1 05 "Retired KEY MAN 1" "Retired KEY MAN 1" \
		"Retired Certificate for Key Management 1" --usage-decrypt
	put_identity "$PIV_TOKEN" "$PIV_PIN" pat-retired2 06 "Retired KEY MAN 2" "Retired KEY MAN 2" \
		"Retired Certificate for Key Management 2" --usage-derive

	# --- exact usage attributes. pkcs11-tool only sets usages to TRUE and
	#     SoftHSM defaults the others to TRUE too; p11attr sets the FALSE
	#     ones, then reads every listed attribute back and fails on a
	#     mismatch (so sensitive/extractable/always_authenticate, which
	#     pkcs11-tool set, are checked as well).
	local key="sensitive=1,extractable=0,always_sensitive=0,never_extractable=0,private=1,sign_recover=0"
	local rsa_priv="$key,sign=1,decrypt=1,unwrap=1,derive=0,always_authenticate=0"
	local ec_priv="$key,sign=1,derive=1,decrypt=0,unwrap=0,always_authenticate=0"
	local rsa_pub="private=0,verify=1,encrypt=1,wrap=1,derive=0,verify_recover=0"
	local ec_pub="private=0,verify=1,derive=1,encrypt=0,wrap=0,verify_recover=0"
	quiet "$attr" "$MODULE" "$USER_TOKEN" "$outdir/user.pin" \
		privkey:01:"$rsa_priv" pubkey:01:"$rsa_pub" cert:01:private=0 \
		privkey:02:"$rsa_priv" pubkey:02:"$rsa_pub" cert:02:private=0 \
		privkey:03:"$ec_priv" pubkey:03:"$ec_pub" cert:03:private=0 \
		privkey:04:"$ec_priv" pubkey:04:"$ec_pub" cert:04:private=0 \
		privkey:05:"$rsa_priv" pubkey:05:"$rsa_pub" cert:05:private=0 \
		privkey:06:"$rsa_priv" pubkey:06:"$rsa_pub" cert:06:private=0 \
		cert:a0:"$ca_category" cert:a1:"$ca_category"
	quiet "$attr" "$MODULE" "$PIV_TOKEN" "$outdir/piv.pin" \
		privkey:02:"$key,sign=1,decrypt=0,unwrap=0,derive=0,always_authenticate=1" \
		cert:02:private=0 pubkey:02:"private=0,verify=1,encrypt=0,wrap=0,derive=0,verify_recover=0" \
		privkey:03:"$key,decrypt=1,unwrap=1,sign=0,derive=0,always_authenticate=0" \
		cert:03:private=0 pubkey:03:"private=0,encrypt=1,wrap=1,verify=0,derive=0,verify_recover=0" \
		privkey:05:"$key,decrypt=1,unwrap=1,sign=0,derive=0,always_authenticate=0" \
		cert:05:private=0 pubkey:05:"private=0,encrypt=1,wrap=1,verify=0,derive=0,verify_recover=0" \
		privkey:06:"$key,derive=1,sign=0,decrypt=0,unwrap=0,always_authenticate=0" \
		cert:06:private=0 pubkey:06:"private=0,derive=1,verify=0,encrypt=0,wrap=0,verify_recover=0"

	{
		printf '# p11smime test tokens (written by mkfixtures.sh); source this file.\n'
		printf 'export SOFTHSM2_CONF=%q\n' "$outdir/softhsm2.conf"
		printf 'export P11SMIME_TEST_MODULE=%q\n' "$MODULE"
		printf 'export P11SMIME_TEST_PKI=%q\n' "$pkidir"
		printf 'export P11SMIME_TEST_DIR=%q\n' "$outdir"
		printf 'export P11SMIME_TEST_USER_TOKEN=%q\n' "$USER_TOKEN"
		printf 'export P11SMIME_TEST_PIV_TOKEN=%q\n' "$PIV_TOKEN"
		printf 'export P11SMIME_TEST_USER_TOKEN_URI=%q\n' "pkcs11:token=$USER_TOKEN"
		printf 'export P11SMIME_TEST_PIV_TOKEN_URI=%q\n' "pkcs11:token=$PIV_TOKEN"
		printf 'export P11SMIME_TEST_USER_PIN_FILE=%q\n' "$outdir/user.pin"
		printf 'export P11SMIME_TEST_PIV_PIN_FILE=%q\n' "$outdir/piv.pin"
		printf 'export P11SMIME_TEST_SO_PIN_FILE=%q\n' "$outdir/so.pin"
		cat "$pkidir/dates.sh"
	} >"$outdir/env.sh"
}

# -------------------------------------------------------------- check ----

# A self-test: list both tokens, sign with the always-authenticate key
# (pkcs11-tool does the context-specific login itself), decrypt with the
# key-management key, and verify every user certificate against the root.
check_tokens() {
	need pkcs11-tool openssl
	local dir
	dir=$(cd -- "$1" && pwd)
	[[ -f $dir/env.sh ]] || die "no $dir/env.sh (run: $PROG tokens PKIDIR $dir)"
	# shellcheck source=/dev/null
	. "$dir/env.sh"
	local m=$P11SMIME_TEST_MODULE pki=$P11SMIME_TEST_PKI
	local upin ppin tmp rc=0
	upin=$(<"$P11SMIME_TEST_USER_PIN_FILE")
	ppin=$(<"$P11SMIME_TEST_PIV_PIN_FILE")
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064 # expand tmp now
	trap "rm -rf -- '$tmp'" EXIT

	echo "== $P11SMIME_TEST_USER_TOKEN"
	pkcs11-tool --module "$m" --token-label "$P11SMIME_TEST_USER_TOKEN" --login --pin "$upin" --list-objects
	echo "== $P11SMIME_TEST_PIV_TOKEN"
	pkcs11-tool --module "$m" --token-label "$P11SMIME_TEST_PIV_TOKEN" --login --pin "$ppin" --list-objects

	echo "== sign with always-authenticate key (PIV id 02, SHA256-RSA-PKCS)"
	printf 'p11smime fixture check\n' >"$tmp/msg"
	if pkcs11-tool --module "$m" --token-label "$P11SMIME_TEST_PIV_TOKEN" --login --pin "$ppin" \
		--sign --id 02 -m SHA256-RSA-PKCS --input-file "$tmp/msg" --output-file "$tmp/sig" &&
		openssl dgst -sha256 -verify "$pki/pat-sign.pub.pem" -signature "$tmp/sig" "$tmp/msg"; then
		echo "OK: context-specific login and signature"
	else
		echo "FAIL: always-authenticate sign"
		rc=1
	fi

	echo "== decrypt with PIV id 03 (RSA-PKCS)"
	openssl pkeyutl -encrypt -pubin -inkey "$pki/pat-keymgmt.pub.pem" -in "$tmp/msg" -out "$tmp/enc"
	if pkcs11-tool --module "$m" --token-label "$P11SMIME_TEST_PIV_TOKEN" --login --pin "$ppin" \
		--decrypt --id 03 -m RSA-PKCS --input-file "$tmp/enc" --output-file "$tmp/dec" &&
		cmp -s "$tmp/msg" "$tmp/dec"; then
		echo "OK: decrypt"
	else
		echo "FAIL: decrypt"
		rc=1
	fi

	echo "== ECDH derive with PIV id 06 and user id 03 (ECDH1-DERIVE)"
	local tok pin id pub
	for n in "$P11SMIME_TEST_PIV_TOKEN:$ppin:06:pat-retired2" "$P11SMIME_TEST_USER_TOKEN:$upin:03:carol"; do
		IFS=: read -r tok pin id pub <<<"$n"
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/peer.key" 2>/dev/null
		openssl pkey -in "$tmp/peer.key" -pubout -outform DER -out "$tmp/peer.der"
		openssl pkeyutl -derive -inkey "$tmp/peer.key" -peerkey "$pki/$pub.pub.pem" -out "$tmp/z.want"
		if pkcs11-tool --module "$m" --token-label "$tok" --login --pin "$pin" --derive --id "$id" \
			-m ECDH1-DERIVE --input-file "$tmp/peer.der" --output-file "$tmp/z.got" &&
			cmp -s "$tmp/z.want" "$tmp/z.got"; then
			echo "OK: derive $tok id $id"
		else
			echo "FAIL: derive $tok id $id"
			rc=1
		fi
	done

	echo "== usages that must be refused with CKR_KEY_FUNCTION_NOT_PERMITTED"
	local op mech f
	for n in "02:--decrypt:RSA-PKCS:$tmp/enc" "03:--sign:SHA256-RSA-PKCS:$tmp/msg" \
		"05:--sign:SHA256-RSA-PKCS:$tmp/msg" "06:--sign:ECDSA-SHA256:$tmp/msg"; do
		IFS=: read -r id op mech f <<<"$n"
		out=$(pkcs11-tool --module "$m" --token-label "$P11SMIME_TEST_PIV_TOKEN" --login --pin "$ppin" \
			"$op" --id "$id" -m "$mech" --input-file "$f" --output-file "$tmp/x" 2>&1) || true
		if grep -q CKR_KEY_FUNCTION_NOT_PERMITTED <<<"$out"; then
			echo "OK: PIV id $id refuses $op $mech"
		else
			echo "FAIL: PIV id $id $op $mech: $out"
			rc=1
		fi
	done

	echo "== openssl verify now (expected: eve, pat-retired* expired; mallory untrusted)"
	local n want got purpose out
	for n in alice bob carol dave eve mallory pat-sign pat-keymgmt pat-retired1 pat-retired2; do
		case $n in
		eve | pat-retired*) want=expired ;;
		mallory) want=untrusted ;;
		*) want=ok ;;
		esac
		case $n in
		pat-keymgmt | pat-retired*) purpose=smimeencrypt ;;
		*) purpose=smimesign ;;
		esac
		if out=$(openssl verify -purpose "$purpose" -CAfile "$pki/anchors.pem" \
			-untrusted "$pki/intermediate-ca.cert.pem" "$pki/$n.cert.pem" 2>&1); then
			got=ok
		elif grep -q 'certificate has expired' <<<"$out"; then
			got=expired
		else
			got=untrusted
		fi
		printf '%-13s %-10s %s\n' "$n" "$got" "$([[ $got == "$want" ]] && echo as-expected || echo "UNEXPECTED: $out")"
		[[ $got == "$want" ]] || rc=1
	done

	echo "== openssl verify -attime inside the old validity periods (expected: ok)"
	local t
	for n in "eve:$P11SMIME_TEST_OLD_AT" "pat-retired1:$P11SMIME_TEST_OLD_AT" \
		"pat-retired2:$P11SMIME_TEST_OLD2_AT"; do
		t=${n#*:}
		n=${n%%:*}
		if out=$(openssl verify -attime "$t" -CAfile "$pki/anchors.pem" \
			-untrusted "$pki/intermediate-ca.cert.pem" "$pki/$n.cert.pem" 2>&1); then
			printf '%-13s ok\n' "$n"
		else
			printf '%-13s UNEXPECTED: %s\n' "$n" "$out"
			rc=1
		fi
	done
	return "$rc"
}

# --------------------------------------------------------- cached-pki ----

# The test suite's PKI, made once and kept (it takes seconds): LINK is a
# symlink to LINK.<time>.<pid>, a complete PKI whose .stamp holds the
# checksum of this script and p11attr.c and the time it was made. A new
# one is made, and LINK switched to it, when either file changed, when the
# PKI is a day old or more, or when it was made at a time still to come
# (a clock set back, a run under faketime). A test keeps the folder this
# prints for its whole run, so one made while it runs does not change
# under it; folders LINK no longer points at are removed an hour after
# they were made. Output of `pki` goes to LINK.log; one process at a time
# (flock on LINK.lock).
readonly PKI_MAX_AGE=86400 PKI_KEEP_OLD=3600

cached_pki() {
	local link=$1 want now real sum made old
	need flock sha256sum
	want=$(cat "$HERE/mkfixtures.sh" "$HERE/p11attr.c" | sha256sum | cut -d' ' -f1)
	mkdir -p -- "$(dirname -- "$link")"
	exec 9>"$link.lock"
	flock 9
	now=$(date -u +%s)
	if [[ -L $link ]] && real=$(readlink -f -- "$link") && [[ -f $real/.stamp ]] &&
		read -r sum made <"$real/.stamp" && [[ $sum == "$want" && $made =~ ^[0-9]+$ ]] &&
		((made <= now && now - made < PKI_MAX_AGE)); then
		printf '%s\n' "$real"
		return 0
	fi
	real=$(absdir "$(dirname -- "$link")")/$(basename -- "$link").$now.$$
	rm -rf -- "$real"
	(make_pki "$real") >"$link.log" 2>&1 || { rm -rf -- "$real"; die "making the PKI failed (see $link.log)"; }
	printf '%s %s\n' "$want" "$now" >"$real/.stamp"
	# an older layout kept the PKI in LINK itself
	[[ -L $link || ! -e $link ]] || rm -rf -- "$link"
	ln -sfn -- "$(basename -- "$real")" "$link.new.$$"
	mv -fT -- "$link.new.$$" "$link"
	for old in "$link".[0-9]*.[0-9]*; do
		[[ -d $old && $old != "$real" ]] || continue
		made=
		if [[ -f $old/.stamp ]]; then read -r sum made <"$old/.stamp" || made=; fi
		if [[ ! $made =~ ^[0-9]+$ ]] || ((made > now || now - made >= PKI_KEEP_OLD)); then
			rm -rf -- "$old"
		fi
	done
	printf '%s\n' "$real"
}

# --------------------------------------------------------------- main ----

[[ $# -ge 1 ]] || usage
case $1 in
pki)
	[[ $# -eq 2 ]] || usage
	make_pki "$2"
	;;
tokens)
	[[ $# -eq 3 ]] || usage
	make_tokens "$2" "$3"
	;;
all)
	[[ $# -eq 2 ]] || usage
	d=$(absdir "$2")
	(make_pki "$d/pki")
	make_tokens "$d/pki" "$d"
	;;
check)
	[[ $# -eq 2 ]] || usage
	check_tokens "$2"
	;;
cached-pki)
	[[ $# -eq 2 ]] || usage
	cached_pki "$2"
	;;
*) usage ;;
esac
