/* p11smime: issuers from Authority Information Access caIssuers (see aia.h). */
#include "config.h"

#include "aia.h"
#include "certinfo.h"
#include "error.h"
#include "http.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#define MAX_BYTES (1 << 20)         /* a fetched certificate or bundle */
#define MAX_URLS 4                  /* caIssuers URLs tried per certificate */
#define MAX_ROUNDS 8                /* chain rebuilt at most this often */

/* Append one sentence to why, joined by "; ". */
static void
note(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
note(char *why, size_t whylen, const char *fmt, ...)
{
	size_t n = strlen(why);
	va_list ap;

	if (n > 0 && n + 2 < whylen) {
		memcpy(why + n, "; ", 3);
		n += 2;
	}
	if (n + 1 >= whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why + n, whylen - n, fmt, ap);
	va_end(ap);
}

int
psm_aia_missing_issuer(int verr)
{
	return verr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	       verr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
}

/* The caIssuers URIs of cert (any scheme), or an empty stack. Free with
 * X509_email_free(). NULL: out of memory. */
static STACK_OF(OPENSSL_STRING) *
ca_issuers(X509 *cert)
{
	STACK_OF(OPENSSL_STRING) *out = sk_OPENSSL_STRING_new_null();
	AUTHORITY_INFO_ACCESS *info;
	int i;

	if (out == NULL)
		return NULL;
	info = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
	for (i = 0; i < sk_ACCESS_DESCRIPTION_num(info); i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(info, i);
		char *s;

		if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers || ad->location->type != GEN_URI)
			continue;
		s = OPENSSL_strndup((const char *)ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier),
		                    (size_t)ASN1_STRING_length(ad->location->d.uniformResourceIdentifier));
		if (s == NULL || !sk_OPENSSL_STRING_push(out, s)) {
			OPENSSL_free(s);
			X509_email_free(out);
			out = NULL;
			break;
		}
	}
	AUTHORITY_INFO_ACCESS_free(info);
	ERR_clear_error();
	return out;
}

/* Push a new reference to x onto sk; 0 or PSM_ERR_NOMEM. */
static int
push_ref(STACK_OF(X509) *sk, X509 *x)
{
	if (!X509_up_ref(x))
		return PSM_ERR_NOMEM;
	if (!sk_X509_push(sk, x)) {
		X509_free(x);
		return PSM_ERR_NOMEM;
	}
	return 0;
}

/* The certificates in what a caIssuers URL answered: one DER certificate,
 * a PKCS#7 SignedData (certs-only, DER or BER), or PEM (certificates or a
 * PKCS#7). An empty stack when none; NULL: out of memory. */
static STACK_OF(X509) *
parse_certs(const unsigned char *body, size_t len)
{
	STACK_OF(X509) *out = sk_X509_new_null();
	STACK_OF(X509_INFO) *infos = NULL;
	const unsigned char *q = body;
	PKCS7 *p7 = NULL;
	BIO *b = NULL;
	X509 *x;
	int i, ok = 1;

	if (out == NULL || len > LONG_MAX)
		return out;
	if ((x = d2i_X509(NULL, &q, (long)len)) != NULL) {
		if (!sk_X509_push(out, x)) {
			X509_free(x);
			ok = 0;
		}
		goto done;
	}
	q = body;
	if ((p7 = d2i_PKCS7(NULL, &q, (long)len)) == NULL &&
	    (b = BIO_new_mem_buf(body, (int)len)) != NULL) {
		/* PEM: certificates, else a PKCS7 block */
		infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
		for (i = 0; i < sk_X509_INFO_num(infos); i++) {
			X509_INFO *xi = sk_X509_INFO_value(infos, i);

			if (xi->x509 != NULL && push_ref(out, xi->x509) < 0)
				ok = 0;
		}
		if (sk_X509_num(out) == 0 && BIO_reset(b) == 0)
			p7 = PEM_read_bio_PKCS7(b, NULL, NULL, NULL);
	}
	if (p7 != NULL && PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
		for (i = 0; i < sk_X509_num(p7->d.sign->cert); i++)
			if (push_ref(out, sk_X509_value(p7->d.sign->cert, i)) < 0)
				ok = 0;
done:
	ERR_clear_error();
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	PKCS7_free(p7);
	BIO_free(b);
	if (!ok) {
		sk_X509_pop_free(out, X509_free);
		return NULL;
	}
	return out;
}

/* The certificates of cands named as cert's issuer that signed it, into
 * found (new references). Their number (or PSM_ERR_NOMEM); when 0, why
 * (a clause after "URL: ") says what was wrong with them. */
static int
issuers_of(X509 *cert, STACK_OF(X509) *cands, STACK_OF(X509) *found, char *why, size_t whylen)
{
	char name[256], issuer[256];
	int i, named = 0, n = 0;

	for (i = 0; i < sk_X509_num(cands); i++) {
		X509 *x = sk_X509_value(cands, i);

		if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(cert)) != 0)
			continue;
		named++;
		if (X509_verify(cert, X509_get0_pubkey(x)) != 1)
			continue;
		if (push_ref(found, x) < 0)
			return PSM_ERR_NOMEM;
		n++;
	}
	ERR_clear_error();
	if (n > 0)
		return n;
	psm_name_text(X509_get_issuer_name(cert), issuer, sizeof(issuer));
	if (named > 0)
		snprintf(why, whylen, "the certificate it serves is named %s but did not sign "
		         "this one (another key)", issuer);
	else if (sk_X509_num(cands) > 1)
		snprintf(why, whylen, "it serves %s and %d more, none of them the issuer %s",
		         psm_name_text(X509_get_subject_name(sk_X509_value(cands, 0)), name, sizeof(name)),
		         sk_X509_num(cands) - 1, issuer);
	else
		snprintf(why, whylen, "it serves %s, not the issuer %s",
		         psm_name_text(X509_get_subject_name(sk_X509_value(cands, 0)), name, sizeof(name)),
		         issuer);
	return 0;
}

