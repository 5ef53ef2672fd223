/* Unit tests for core/revocation.c: the policy, CRLs given and cached,
 * their issuer, signature and dates, --at, and the sentences. Keys,
 * certificates and CRLs are made in memory (EC P-256: fast); nothing is
 * fetched (the network side is tests/integration/revocation.sh). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "revocation.h"

#define DAY 86400
/* a CRL distribution point where nothing answers (port 1: refused) */
#define DEAD_DP "http://127.0.0.1:1/ca.crl"

struct pki {
	EVP_PKEY *ca_key, *other_key, *user_key;
	X509 *ca, *user, *user_dp;
	time_t now;
	char dir[4096];
};

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial,
          const char *dp)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_gmtime_adj(X509_getm_notBefore(x), -30 * DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), 30 * DAY);
	X509_set_pubkey(x, key);
	if (issuer == NULL) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	}
	if (dp != NULL)
		add_ext(x, issuer, NID_crl_distribution_points, dp);
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static int
setup(void **state)
{
	struct pki *k = calloc(1, sizeof(*k));
	const char *tmp;

	if (k == NULL)
		return -1;
	k->now = time(NULL);
	k->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->user_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->ca = make_cert("Test CA", k->ca_key, NULL, k->ca_key, 1, NULL);
	k->user = make_cert("User", k->user_key, k->ca, k->ca_key, 42, NULL);
	k->user_dp = make_cert("User DP", k->user_key, k->ca, k->ca_key, 43, "URI:" DEAD_DP);
	tmp = getenv("TMPDIR");
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (snprintf(k->dir, sizeof(k->dir), "%s/test_revocation.XXXXXX", tmp) >= (int)sizeof(k->dir) ||
	    mkdtemp(k->dir) == NULL)
		return -1;
	*state = k;
	return 0;
}

static int
teardown(void **state)
{
	struct pki *k = *state;
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
	if (system(cmd) != 0)
		return -1;
	EVP_PKEY_free(k->ca_key);
	EVP_PKEY_free(k->other_key);
	EVP_PKEY_free(k->user_key);
	X509_free(k->ca);
	X509_free(k->user);
	X509_free(k->user_dp);
	free(k);
	return 0;
}

/* A CRL by the CA (signed with key) from this_upd to next_upd, listing
 * serial (0: none) as revoked at revoked_at for reason (-1: none). */
static X509_CRL *
make_crl(struct pki *k, EVP_PKEY *key, time_t this_upd, time_t next_upd, long serial,
         time_t revoked_at, int reason)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();

	assert_non_null(crl);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(k->ca));
	ASN1_TIME_set(t, this_upd);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_set(t, next_upd);
	X509_CRL_set1_nextUpdate(crl, t);
	if (serial != 0) {
		X509_REVOKED *rev = X509_REVOKED_new();
		ASN1_INTEGER *sn = ASN1_INTEGER_new();

		ASN1_INTEGER_set(sn, serial);
		X509_REVOKED_set_serialNumber(rev, sn);
		ASN1_TIME_set(t, revoked_at);
		X509_REVOKED_set_revocationDate(rev, t);
		if (reason >= 0) {
			ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();

			ASN1_ENUMERATED_set(e, reason);
			X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, e, 0, 0);
			ASN1_ENUMERATED_free(e);
		}
		X509_CRL_add0_revoked(crl, rev);
		ASN1_INTEGER_free(sn);
	}
	ASN1_TIME_free(t);
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	return crl;
}

/* params with the one CRL given (NULL: none) */
static void
params(psm_revocation_params *p, int policy, STACK_OF(X509_CRL) **crls, X509_CRL *crl)
{
	memset(p, 0, sizeof(*p));
	p->policy = policy;
	*crls = NULL;
	if (crl != NULL) {
		*crls = sk_X509_CRL_new_null();
		sk_X509_CRL_push(*crls, crl);
	}
	p->crls = *crls;
}

static void
poison(psm_revocation_result *res)
{
	memset(res, 0xa5, sizeof(*res));
}

