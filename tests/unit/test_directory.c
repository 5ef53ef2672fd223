/* Unit tests for core/directory.c: LDAP URLs (RFC 4516) parse into what
 * directory.h documents, the search filter is escaped as RFC 4515 says,
 * and the store's cache of directory answers keeps and expires them. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "directory.h"
#include "error.h"
#include "store.h"

#define POISON_DETAIL "poisoned detail"

static int
setup(void **state)
{
	psm_error_set(POISON_DETAIL);
	return 0;
}

static int
teardown(void **state)
{
	psm_error_clear();
	return 0;
}

static psm_directory_url *
parse_ok(const char *url)
{
	psm_directory_url *u = (psm_directory_url *)0x1;

	assert_int_equal(psm_directory_url_parse(url, &u), 0);
	assert_non_null(u);
	assert_string_equal(u->url, url);
	return u;
}

/* rejected with PSM_ERR_USAGE, *out reset, a detail naming the URL that
 * contains want */
static void
assert_rejected(const char *url, const char *want)
{
	psm_directory_url *u = (psm_directory_url *)0x1;
	const char *d;

	assert_int_equal(psm_directory_url_parse(url, &u), PSM_ERR_USAGE);
	assert_null(u);
	d = psm_error_detail();
	assert_string_not_equal(d, POISON_DETAIL);
	if (strstr(d, url) == NULL)
		fail_msg("the detail does not name the URL: %s", d);
	if (want != NULL && strstr(d, want) == NULL)
		fail_msg("the detail lacks '%s': %s", want, d);
}

/* ---- URLs accepted ---- */

static void
test_url_ldap_defaults(void **state)
{
	psm_directory_url *u = parse_ok("ldap://ldap.example.org/dc=example,dc=org");

	assert_string_equal(u->host, "ldap.example.org");
	assert_int_equal(u->port, 389);
	assert_string_equal(u->base, "dc=example,dc=org");
	assert_int_equal(u->scope, PSM_DIRECTORY_SCOPE_SUB);
	assert_int_equal(u->tls, PSM_DIRECTORY_STARTTLS_TRY);
	assert_string_equal(u->server, "ldap://ldap.example.org:389");
	psm_directory_url_free(u);
}

static void
test_url_ldaps_default_port(void **state)
{
	psm_directory_url *u = parse_ok("LDAPS://ldap.example.org/o=Example");

	assert_int_equal(u->port, 636);
	assert_int_equal(u->tls, PSM_DIRECTORY_LDAPS);
	assert_string_equal(u->server, "ldaps://ldap.example.org:636");
	psm_directory_url_free(u);
}

static void
test_url_port_and_percent_decoded_base(void **state)
{
	psm_directory_url *u = parse_ok("ldap://127.0.0.1:3890/ou=People%20and%20Things,dc=example,dc=org");

	assert_string_equal(u->host, "127.0.0.1");
	assert_int_equal(u->port, 3890);
	assert_string_equal(u->base, "ou=People and Things,dc=example,dc=org");
	psm_directory_url_free(u);
}

static void
test_url_ipv6_literal(void **state)
{
	psm_directory_url *u = parse_ok("ldaps://[::1]:6360/dc=example,dc=org");

	assert_string_equal(u->host, "::1");
	assert_int_equal(u->port, 6360);
	assert_string_equal(u->server, "ldaps://[::1]:6360");
	psm_directory_url_free(u);
}

static void
test_url_scopes(void **state)
{
	psm_directory_url *u = parse_ok("ldap://h/dc=x??one");

	assert_int_equal(u->scope, PSM_DIRECTORY_SCOPE_ONE);
	psm_directory_url_free(u);
	u = parse_ok("ldap://h/dc=x??BASE?");
	assert_int_equal(u->scope, PSM_DIRECTORY_SCOPE_BASE);
	psm_directory_url_free(u);
	u = parse_ok("ldap://h/dc=x??sub??");
	assert_int_equal(u->scope, PSM_DIRECTORY_SCOPE_SUB);
	psm_directory_url_free(u);
}

static void
test_url_critical_starttls(void **state)
{
	psm_directory_url *u = parse_ok("ldap://h/dc=x???" "?!StartTLS");

	assert_int_equal(u->tls, PSM_DIRECTORY_STARTTLS_MUST);
	psm_directory_url_free(u);
}