/* ---- the cache ---- */

/* The certificates cached at path while fresh (written less than
 * PSM_AIA_CACHE_DAYS ago) and not expired; NULL when there is no usable
 * entry (or out of memory: the network is asked then). */
static STACK_OF(X509) *
cache_read(const char *path, time_t now)
{
	STACK_OF(X509) *out = NULL;
	struct stat st;
	BIO *b = NULL;
	X509 *x;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_mtime + (time_t)PSM_AIA_CACHE_DAYS * 86400 < now || st.st_mtime > now + 86400)
		return NULL;
	if ((b = BIO_new_file(path, "rb")) == NULL || (out = sk_X509_new_null()) == NULL)
		goto out;
	while ((x = d2i_X509_bio(b, NULL)) != NULL) {
		if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0) {
			X509_free(x);       /* expired: its issuer is asked again */
			continue;
		}
		if (!sk_X509_push(out, x)) {
			X509_free(x);
			break;
		}
	}
out:
	ERR_clear_error();
	BIO_free(b);
	if (sk_X509_num(out) <= 0) {
		sk_X509_pop_free(out, X509_free);
		out = NULL;
	}
	return out;
}

/* Keep certs for later: DER, one after the other (core/http.c writes
 * atomically). Failures only cost a later fetch. */
static void
cache_write(const char *dir, const char *path, STACK_OF(X509) *certs)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int i, ok = b != NULL;

	for (i = 0; ok && i < sk_X509_num(certs); i++)
		ok = i2d_X509_bio(b, sk_X509_value(certs, i)) == 1;
	if (ok && (n = BIO_get_mem_data(b, &data)) > 0)
		psm_http_cache_write(dir, path, data, (size_t)n);
	BIO_free(b);
	ERR_clear_error();
}

/* ---- fetching ---- */

/* cert's issuers from one caIssuers URL, added to pool: how many were
 * new, or PSM_ERR_NOMEM; a note in why when the URL gave none. */