static void
test_revocation_policy_parse_takes_off_soft_hard(void **state)
{
	(void)state;
	assert_int_equal(psm_revocation_policy_parse("off"), PSM_REVOCATION_OFF);
	assert_int_equal(psm_revocation_policy_parse("soft"), PSM_REVOCATION_SOFT);
	assert_int_equal(psm_revocation_policy_parse("hard"), PSM_REVOCATION_HARD);
	assert_int_equal(psm_revocation_policy_parse("Hard"), PSM_ERR_USAGE);
	assert_int_equal(psm_revocation_policy_parse(""), PSM_ERR_USAGE);
	assert_non_null(strstr(psm_error_detail(), "off, soft or hard"));
}

static void
test_revocation_off_checks_nothing(void **state)
{
	struct pki *k = *state;
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	poison(&res);
	assert_int_equal(psm_revocation_check(k->user, k->ca, NULL, &res), 0);
	assert_int_equal(res.status, PSM_REV_OFF);
	assert_int_equal(res.source, PSM_REV_SRC_NONE);
	assert_int_equal(res.revoked_at, 0);
	assert_int_equal(res.reason, -1);
	params(&p, PSM_REVOCATION_OFF, &crls, NULL);
	poison(&res);
	assert_int_equal(psm_revocation_check(k->user_dp, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_OFF);
	assert_false(psm_revocation_fails(&p, &res));
	assert_string_equal(psm_revocation_status_name(res.status), "off");
}

static void
test_revocation_no_source_is_unknown_with_nothing_to_ask(void **state)
{
	struct pki *k = *state;
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_SOFT, &crls, NULL);
	poison(&res);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	assert_int_equal(res.sources, 0);
	assert_int_equal(res.depth, 0);
	assert_non_null(strstr(res.detail, "names no OCSP responder"));
	assert_false(psm_revocation_fails(&p, &res));
	p.policy = PSM_REVOCATION_HARD;
	assert_true(psm_revocation_fails(&p, &res));
}

static void
test_revocation_crl_lists_cert_revoked_with_date_and_reason(void **state)
{
	struct pki *k = *state;
	X509_CRL *crl = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 42, k->now - 3600, 1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;
	char buf[1024];

	params(&p, PSM_REVOCATION_SOFT, &crls, crl);
	poison(&res);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_REVOKED);
	assert_int_equal(res.source, PSM_REV_SRC_CRL);
	assert_int_equal(res.revoked_at, k->now - 3600);
	assert_int_equal(res.reason, 1);
	assert_string_equal(psm_revocation_reason_name(res.reason), "keyCompromise");
	assert_true(psm_revocation_fails(&p, &res));
	psm_revocation_explain(&res, "the signer's certificate", buf, sizeof(buf));
	assert_non_null(strstr(buf, "the signer's certificate was revoked on "));
	assert_non_null(strstr(buf, "(keyCompromise): listed on the CRL given with --crl"));
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

static void
test_revocation_crl_without_cert_is_good(void **state)
{
	struct pki *k = *state;
	X509_CRL *crl = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 7, k->now - 3600, -1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_HARD, &crls, crl);
	poison(&res);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_GOOD);
	assert_int_equal(res.source, PSM_REV_SRC_CRL);
	assert_int_equal(res.revoked_at, 0);
	assert_int_equal(res.sources, 1);
	assert_false(psm_revocation_fails(&p, &res));
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