static void
test_url_noncritical_starttls_is_default(void **state)
{
	psm_directory_url *u = parse_ok("ldap://h/dc=x????starttls");

	assert_int_equal(u->tls, PSM_DIRECTORY_STARTTLS_TRY);
	psm_directory_url_free(u);
}

static void
test_url_unknown_noncritical_extension_ignored(void **state)
{
	psm_directory_url *u = parse_ok("ldap://h/dc=x????x-something=1,!starttls");

	assert_int_equal(u->tls, PSM_DIRECTORY_STARTTLS_MUST);
	psm_directory_url_free(u);
}

static void
test_url_success_keeps_detail(void **state)
{
	psm_directory_url_free(parse_ok("ldap://h/dc=x"));
	assert_string_equal(psm_error_detail(), POISON_DETAIL);
}

/* ---- URLs rejected ---- */

static void
test_url_rejects_other_scheme(void **state)
{
	assert_rejected("http://h/dc=x", "ldap://");
	assert_rejected("ldapi:///dc=x", "ldap://");
}

static void
test_url_rejects_missing_host(void **state)
{
	assert_rejected("ldap:///dc=example,dc=org", "server");
}

static void
test_url_rejects_missing_base(void **state)
{
	assert_rejected("ldap://h", "base DN");
	assert_rejected("ldap://h/", "base DN");
	assert_rejected("ldap://h/?mail", "base DN");
}

static void
test_url_rejects_bad_port(void **state)
{
	assert_rejected("ldap://h:0/dc=x", "port");
	assert_rejected("ldap://h:65536/dc=x", "port");
	assert_rejected("ldap://h:/dc=x", "port");
	assert_rejected("ldap://h:38x/dc=x", "port");
}

static void
test_url_rejects_unclosed_ipv6(void **state)
{
	assert_rejected("ldap://[::1/dc=x", "]");
}

static void
test_url_rejects_bad_dn(void **state)
{
	assert_rejected("ldap://h/not-a-dn", "distinguished name");
}

static void
test_url_rejects_broken_escape(void **state)
{
	assert_rejected("ldap://h/dc=x%2", "escape");
	assert_rejected("ldap://h/dc=x%zz", "escape");
	assert_rejected("ldap://h/dc=x%00", "escape");
}

static void
test_url_rejects_attributes(void **state)
{
	assert_rejected("ldap://h/dc=x?mail", "attributes");
}

static void
test_url_rejects_filter(void **state)
{
	assert_rejected("ldap://h/dc=x??sub?(objectClass=*)", "filter");
}

static void
test_url_rejects_bad_scope(void **state)
{
	assert_rejected("ldap://h/dc=x??children", "scope");
}

static void
test_url_rejects_unknown_critical_extension(void **state)
{
	assert_rejected("ldap://h/dc=x???" "?!bindname=cn=me", "critical");
}

static void
test_url_rejects_starttls_on_ldaps(void **state)
{
	assert_rejected("ldaps://h/dc=x???" "?!starttls", "StartTLS");
}

static void
test_url_rejects_extra_part(void **state)
{
	assert_rejected("ldap://h/dc=x??sub??starttls?more", "'?'");
}

static void
test_url_rejects_space(void **state)
{
	assert_rejected("ldap://h/dc=a b", "percent-encoded");
}

/* ---- the filter ---- */

static void
filter_is(const char *addr, const char *want)
{
	char *f = (char *)0x1;

	assert_int_equal(psm_directory_filter(addr, &f), 0);
	assert_string_equal(f, want);
	free(f);
}

static void
test_filter_plain_address(void **state)
{
	filter_is("lena@example.org", "(mail=lena@example.org)");
}

static void
test_filter_escapes_specials(void **state)
{
	/* RFC 4515 section 3: '*' 2a, '(' 28, ')' 29, '\' 5c */
	filter_is("*)(uid=*@x", "(mail=\\2a\\29\\28uid=\\2a@x)");
	filter_is("a\\b@x", "(mail=a\\5cb@x)");
}

static void
test_filter_escapes_non_ascii(void **state)
{
	filter_is("j\xc3\xb6rg@example.org", "(mail=j\\c3\\b6rg@example.org)");
}

