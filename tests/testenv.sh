# The environment of every test: sourced by Makefile.am's
# AM_TESTS_ENVIRONMENT (all tests), tests/integration/lib.sh and
# tests/integration/pin-policy.sh. POSIX sh.
#
#   psm_env_common    what the caller's environment must not change: the
#                     locale, OpenSSL's configuration, proxies, the
#                     PKCS#11 and LDAP client settings, Python's path
#   psm_env_home DIR  the test's own HOME, P11SMIME_HOME, XDG folders,
#                     TMPDIR, GNUPGHOME and system CA store, in DIR
#
# What a tested program reads (P11SMIME_HOME, the XDG folders, TMPDIR,
# SSL_CERT_DIR, OPENSSL_CONF) is pinned to the test's own value rather
# than unset; a test that wants another value sets it itself. Needs
# top_srcdir.

psm_env_common() {
	# messages in English (gpgsm, strerror): LC_ALL wins over LANG and
	# the LC_* variables, and gettext ignores LANGUAGE in the C locale
	LC_ALL=C
	export LC_ALL
	unset LANGUAGE
	# OpenSSL: the suite's configuration, the build's providers and engines
	OPENSSL_CONF=$top_srcdir/tests/openssl.cnf
	export OPENSSL_CONF
	unset OPENSSL_MODULES OPENSSL_ENGINES
	# HTTP goes to the tests' own servers on the loopback, never to a proxy
	unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY \
		no_proxy NO_PROXY ftp_proxy FTP_PROXY
	unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
	# PKCS#11: the tests choose their modules and SoftHSM configuration;
	# p11-kit's debugging would write to p11smime's stderr
	unset SOFTHSM2_CONF P11_KIT_SERVER_ADDRESS PKCS11_MODULE_PATH P11SMIME_AGENT_SOCK \
		P11_KIT_DEBUG P11_KIT_STRICT
	# the tests' Python helpers use the standard library only
	unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONWARNINGS
	# OpenLDAP's client settings (LDAPCONF, LDAPRC, LDAPTLS_REQCERT, ...)
	for _psm_v in $(env | sed -n 's/^\(LDAP[A-Za-z0-9_]*\)=.*/\1/p'); do
		unset "$_psm_v"
	done
	unset _psm_v
}

psm_env_home() {
	HOME=$1/home
	P11SMIME_HOME=$1/p11smime-home
	XDG_CONFIG_HOME=$1/home/.config
	XDG_DATA_HOME=$1/home/.local/share
	XDG_CACHE_HOME=$1/home/.cache
	XDG_RUNTIME_DIR=$1/run
	GNUPGHOME=$1/home/.gnupg
	# p11smime's temporary files
	TMPDIR=$1/tmp
	# the system CA store p11smime and openssl add to their anchors: empty
	SSL_CERT_DIR=$1/system-certs
	SSL_CERT_FILE=$1/system-certs/none.pem
	export HOME P11SMIME_HOME XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME XDG_RUNTIME_DIR \
		GNUPGHOME TMPDIR SSL_CERT_DIR SSL_CERT_FILE
	mkdir -p "$HOME" "$P11SMIME_HOME" "$XDG_RUNTIME_DIR" "$TMPDIR" "$SSL_CERT_DIR" &&
		chmod 700 "$XDG_RUNTIME_DIR"
}