static void
test_revocation_out_of_date_crl_is_unknown_not_good(void **state)
{
	struct pki *k = *state;
	X509_CRL *crl = make_crl(k, k->ca_key, k->now - 3 * DAY, k->now - DAY, 42, k->now - 4 * DAY, -1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_SOFT, &crls, crl);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	assert_int_equal(res.sources, 1);
	assert_non_null(strstr(res.detail, "out of date"));
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

static void
test_revocation_crl_from_the_future_is_unknown(void **state)
{
	struct pki *k = *state;
	X509_CRL *crl = make_crl(k, k->ca_key, k->now + DAY, k->now + 2 * DAY, 0, 0, -1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_SOFT, &crls, crl);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	assert_non_null(strstr(res.detail, "future"));
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

static void
test_revocation_crl_signed_by_another_key_is_not_believed(void **state)
{
	struct pki *k = *state;
	X509_CRL *crl = make_crl(k, k->other_key, k->now - DAY, k->now + DAY, 0, 0, -1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_SOFT, &crls, crl);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	assert_non_null(strstr(res.detail, "signature is not the issuer's"));
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

/* add the extension nid = value (OpenSSL's config syntax) to crl, and sign again */
static void
crl_add_ext(X509_CRL *crl, EVP_PKEY *key, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_CRL_add_ext(crl, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
}

static void
test_revocation_crl_out_of_scope_is_not_used(void **state)
{
	struct pki *k = *state;
	X509_CRL *delta = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 0, 0, -1);
	X509_CRL *ca_only = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 0, 0, -1);
	X509_CRL *users = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 0, 0, -1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	{
		ASN1_INTEGER *base = ASN1_INTEGER_new();

		ASN1_INTEGER_set(base, 1);
		assert_int_equal(X509_CRL_add1_ext_i2d(delta, NID_delta_crl, base, 1, 0), 1);
		assert_true(X509_CRL_sign(delta, k->ca_key, EVP_sha256()) > 0);
		ASN1_INTEGER_free(base);
	}
	crl_add_ext(ca_only, k->ca_key, NID_issuing_distribution_point, "critical,onlyCA:TRUE");
	crl_add_ext(users, k->ca_key, NID_issuing_distribution_point, "critical,onlyuser:TRUE");
	params(&p, PSM_REVOCATION_HARD, &crls, delta);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	assert_non_null(strstr(res.detail, "delta CRL"));
	sk_X509_CRL_set(crls, 0, ca_only);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	assert_non_null(strstr(res.detail, "scope"));
	sk_X509_CRL_set(crls, 0, users);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_GOOD);
	sk_X509_CRL_free(crls);
	X509_CRL_free(delta);
	X509_CRL_free(ca_only);
	X509_CRL_free(users);
}

static void
test_revocation_newest_of_several_crls_answers(void **state)
{
	struct pki *k = *state;
	X509_CRL *old = make_crl(k, k->ca_key, k->now - 2 * DAY, k->now + DAY, 0, 0, -1);
	X509_CRL *newer = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 42, k->now - DAY, 4);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_SOFT, &crls, old);
	sk_X509_CRL_push(crls, newer);
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_REVOKED);
	assert_string_equal(psm_revocation_reason_name(res.reason), "superseded");
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

static void
test_revocation_at_judges_the_revocation_date(void **state)
{
	struct pki *k = *state;
	X509_CRL *crl = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 42, k->now - 3600, -1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_HARD, &crls, crl);
	p.at = k->now - 2 * 3600;       /* before the revocation: good then */
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_GOOD);
	assert_non_null(strstr(res.detail, "after the time judged"));
	p.at = k->now - 1800;           /* after it */
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_REVOKED);
	assert_int_equal(res.reason, -1);
	assert_null(psm_revocation_reason_name(res.reason));
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