static void
test_filter_rejects_non_address(void **state)
{
	char *f = (char *)0x1;

	assert_int_equal(psm_directory_filter("", &f), PSM_ERR_USAGE);
	assert_null(f);
	f = (char *)0x1;
	assert_int_equal(psm_directory_filter("nobody", &f), PSM_ERR_USAGE);
	assert_null(f);
	f = (char *)0x1;
	assert_int_equal(psm_directory_filter("a@b\r\n(mail=*)", &f), PSM_ERR_USAGE);
	assert_null(f);
	assert_string_not_equal(psm_error_detail(), POISON_DETAIL);
}

/* ---- the set of directories ---- */

static void
test_directories_need_dn_and_password_together(void **state)
{
	static const char *const urls[] = { "ldap://h/dc=x" };
	psm_directory_params p = { 0 };
	psm_directories *d = (psm_directories *)0x1;

	p.bind_dn = "cn=reader,dc=x";
	assert_int_equal(psm_directories_new(urls, 1, &p, &d), PSM_ERR_USAGE);
	assert_null(d);
	p.bind_dn = NULL;
	p.password = "secret";
	p.password_len = 6;
	d = (psm_directories *)0x1;
	assert_int_equal(psm_directories_new(urls, 1, &p, &d), PSM_ERR_USAGE);
	assert_null(d);
}

static void
test_directories_bad_url_is_usage_error(void **state)
{
	static const char *const urls[] = { "ldap://h/dc=x", "ldap://h2" };
	psm_directories *d = (psm_directories *)0x1;

	assert_int_equal(psm_directories_new(urls, 2, NULL, &d), PSM_ERR_USAGE);
	assert_null(d);
	assert_non_null(strstr(psm_error_detail(), "ldap://h2"));
}

static void
test_directories_names_and_urls(void **state)
{
	static const char *const urls[] = { "ldap://a/dc=x", "ldaps://b:1636/dc=y" };
	psm_directory_params p = { 0 };
	psm_directories *d = NULL;

	p.bind_dn = "cn=reader,dc=x";
	p.password = "secret";
	p.password_len = 6;
	assert_int_equal(psm_directories_new(urls, 2, &p, &d), 0);
	assert_int_equal(psm_directories_count(d), 2);
	assert_string_equal(psm_directories_url(d, 1), "ldaps://b:1636/dc=y");
	assert_string_equal(psm_directories_names(d), "ldap://a/dc=x, ldaps://b:1636/dc=y");
	/* the password appears in nothing one could print */
	assert_null(strstr(psm_directories_names(d), "secret"));
	psm_directories_free(d);
	psm_directories_free(NULL);
}

/* ---- the store's cache of answers ---- */

static char tmpdir[2048];

static int
cache_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	assert_true(snprintf(tmpdir, sizeof(tmpdir), "%s/psm-dircache.XXXXXX", tmp) <
	            (int)sizeof(tmpdir));
	assert_non_null(mkdtemp(tmpdir));
	return setup(state);
}

static int
cache_teardown(void **state)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return teardown(state);
}

static X509 *
make_cert(const char *email)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_non_null(k);
	assert_non_null(x);
	assert_true(X509_NAME_add_entry_by_txt(n, "emailAddress", MBSTRING_ASC,
	                                       (const unsigned char *)email, -1, -1, 0));
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	return x;
}

static void
test_cache_keeps_answer_until_expiry(void **state)
{
	static const char *const src[] = { "ldap://a/dc=x", "ldap://b/dc=y" };
	STACK_OF(X509) *in = sk_X509_new_null(), *out = (STACK_OF(X509) *)0x1;
	char **sources = (char **)0x1;
	psm_store *st = NULL;
	int hit = -1;

	assert_int_equal(psm_store_open(tmpdir, &st), 0);
	sk_X509_push(in, make_cert("lena@example.org"));
	sk_X509_push(in, make_cert("lena@example.org"));
	assert_int_equal(psm_store_dircache_put(st, "Lena@Example.org", 2000, src, 2, in), 0);

	/* another spelling of the same address finds it */
	assert_int_equal(psm_store_dircache_get(st, "lena@example.org", 1999, &hit, &out, &sources), 0);
	assert_int_equal(hit, 1);
	assert_int_equal(sk_X509_num(out), 2);
	assert_int_equal(X509_cmp(sk_X509_value(out, 0), sk_X509_value(in, 0)), 0);
	assert_string_equal(sources[0], "ldap://a/dc=x");
	assert_string_equal(sources[1], "ldap://b/dc=y");
	assert_null(sources[2]);
	sk_X509_pop_free(out, X509_free);
	psm_store_dircache_sources_free(sources);

	/* expired: as if never cached */
	out = (STACK_OF(X509) *)0x1;
	sources = (char **)0x1;
	assert_int_equal(psm_store_dircache_get(st, "lena@example.org", 2000, &hit, &out, &sources), 0);
	assert_int_equal(hit, 0);
	assert_null(out);
	assert_null(sources);

	sk_X509_pop_free(in, X509_free);
	psm_store_free(st);
}