static int
from_url(X509 *cert, const char *url, const psm_aia_params *p, STACK_OF(X509) *pool,
         int *budget, char *why, size_t whylen)
{
	STACK_OF(X509) *cands = NULL, *found = NULL;
	unsigned char *body = NULL;
	char *path = NULL, reason[600];
	size_t len = 0;
	int i, j, n = 0, r = PSM_ERR_NOMEM;

	for (i = 0; url[i] != '\0'; i++)
		if (url[i] <= ' ' || url[i] > '~' || i >= 1000) {
			/* never printed: it could hold terminal escapes */
			note(why, whylen, "a caIssuers URL that is not printable ASCII (or is "
			     "longer than 1000 characters) was not fetched");
			return 0;
		}
	if (strncasecmp(url, "http://", 7) != 0) {
		note(why, whylen, "the issuer could not be fetched from %s: only http:// URLs "
		     "are fetched", url);
		return 0;
	}
	if ((found = sk_X509_new_null()) == NULL ||
	    (p->cache_dir != NULL &&
	     (path = psm_http_cache_path(p->cache_dir, url, "der")) == NULL))
		goto out;
	if (path != NULL && (cands = cache_read(path, time(NULL))) != NULL) {
		if ((r = issuers_of(cert, cands, found, reason, sizeof(reason))) < 0)
			goto out;
		if (r > 0)
			goto add;
		/* another certificate's issuer at that URL, or a new one: ask */
		sk_X509_pop_free(cands, X509_free);
		cands = NULL;
	}
	if (*budget <= 0) {
		note(why, whylen, "the issuer was not fetched from %s: %d fetches are the most "
		     "for one check", url, PSM_AIA_MAX_FETCHES);
		r = 0;
		goto out;
	}
	(*budget)--;
	if ((r = psm_http_get(url, MAX_BYTES, p->timeout, &body, &len)) < 0) {
		if (r == PSM_ERR_NOMEM)
			goto out;
		note(why, whylen, "the issuer could not be fetched from %s: %s", url,
		     psm_error_detail());
		psm_error_clear();
		r = 0;
		goto out;
	}
	if ((cands = parse_certs(body, len)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	if (sk_X509_num(cands) == 0) {
		note(why, whylen, "the issuer could not be fetched from %s: the answer is not a "
		     "certificate (DER or PEM) or a PKCS#7 bundle", url);
		r = 0;
		goto out;
	}
	if ((r = issuers_of(cert, cands, found, reason, sizeof(reason))) <= 0) {
		if (r == 0)
			note(why, whylen, "the issuer could not be fetched from %s: %s", url, reason);
		goto out;
	}
	if (path != NULL)
		cache_write(p->cache_dir, path, found);
add:
	for (i = 0; i < sk_X509_num(found); i++) {
		X509 *x = sk_X509_value(found, i);

		for (j = 0; j < sk_X509_num(pool); j++)
			if (X509_cmp(sk_X509_value(pool, j), x) == 0)
				break;
		if (j < sk_X509_num(pool))
			continue;
		if ((r = push_ref(pool, x)) < 0)
			goto out;
		n++;
	}
	r = n;
out:
	ERR_clear_error();
	sk_X509_pop_free(cands, X509_free);
	sk_X509_pop_free(found, X509_free);
	free(body);
	free(path);
	return r;
}

int
psm_aia_complete(X509 *cert, const psm_aia_params *p, STACK_OF(X509) *pool, int *budget,
                 char *why, size_t whylen)
{
	STACK_OF(OPENSSL_STRING) *urls;
	int i, r = 0;

	if (whylen > 0)
		why[0] = '\0';
	if (p == NULL || !p->enabled)
		return 0;
	if ((urls = ca_issuers(cert)) == NULL)
		return PSM_ERR_NOMEM;
	for (i = 0; r == 0 && i < sk_OPENSSL_STRING_num(urls) && i < MAX_URLS; i++)
		r = from_url(cert, sk_OPENSSL_STRING_value(urls, i), p, pool, budget, why, whylen);
	X509_email_free(urls);
	if (r > 0 && whylen > 0)
		why[0] = '\0';  /* found: what failed before does not matter */
	return r;
}

int
psm_aia_verify(X509_STORE *anchors, X509 *cert, STACK_OF(X509) *untrusted, int purpose,
               time_t at, const psm_aia_params *p, STACK_OF(X509) **chain, int *verr,
               char *why, size_t whylen)
{
	STACK_OF(X509) *fetched = NULL, *all = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509 *missing;
	char more[600];
	int budget = PSM_AIA_MAX_FETCHES, round, i, r = PSM_ERR_NOMEM;

	*chain = NULL;
	*verr = X509_V_OK;
	if (whylen > 0)
		why[0] = '\0';
	if ((fetched = sk_X509_new_null()) == NULL)
		goto out;
	for (round = 0;; round++) {
		/* what the caller gave, then what was fetched */
		sk_X509_free(all);
		if ((all = untrusted != NULL ? sk_X509_dup(untrusted) : sk_X509_new_null()) == NULL)
			goto out;
		for (i = 0; i < sk_X509_num(fetched); i++)
			if (!sk_X509_push(all, sk_X509_value(fetched, i)))
				goto out;
		X509_STORE_CTX_free(ctx);
		if ((ctx = X509_STORE_CTX_new()) == NULL ||
		    !X509_STORE_CTX_init(ctx, anchors, cert, all))
			goto out;
		if (purpose != 0)
			X509_STORE_CTX_set_purpose(ctx, purpose);
		if (at != 0)
			X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), at);
		if (X509_verify_cert(ctx) == 1) {
			if ((*chain = X509_STORE_CTX_get1_chain(ctx)) == NULL)
				goto out;
			*verr = X509_V_OK;
			if (whylen > 0)
				why[0] = '\0';
			break;
		}
		*verr = X509_STORE_CTX_get_error(ctx);
		if (*verr == X509_V_OK)
			*verr = X509_V_ERR_UNSPECIFIED;
		if (p == NULL || !p->enabled || !psm_aia_missing_issuer(*verr) ||
		    round >= MAX_ROUNDS || (missing = X509_STORE_CTX_get_current_cert(ctx)) == NULL)
			break;
		if ((r = psm_aia_complete(missing, p, fetched, &budget, more, sizeof(more))) < 0)
			goto out;
		if (more[0] != '\0')
			note(why, whylen, "%s", more);
		if (r == 0)
			break;  /* nothing new: the check stands */
	}
	r = 0;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	sk_X509_free(all);
	sk_X509_pop_free(fetched, X509_free);
	return r;
}