static void
test_revocation_at_takes_a_crl_current_then(void **state)
{
	struct pki *k = *state;
	/* out of date now, but current 3 days ago */
	X509_CRL *crl = make_crl(k, k->ca_key, k->now - 4 * DAY, k->now - 2 * DAY, 0, 0, -1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_HARD, &crls, crl);
	p.at = k->now - 3 * DAY;
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_GOOD);
	p.at = 0;
	assert_int_equal(psm_revocation_check(k->user, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

static void
write_cache(struct pki *k, X509_CRL *crl)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char path[4200];
	size_t i, n;
	BIO *b;

	SHA256((const unsigned char *)DEAD_DP, strlen(DEAD_DP), md);
	n = (size_t)snprintf(path, sizeof(path), "%s/", k->dir);
	for (i = 0; i < sizeof(md); i++)
		n += (size_t)snprintf(path + n, sizeof(path) - n, "%02x", md[i]);
	snprintf(path + n, sizeof(path) - n, ".crl");
	assert_non_null(b = BIO_new_file(path, "wb"));
	assert_int_equal(i2d_X509_CRL_bio(b, crl), 1);
	BIO_free(b);
}

static void
test_revocation_cached_crl_answers_until_next_update(void **state)
{
	struct pki *k = *state;
	X509_CRL *crl = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 43, k->now - 60, 5);
	X509_CRL *stale = make_crl(k, k->ca_key, k->now - 3 * DAY, k->now - DAY, 0, 0, -1);
	psm_revocation_params p;
	psm_revocation_result res;
	STACK_OF(X509_CRL) *crls;

	params(&p, PSM_REVOCATION_SOFT, &crls, NULL);
	p.cache_dir = k->dir;
	write_cache(k, crl);
	poison(&res);
	assert_int_equal(psm_revocation_check(k->user_dp, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_REVOKED);
	assert_non_null(strstr(res.detail, DEAD_DP " (cached)"));
	/* past its next update the cached copy is not used; the distribution
	 * point does not answer */
	write_cache(k, stale);
	assert_int_equal(psm_revocation_check(k->user_dp, k->ca, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	assert_int_equal(res.sources, 1);
	assert_non_null(strstr(res.detail, "CRL " DEAD_DP ": cannot connect"));
	X509_CRL_free(crl);
	X509_CRL_free(stale);
}

static void
test_revocation_chain_of_an_anchor_alone_is_good(void **state)
{
	struct pki *k = *state;
	STACK_OF(X509) *chain = sk_X509_new_null();
	STACK_OF(X509_CRL) *crls;
	psm_revocation_params p;
	psm_revocation_result res;

	params(&p, PSM_REVOCATION_HARD, &crls, NULL);
	sk_X509_push(chain, k->ca);
	assert_int_equal(psm_revocation_check_chain(chain, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_GOOD);
	sk_X509_push(chain, k->ca);     /* user -> ca: the user checked */
	sk_X509_set(chain, 0, k->user);
	assert_int_equal(psm_revocation_check_chain(chain, &p, &res), 0);
	assert_int_equal(res.status, PSM_REV_UNKNOWN);
	assert_int_equal(res.depth, 0);
	sk_X509_free(chain);
}

static void
test_crls_load_reads_pem_and_der_and_refuses_other(void **state)
{
	struct pki *k = *state;
	X509_CRL *crl = make_crl(k, k->ca_key, k->now - DAY, k->now + DAY, 0, 0, -1);
	STACK_OF(X509_CRL) *crls = NULL;
	char pem[4200], der[4200], txt[4200], none[4200];
	BIO *b;

	snprintf(pem, sizeof(pem), "%s/a.pem", k->dir);
	snprintf(der, sizeof(der), "%s/a.der", k->dir);
	snprintf(txt, sizeof(txt), "%s/a.txt", k->dir);
	snprintf(none, sizeof(none), "%s/missing", k->dir);
	b = BIO_new_file(pem, "w");
	PEM_write_bio_X509_CRL(b, crl);
	PEM_write_bio_X509_CRL(b, crl);
	BIO_free(b);
	b = BIO_new_file(der, "wb");
	i2d_X509_CRL_bio(b, crl);
	BIO_free(b);
	b = BIO_new_file(txt, "w");
	BIO_puts(b, "not a CRL\n");
	BIO_free(b);
	assert_int_equal(psm_crls_load(pem, &crls), 0);
	assert_int_equal(sk_X509_CRL_num(crls), 2);
	assert_int_equal(psm_crls_load(der, &crls), 0);
	assert_int_equal(sk_X509_CRL_num(crls), 3);
	assert_int_equal(psm_crls_load(txt, &crls), PSM_ERR_MALFORMED);
	assert_non_null(strstr(psm_error_detail(), "a.txt"));
	assert_int_equal(psm_crls_load(none, &crls), PSM_ERR_IO);
	assert_int_equal(sk_X509_CRL_num(crls), 3);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	X509_CRL_free(crl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_revocation_policy_parse_takes_off_soft_hard),
		cmocka_unit_test(test_revocation_off_checks_nothing),
		cmocka_unit_test(test_revocation_no_source_is_unknown_with_nothing_to_ask),
		cmocka_unit_test(test_revocation_crl_lists_cert_revoked_with_date_and_reason),
		cmocka_unit_test(test_revocation_crl_without_cert_is_good),
		cmocka_unit_test(test_revocation_out_of_date_crl_is_unknown_not_good),
		cmocka_unit_test(test_revocation_crl_from_the_future_is_unknown),
		cmocka_unit_test(test_revocation_crl_signed_by_another_key_is_not_believed),
		cmocka_unit_test(test_revocation_crl_out_of_scope_is_not_used),
		cmocka_unit_test(test_revocation_newest_of_several_crls_answers),
		cmocka_unit_test(test_revocation_at_judges_the_revocation_date),
		cmocka_unit_test(test_revocation_at_takes_a_crl_current_then),
		cmocka_unit_test(test_revocation_cached_crl_answers_until_next_update),
		cmocka_unit_test(test_revocation_chain_of_an_anchor_alone_is_good),
		cmocka_unit_test(test_crls_load_reads_pem_and_der_and_refuses_other),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