static void
test_cache_negative_answer(void **state)
{
	static const char *const src[] = { "ldap://a/dc=x" };
	STACK_OF(X509) *out = NULL;
	char **sources = NULL;
	psm_store *st = NULL;
	int hit = 0;

	assert_int_equal(psm_store_open(tmpdir, &st), 0);
	assert_int_equal(psm_store_dircache_put(st, "nina@example.org", 100, src, 1, NULL), 0);
	assert_int_equal(psm_store_dircache_get(st, "nina@example.org", 50, &hit, &out, &sources), 0);
	assert_int_equal(hit, 1);
	assert_int_equal(sk_X509_num(out), 0);
	assert_string_equal(sources[0], "ldap://a/dc=x");
	sk_X509_pop_free(out, X509_free);
	psm_store_dircache_sources_free(sources);
	/* nothing for someone else */
	assert_int_equal(psm_store_dircache_get(st, "olaf@example.org", 50, &hit, &out, &sources), 0);
	assert_int_equal(hit, 0);
	psm_store_free(st);
}

static void
test_cache_damaged_entry_is_a_miss(void **state)
{
	static const char *const src[] = { "ldap://a/dc=x" };
	STACK_OF(X509) *in = sk_X509_new_null(), *out = NULL;
	char **sources = NULL, path[4096], cmd[8192];
	psm_store *st = NULL;
	int hit = -1;

	assert_int_equal(psm_store_open(tmpdir, &st), 0);
	sk_X509_push(in, make_cert("olaf@example.org"));
	assert_int_equal(psm_store_dircache_put(st, "olaf@example.org", 5000, src, 1, in), 0);
	/* cut every entry in the middle of its certificate */
	snprintf(path, sizeof(path), "%s/directory", tmpdir);
	snprintf(cmd, sizeof(cmd), "for f in '%s'/*; do head -c 200 \"$f\" >\"$f.x\" && mv \"$f.x\" \"$f\"; done", path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(psm_store_dircache_get(st, "olaf@example.org", 10, &hit, &out, &sources), 0);
	assert_int_equal(hit, 0);
	assert_null(out);
	sk_X509_pop_free(in, X509_free);
	psm_store_free(st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define C(fn) cmocka_unit_test_setup_teardown(fn, cache_setup, cache_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_url_ldap_defaults),
		T(test_url_ldaps_default_port),
		T(test_url_port_and_percent_decoded_base),
		T(test_url_ipv6_literal),
		T(test_url_scopes),
		T(test_url_critical_starttls),
		T(test_url_noncritical_starttls_is_default),
		T(test_url_unknown_noncritical_extension_ignored),
		T(test_url_success_keeps_detail),

		T(test_url_rejects_other_scheme),
		T(test_url_rejects_missing_host),
		T(test_url_rejects_missing_base),
		T(test_url_rejects_bad_port),
		T(test_url_rejects_unclosed_ipv6),
		T(test_url_rejects_bad_dn),
		T(test_url_rejects_broken_escape),
		T(test_url_rejects_attributes),
		T(test_url_rejects_filter),
		T(test_url_rejects_bad_scope),
		T(test_url_rejects_unknown_critical_extension),
		T(test_url_rejects_starttls_on_ldaps),
		T(test_url_rejects_extra_part),
		T(test_url_rejects_space),

		T(test_filter_plain_address),
		T(test_filter_escapes_specials),
		T(test_filter_escapes_non_ascii),
		T(test_filter_rejects_non_address),

		T(test_directories_need_dn_and_password_together),
		T(test_directories_bad_url_is_usage_error),
		T(test_directories_names_and_urls),

		C(test_cache_keeps_answer_until_expiry),
		C(test_cache_negative_answer),
		C(test_cache_damaged_entry_is_a_miss),
	};

	return cmocka_run_group_tests_name("directory", tests, NULL, NULL);
}
