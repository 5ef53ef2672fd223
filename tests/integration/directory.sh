#!/bin/bash
# Recipients' certificates from an LDAP directory: a real slapd on the
# loopback (StartTLS and ldaps:// with a server certificate from the test
# PKI), people with a valid and an expired certificate, with an expired one
# only, with none, and one visible only after a bind. encrypt picks the
# valid certificate (openssl decrypts with its key), caches the answer (it
# works with slapd stopped), and a directory that is down, untrusted or
# refuses the bind is a warning, never a crash.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/slapd.sh"
plan 36
slapd_require
fixtures
A=(--anchors "$PKI/anchors.pem")
CA=(--directory-ca "$PKI/anchors.pem")
BASE="dc=example,dc=org"

# ---- certificates: new people, signed by the test intermediate CA ----
mkdir -p "$TMP/ca/new"
: >"$TMP/ca/index.txt"
cat >"$TMP/ca/ca.cnf" <<EOF
[ ca ]
default_ca = tca
[ tca ]
dir = $TMP/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
emailAddress = optional
EOF
openssl rand -hex 16 >"$TMP/ca/serial"

# mkcert NAME EMAIL rsa|ec valid|expired [server]
mkcert() {
	local name=$1 email=$2 kind=$3 when=$4 ext=$TMP/$1.ext
	if [ "$kind" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/$name.key.pem" 2>/dev/null
		echo "keyUsage=critical,digitalSignature,keyEncipherment" >"$ext"
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/$name.key.pem" 2>/dev/null
		echo "keyUsage=critical,digitalSignature,keyAgreement" >"$ext"
	fi
	if [ "${5:-}" = server ]; then
		printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$ext"
		openssl req -new -key "$TMP/$name.key.pem" -subj "/CN=$email" -out "$TMP/$name.csr" 2>/dev/null
	else
		printf 'extendedKeyUsage=emailProtection\nsubjectAltName=email:%s\nbasicConstraints=critical,CA:FALSE\n' "$email" >>"$ext"
		openssl req -new -key "$TMP/$name.key.pem" -subj "/CN=$name/emailAddress=$email" -out "$TMP/$name.csr" 2>/dev/null
	fi
	if [ "$when" = valid ]; then
		openssl x509 -req -in "$TMP/$name.csr" -CA "$PKI/intermediate-ca.cert.pem" \
			-CAkey "$PKI/intermediate-ca.key.pem" -set_serial "0x$(openssl rand -hex 16)" \
			-days 30 -extfile "$ext" -out "$TMP/$name.cert.pem" 2>/dev/null
	else
		openssl ca -batch -config "$TMP/ca/ca.cnf" -cert "$PKI/intermediate-ca.cert.pem" \
			-keyfile "$PKI/intermediate-ca.key.pem" -in "$TMP/$name.csr" -preserveDN -notext \
			-startdate "$P11SMIME_TEST_OLD_FROM" -enddate "$P11SMIME_TEST_OLD_UNTIL" -extfile "$ext" \
			-out "$TMP/$name.cert.pem" 2>"$TMP/ca.err"
	fi
	[ -s "$TMP/$name.cert.pem" ] || { echo "Bail out! could not make the certificate $name"; cat "$TMP/ca.err" | diag; exit 1; }
}
mkcert lena lena@example.org rsa valid
mkcert lena-old lena@example.org ec expired
mkcert olaf olaf@example.org ec expired
mkcert sam sam@example.org ec valid
mkcert server 127.0.0.1 ec valid server
cat "$TMP/server.cert.pem" "$PKI/intermediate-ca.cert.pem" >"$TMP/server.chain.pem"
b64() { openssl x509 -in "$TMP/$1.cert.pem" -outform DER | base64 -w0; }

cat >"$TMP/people.ldif" <<EOF
dn: $BASE
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: ou=staff,$BASE
objectClass: organizationalUnit
ou: staff

dn: cn=reader,$BASE
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: reader-secret

dn: uid=lena,ou=people,$BASE
objectClass: inetOrgPerson
uid: lena
cn: Lena Ldap
sn: Ldap
mail: lena@example.org
userCertificate;binary:: $(b64 lena-old)
userCertificate;binary:: $(b64 lena)

dn: uid=olaf,ou=people,$BASE
objectClass: inetOrgPerson
uid: olaf
cn: Olaf Old
sn: Old
mail: olaf@example.org
userCertificate;binary:: $(b64 olaf)

dn: uid=nina,ou=people,$BASE
objectClass: inetOrgPerson
uid: nina
cn: Nina None
sn: None
mail: nina@example.org

dn: uid=sam,ou=staff,$BASE
objectClass: inetOrgPerson
uid: sam
cn: Sam Staff
sn: Staff
mail: sam@example.org
userCertificate;binary:: $(b64 sam)
EOF

slapd_setup "$TMP/slapd" "$TMP/server.chain.pem" "$TMP/server.key.pem"
slapd_load "$TMP/people.ldif"
slapd_start
DIR="$SLAPD_URL/$BASE"
check "slapd answers on $SLAPD_URL with the entries" \
	sh -c "ldapsearch -x -LLL -H '$SLAPD_URL' -b '$BASE' '(mail=lena@example.org)' mail | grep -q lena"

mkmsg() { # file to
	printf 'From: Alice <alice@example.org>\nTo: %s\nSubject: secret\nDate: Sat, 28 Nov 2026 10:00:00 +0000\n\nthe secret word is swordfish.\n' "$2" >"$1"
}
enc() { # name to args...
	local name=$1 to=$2
	shift 2
	mkmsg "$TMP/$name.eml" "$to"
	rm -f "$TMP/$name.p7m"
	RC=0
	"$P11SMIME" --module "$MODULE" encrypt "${A[@]}" --to "$to" "$@" -o "$TMP/$name.p7m" \
		"$TMP/$name.eml" >"$TMP/out" 2>"$TMP/err" || RC=$?
}
ossl_dec() { # name key-name
	openssl cms -decrypt -in "$TMP/$1.p7m" -inkey "$TMP/$2.key.pem" -recip "$TMP/$2.cert.pem" \
		2>/dev/null | grep -q swordfish
}
fresh_home() { export P11SMIME_HOME=$TMP/home-$1; mkdir -p "$P11SMIME_HOME"; }

# ---- the person with a valid and an expired certificate ----
fresh_home main
enc lena lena@example.org --directory "$DIR" "${CA[@]}"
check "encrypt --to finds lena's certificate in the directory (StartTLS)" eval "rc_is 0 && [ ! -s '$TMP/err' ]"
check "...openssl cms -decrypt with lena's key reads it" ossl_dec lena lena
check "...the expired certificate was not a recipient" eval "! ossl_dec lena lena-old"
check "...the answer is cached in \$P11SMIME_HOME/directory/" \
	sh -c "ls '$P11SMIME_HOME/directory/' | grep -qE '^[0-9a-f]{64}\$' && grep -q '^address lena@example.org' '$P11SMIME_HOME'/directory/*"

# certs find: what the directory has
run --module "$MODULE" certs find lena@example.org --directory "$DIR" "${CA[@]}"
check "certs find --directory lists both of lena's certificates" \
	eval "rc_is 0 && [ \$(grep -c 'CN=lena' '$TMP/out') -eq 2 ] && out_has EXPIRED && out_has 'directory $DIR'"
run --module "$MODULE" certs find lena@example.org --directory "$DIR" "${CA[@]}" --json
check "certs find --json: two entries from the directory, one expired" json_q \
	'len(d) == 2 and all(x["where"].startswith("directory ldap://") for x in d) and sorted(x["expired"] for x in d) == [False, True]'
run --module "$MODULE" certs find nina@example.org --directory "$DIR" "${CA[@]}"
check "certs find for someone without a certificate: exit 1, naming the directory" \
	eval "rc_is 1 && err_has 'nina@example.org' && err_has '$DIR'"
run certs list --directory "$DIR"
check "--directory is only for certs find (exit 2)" rc_is 2

# ---- the others ----
enc olaf olaf@example.org --directory "$DIR" "${CA[@]}"
check "a person with only an expired certificate: exit 1 naming them" \
	eval "rc_is 1 && err_has 'olaf@example.org' && err_has expired && [ ! -e '$TMP/olaf.p7m' ]"
enc nina nina@example.org --directory "$DIR" "${CA[@]}"
check "a person without a certificate: exit 1, 'no certificate', naming the directory asked" \
	eval "rc_is 1 && err_one_line && err_has 'no certificate' && err_has 'nina@example.org' && err_has '$DIR'"

# the settings file's directory, when no --directory is given
fresh_home settings
printf 'directory = %s\n' "$DIR" >"$P11SMIME_HOME/config"
enc fromconf lena@example.org "${CA[@]}"
check "'directory = URL' in the settings file is asked when --directory is not given" eval "rc_is 0 && ossl_dec fromconf lena"

# ---- TLS ----
fresh_home ldaps
enc ldaps lena@example.org --directory "$SLAPD_TLS_URL/$BASE" "${CA[@]}"
check "ldaps:// works" eval "rc_is 0 && ossl_dec ldaps lena"
fresh_home must
enc must lena@example.org --directory "$DIR???"'?!starttls' "${CA[@]}"
check "ldap:// with the critical extension !starttls works" eval "rc_is 0 && ossl_dec must lena"
fresh_home badca
enc badca lena@example.org --directory "$DIR" --directory-ca "$PKI/untrusted-ca.cert.pem"
check "a server certificate that does not verify: a warning naming the directory and StartTLS, exit 1" \
	eval "rc_is 1 && err_has 'warning' && err_has 'StartTLS failed' && err_has '$DIR' && [ ! -e '$TMP/badca.p7m' ]"
fresh_home badca2
enc badca2 lena@example.org --directory "$SLAPD_TLS_URL/$BASE" --directory-ca "$PKI/untrusted-ca.cert.pem"
check "...and over ldaps://" eval "rc_is 1 && err_has 'warning' && err_has '$SLAPD_TLS_URL'"

# ---- simple bind ----
printf 'reader-secret' >"$TMP/dir.pw"
chmod 600 "$TMP/dir.pw"
printf 'not-the-secret\n' >"$TMP/bad.pw"
chmod 600 "$TMP/bad.pw"
fresh_home anon
enc anon sam@example.org --directory "$DIR" "${CA[@]}"
check "sam (ou=staff) is invisible without a bind: exit 1" eval "rc_is 1 && err_has 'no certificate'"
fresh_home bind
enc bind sam@example.org --directory "$DIR" "${CA[@]}" --directory-bind-dn "cn=reader,$BASE" \
	--directory-password-source "file:$TMP/dir.pw"
check "a simple bind with a password file finds sam" eval "rc_is 0 && ossl_dec bind sam"
check "...and the password is in no output" sh -c "! grep -q reader-secret '$TMP/out' '$TMP/err'"
fresh_home bindfd
RC=0
mkmsg "$TMP/bindfd.eml" sam@example.org
"$P11SMIME" --module "$MODULE" encrypt "${A[@]}" --to sam@example.org --directory "$DIR" "${CA[@]}" \
	--directory-bind-dn "cn=reader,$BASE" --directory-password-source fd:5 -o "$TMP/bindfd.p7m" \
	"$TMP/bindfd.eml" 5<"$TMP/dir.pw" >"$TMP/out" 2>"$TMP/err" || RC=$?
check "...and with the password on a file descriptor" eval "rc_is 0 && ossl_dec bindfd sam"
fresh_home badpw
enc badpw sam@example.org --directory "$DIR" "${CA[@]}" --directory-bind-dn "cn=reader,$BASE" \
	--directory-password-source "file:$TMP/bad.pw"
check "a wrong password: a warning that the bind was refused, then exit 1 'no certificate'" \
	eval "rc_is 1 && grep -q 'warning: .*refused the bind as cn=reader,$BASE: wrong DN or password' '$TMP/err' && err_has 'no certificate' && ! err_has not-the-secret"
chmod 644 "$TMP/bad.pw"
enc badpw sam@example.org --directory "$DIR" "${CA[@]}" --directory-bind-dn "cn=reader,$BASE" \
	--directory-password-source "file:$TMP/bad.pw"
check "a password file others can read is refused" eval "[ $RC -ne 0 ] && err_has 'others'"
enc badpw sam@example.org --directory "$DIR" "${CA[@]}" --directory-bind-dn "cn=reader,$BASE"
check "a bind DN without a password source: usage error (exit 2)" rc_is 2
enc badurl lena@example.org --directory "ldap://127.0.0.1:$SLAPD_PORT"
check "a URL without a base DN: usage error (exit 2) naming it" eval "rc_is 2 && err_has 'base DN'"
enc badurl lena@example.org --directory "$DIR??sub?(uid=*)"
check "a URL with a filter: usage error (exit 2)" eval "rc_is 2 && err_has filter"

# ---- the cache, with slapd stopped ----
slapd_stop
check "slapd is stopped" sh -c "! ldapsearch -x -o nettimeout=2 -H '$SLAPD_URL' -b '' -s base >/dev/null 2>&1"
fresh_home main
enc cached lena@example.org --directory "$DIR" "${CA[@]}"
check "the cached answer still works with the directory down (no warning)" \
	eval "rc_is 0 && [ ! -s '$TMP/err' ] && ossl_dec cached lena"
enc ncached nina@example.org --directory "$DIR" "${CA[@]}"
check "the negative answer for nina is cached too (exit 1, no directory asked, no warning)" \
	eval "rc_is 1 && ! err_has warning && err_has 'no certificate'"
sed -i 's/^expires .*/expires 1000/' "$P11SMIME_HOME"/directory/*
enc stale lena@example.org --directory "$DIR" "${CA[@]}"
check "an expired cache entry is not used: the directory is asked (down: a warning, exit 1)" \
	eval "rc_is 1 && err_has warning"

# ---- a directory that is down ----
fresh_home down
enc down lena@example.org --directory "$DIR" "${CA[@]}"
check "slapd down, nothing cached: exit 1" rc_is 1
check "...with a warning naming the directory" grep -q "warning: directory $DIR: cannot connect" "$TMP/err"
check "...and the usual 'no certificate' line naming the directories asked" \
	grep -q "no certificate for that address on the tokens, in the store or in the directories asked ($DIR)" "$TMP/err"
check "...and nothing written" test ! -e "$TMP/down.p7m"
run --module "$MODULE" certs find lena@example.org --directory "$DIR" "${CA[@]}"
check "certs find with the directory down, nothing elsewhere: exit 1 too, not 0" rc_is 1
check "...the line says the directory was not asked, and why" \
	eval "grep -q 'not asked: directory $DIR: cannot connect' '$TMP/err'"
# two directories: the first down, the second answers
slapd_start
fresh_home two
# the first: a port held where nothing listens (not a fixed one, where something might)
hold_port 0
enc two lena@example.org --directory "ldap://127.0.0.1:$HELD_PORT/$BASE" --directory "$DIR" "${CA[@]}"
check "the first directory down, the second answers: a warning, and it works" \
	eval "rc_is 0 && err_has 'ldap://127.0.0.1:$HELD_PORT/' && ossl_dec two lena"
done_testing
