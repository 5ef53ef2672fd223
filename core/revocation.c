/* p11smime: revocation checks with OCSP and CRLs (see revocation.h). */
#include "config.h"

#include "revocation.h"
#include "certinfo.h"
#include "error.h"
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#define DEFAULT_TIMEOUT 5           /* seconds per request */
#define MAX_CRL_BYTES (16 << 20)    /* a fetched CRL */
#define MAX_OCSP_BYTES (1 << 20)    /* an OCSP response */
#define MAX_URLS 3                  /* tried per certificate and kind */
#define SKEW 300                    /* seconds of clock difference tolerated */

/* One certificate's check in progress. */
struct check {
	X509 *cert, *issuer;
	const psm_revocation_params *p;
	time_t now;                 /* the real time */
	time_t at;                  /* the time judged (now without --at) */
	int past;                   /* judging a past time: no OCSP */
	int timeout;
	char notes[512];            /* why sources did not answer */
};

static void
note(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(struct check *c, const char *fmt, ...)
{
	size_t n = strlen(c->notes);
	va_list ap;

	if (n > 0 && n + 2 < sizeof(c->notes)) {
		memcpy(c->notes + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(c->notes + n, sizeof(c->notes) - n, fmt, ap);
	va_end(ap);
}

/* snprintf for sentences that may be cut short */
static void
say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
answer(psm_revocation_result *res, int status, int source, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
answer(psm_revocation_result *res, int status, int source, const char *fmt, ...)
{
	va_list ap;

	res->status = status;
	res->source = source;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

static const char *
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

const char *
psm_revocation_status_name(int status)
{
	switch (status) {
	case PSM_REV_GOOD: return "good";
	case PSM_REV_REVOKED: return "revoked";
	case PSM_REV_UNKNOWN: return "unknown";
	default: return "off";
	}
}

const char *
psm_revocation_source_name(int source)
{
	switch (source) {
	case PSM_REV_SRC_OCSP: return "ocsp";
	case PSM_REV_SRC_CRL: return "crl";
	default: return NULL;
	}
}

const char *
psm_revocation_reason_name(int reason)
{
	static const char *const names[] = {
		"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
		"superseded", "cessationOfOperation", "certificateHold", NULL,
		"removeFromCRL", "privilegeWithdrawn", "aACompromise"
	};

	if (reason < 0)
		return NULL;
	if ((size_t)reason >= sizeof(names) / sizeof(names[0]) || names[reason] == NULL)
		return "an unknown reason";
	return names[reason];
}

int
psm_revocation_policy_parse(const char *s)
{
	if (strcmp(s, "off") == 0)
		return PSM_REVOCATION_OFF;
	if (strcmp(s, "soft") == 0)
		return PSM_REVOCATION_SOFT;
	if (strcmp(s, "hard") == 0)
		return PSM_REVOCATION_HARD;
	psm_error_set("--revocation must be off, soft or hard, not '%s'", s);
	return PSM_ERR_USAGE;
}

int
psm_revocation_fails(const psm_revocation_params *p, const psm_revocation_result *res)
{
	if (res->status == PSM_REV_REVOKED)
		return 1;
	return res->status == PSM_REV_UNKNOWN && p != NULL && p->policy == PSM_REVOCATION_HARD;
}

const char *
psm_revocation_explain(const psm_revocation_result *res, const char *what, char *buf,
                       size_t len)
{
	const char *reason = psm_revocation_reason_name(res->reason);
	char t[32];

	switch (res->status) {
	case PSM_REV_REVOKED:
		snprintf(buf, len, "%s was revoked on %s%s%s%s: %s", what,
		         fmt_time(res->revoked_at, t, sizeof(t)), reason != NULL ? " (" : "",
		         reason != NULL ? reason : "", reason != NULL ? ")" : "", res->detail);
		break;
	case PSM_REV_UNKNOWN:
		snprintf(buf, len, "could not check whether %s is revoked: %s", what, res->detail);
		break;
	case PSM_REV_GOOD:
		snprintf(buf, len, "%s is not revoked: %s", what, res->detail);
		break;
	default:
		snprintf(buf, len, "%s was not checked for revocation", what);
	}
	return buf;
}

/* ---- loading CRL files ---- */

int
psm_crls_load(const char *path, STACK_OF(X509_CRL) **crls)
{
	BIO *b = BIO_new_file(path, "rb");
	X509_CRL *crl;
	int n = 0, r = PSM_ERR_MALFORMED;

	if (b == NULL) {
		ERR_clear_error();
		psm_error_set("cannot read the CRL file %s: %s", path, strerror(errno));
		return PSM_ERR_IO;
	}
	if (*crls == NULL && (*crls = sk_X509_CRL_new_null()) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_CRL_push(*crls, crl)) {
			X509_CRL_free(crl);
			r = PSM_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	ERR_clear_error();
	if (n == 0 && BIO_reset(b) == 0 && (crl = d2i_X509_CRL_bio(b, NULL)) != NULL) {
		if (!sk_X509_CRL_push(*crls, crl)) {
			X509_CRL_free(crl);
			r = PSM_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (n > 0)
		r = 0;
	else
		psm_error_set("the file %s holds no CRL (PEM or DER expected)", path);
out:
	ERR_clear_error();
	BIO_free(b);
	return r;
}

int
psm_revocation_params_load(psm_revocation_params *p, const char *setting,
                           const char *const *crl_files, size_t n)
{
	size_t i;
	int r;

	if (p->policy < 0)
		p->policy = setting != NULL ? psm_revocation_policy_parse(setting) :
		            PSM_REVOCATION_SOFT;
	if (p->policy < 0)
		return p->policy;
	for (i = 0; i < n; i++)
		if ((r = psm_crls_load(crl_files[i], &p->crls)) < 0)
			return r;
	return 0;
}

/* ---- HTTP ---- */

/* GET url (req NULL) or POST req to it; the response body as a memory
 * BIO, or NULL with the reason in why (core/http.c). */
static BIO *
http_exchange(struct check *c, const char *url, BIO *req, const char *req_type,
              const char *resp_type, size_t max, char *why, size_t whylen)
{
	return psm_http_exchange(url, req, req_type, resp_type, max, c->timeout, why, whylen);
}

/* The http:// URLs of one kind in cert: OCSP responders (AIA) or CRL
 * distribution points (fullName URIs). Free with X509_email_free(). */
static STACK_OF(OPENSSL_STRING) *
cert_urls(X509 *cert, int ocsp)
{
	STACK_OF(OPENSSL_STRING) *out;
	STACK_OF(DIST_POINT) *dps;
	int i, j;

	if (ocsp)
		return X509_get1_ocsp(cert);
	if ((out = sk_OPENSSL_STRING_new_null()) == NULL)
		return NULL;
	dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
	for (i = 0; i < sk_DIST_POINT_num(dps); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

		if (dp->distpoint == NULL || dp->distpoint->type != 0)
			continue;   /* a nameRelativeToCRLIssuer: not a URL */
		for (j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
			char *s;

			if (gn->type != GEN_URI)
				continue;
			s = OPENSSL_strndup((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
			                    (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier));
			if (s == NULL || !sk_OPENSSL_STRING_push(out, s))
				OPENSSL_free(s);
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	ERR_clear_error();
	return out;
}

/* ---- OCSP (RFC 6960) ---- */

/* Does the response's ResponderID name x (byName or byKey)? */
static int
responder_is(OCSP_BASICRESP *bs, X509 *x)
{
	const ASN1_OCTET_STRING *key = NULL;
	const X509_NAME *name = NULL;
	unsigned char md[SHA_DIGEST_LENGTH];
	unsigned len = 0;

	if (!OCSP_resp_get0_id(bs, &key, &name))
		return 0;
	if (name != NULL)
		return X509_NAME_cmp(name, X509_get_subject_name(x)) == 0;
	return key != NULL && ASN1_STRING_length(key) == SHA_DIGEST_LENGTH &&
	       X509_pubkey_digest(x, EVP_sha1(), md, &len) && len == SHA_DIGEST_LENGTH &&
	       memcmp(ASN1_STRING_get0_data(key), md, len) == 0;
}

/* The certificate that signed the response, if the issuer authorised it:
 * the issuer itself, or a certificate it issued for OCSP signing
 * (RFC 6960 4.2.2.2), valid now. NULL with why otherwise. */
static X509 *
authorised_responder(struct check *c, OCSP_BASICRESP *bs, char *why, size_t whylen)
{
	const STACK_OF(X509) *certs = OCSP_resp_get0_certs(bs);
	X509 *x = NULL;
	char name[256];
	int i;

	if (responder_is(bs, c->issuer))
		return c->issuer;
	for (i = 0; i < sk_X509_num(certs); i++)
		if (responder_is(bs, sk_X509_value(certs, i))) {
			x = sk_X509_value(certs, i);
			break;
		}
	if (x == NULL) {
		say(why, whylen, "the response is signed by a responder that is neither the "
		         "issuer nor a certificate sent with it");
		return NULL;
	}
	psm_name_text(X509_get_subject_name(x), name, sizeof(name));
	if (X509_check_issued(c->issuer, x) != X509_V_OK ||
	    X509_verify(x, X509_get0_pubkey(c->issuer)) != 1) {
		say(why, whylen, "the response is signed by %s, which the certificate's "
		         "issuer did not issue (a wrong or foreign responder key)", name);
		x = NULL;
	} else if (!(X509_get_extension_flags(x) & EXFLAG_XKUSAGE) ||
	           !(X509_get_extended_key_usage(x) & XKU_OCSP_SIGN)) {
		say(why, whylen, "the response is signed by %s, which is not authorised for "
		         "OCSP signing (no id-kp-OCSPSigning)", name);
		x = NULL;
	} else if (X509_cmp_time(X509_get0_notBefore(x), &c->now) > 0 ||
	           X509_cmp_time(X509_get0_notAfter(x), &c->now) < 0) {
		say(why, whylen, "the responder certificate %s is not valid now", name);
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

/* Check the signed answer about id; 1 with res set when it tells good or
 * revoked, 0 with why otherwise. */
static int
ocsp_judge(struct check *c, OCSP_REQUEST *req, OCSP_RESPONSE *resp, OCSP_CERTID *id,
           const char *url, psm_revocation_result *res, char *why, size_t whylen)
{
	OCSP_BASICRESP *bs = NULL;
	STACK_OF(X509) *signer = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	X509 *x;
	int st, status = -1, reason = -1, nonce, ok = 0;

	if ((st = OCSP_response_status(resp)) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		say(why, whylen, "the responder answered '%s'", OCSP_response_status_str(st));
		goto out;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
		say(why, whylen, "the response is not a basic OCSP response");
		goto out;
	}
	if ((x = authorised_responder(c, bs, why, whylen)) == NULL)
		goto out;
	/* the signature, with exactly the certificate authorised above */
	if ((signer = sk_X509_new_null()) == NULL || !sk_X509_push(signer, x) ||
	    OCSP_basic_verify(bs, signer, NULL, OCSP_NOINTERN | OCSP_NOVERIFY) != 1) {
		say(why, whylen, "the response's signature does not verify");
		goto out;
	}
	nonce = OCSP_check_nonce(req, bs);
	if (nonce == 0 || nonce == 3) {
		/* 0: another nonce (an answer replayed from another request) */
		say(why, whylen, "the response does not carry our nonce (replayed?)");
		goto out;
	}
	if (!OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd)) {
		say(why, whylen, "the response says nothing about this certificate");
		goto out;
	}
	/* nonce -1: not echoed, as responders serving pre-made answers do;
	 * then nextUpdate bounds the answer's age, or, without one, a day */
	if (!OCSP_check_validity(thisupd, nextupd, SKEW,
	                         nonce != 1 && nextupd == NULL ? 86400 : -1)) {
		say(why, whylen, "the response is out of date or not yet valid");
		goto out;
	}
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		answer(res, PSM_REV_GOOD, PSM_REV_SRC_OCSP, "the OCSP responder %s says good", url);
		ok = 1;
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		answer(res, PSM_REV_REVOKED, PSM_REV_SRC_OCSP, "the OCSP responder %s says so", url);
		res->revoked_at = psm_asn1_time_to_time_t(rev);
		res->reason = reason;
		ok = 1;
		break;
	default:
		say(why, whylen, "the responder does not know the certificate");
	}
out:
	ERR_clear_error();
	sk_X509_free(signer);
	OCSP_BASICRESP_free(bs);
	return ok;
}

/* Ask the responder at url; 1 when it answered good or revoked. */
static int
ocsp_ask(struct check *c, const char *url, psm_revocation_result *res)
{
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL, *id2 = NULL;
	OCSP_RESPONSE *resp = NULL;
	BIO *reqbio = NULL, *respbio = NULL;
	char why[300] = "";
	int ok = 0;

	if ((req = OCSP_REQUEST_new()) == NULL ||
	    (id = OCSP_cert_to_id(EVP_sha1(), c->cert, c->issuer)) == NULL ||
	    (id2 = OCSP_CERTID_dup(id)) == NULL || OCSP_request_add0_id(req, id2) == NULL) {
		OCSP_CERTID_free(id2);
		say(why, sizeof(why), "cannot make the request");
		goto out;
	}
	if (!OCSP_request_add1_nonce(req, NULL, -1) ||
	    (reqbio = ASN1_item_i2d_mem_bio(ASN1_ITEM_rptr(OCSP_REQUEST),
	                                    (const ASN1_VALUE *)req)) == NULL) {
		say(why, sizeof(why), "cannot make the request");
		goto out;
	}
	if ((respbio = http_exchange(c, url, reqbio, "application/ocsp-request",
	                             "application/ocsp-response", MAX_OCSP_BYTES, why,
	                             sizeof(why))) == NULL)
		goto out;
	if ((resp = d2i_OCSP_RESPONSE_bio(respbio, NULL)) == NULL) {
		say(why, sizeof(why), "the answer is not an OCSP response");
		goto out;
	}
	ok = ocsp_judge(c, req, resp, id, url, res, why, sizeof(why));
out:
	if (!ok)
		note(c, "OCSP %s: %s", url, why);
	ERR_clear_error();
	OCSP_RESPONSE_free(resp);
	BIO_free(respbio);
	BIO_free(reqbio);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	return ok;
}

/* ---- CRLs (RFC 5280 5, 6.3) ---- */

/* 1 when crl is a complete CRL whose scope takes in c->cert (RFC 5280
 * 5.2.5): not a delta, not limited to some reasons, not indirect, for end
 * entities or CAs as c->cert is, and no critical extension unknown to us.
 * 0 with why. */
static int
crl_covers(struct check *c, X509_CRL *crl, char *why, size_t whylen)
{
	ISSUING_DIST_POINT *idp;
	int i, ok = 1, ca = X509_check_ca(c->cert) != 0;

	for (i = 0; i < X509_CRL_get_ext_count(crl); i++) {
		X509_EXTENSION *ext = X509_CRL_get_ext(crl, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

		if (nid == NID_delta_crl) {
			say(why, whylen, "it is a delta CRL");
			return 0;
		}
		if (X509_EXTENSION_get_critical(ext) && nid != NID_issuing_distribution_point &&
		    nid != NID_authority_key_identifier && nid != NID_crl_number) {
			say(why, whylen, "it has a critical extension p11smime does not know");
			return 0;
		}
	}
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, NULL, NULL);
	if (idp != NULL) {
		if (idp->onlysomereasons != NULL || idp->indirectCRL || idp->onlyattr ||
		    (idp->onlyuser && ca) || (idp->onlyCA && !ca)) {
			say(why, whylen, "its scope (issuing distribution point) leaves this "
			    "certificate out");
			ok = 0;
		}
		ISSUING_DIST_POINT_free(idp);
	}
	ERR_clear_error();
	return ok;
}

/* 1 when crl may answer for c->cert: from its issuer (name and signature),
 * complete (not a delta), current for the time judged. 0 with why. */
static int
crl_usable(struct check *c, X509_CRL *crl, char *why, size_t whylen)
{
	time_t thisupd, nextupd;
	char t[32];

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(c->issuer)) != 0) {
		say(why, whylen, "it is from another issuer");
		return 0;
	}
	if (X509_CRL_verify(crl, X509_get0_pubkey(c->issuer)) != 1) {
		ERR_clear_error();
		say(why, whylen, "its signature is not the issuer's");
		return 0;
	}
	if ((X509_get_key_usage(c->issuer) & KU_CRL_SIGN) == 0) {
		say(why, whylen, "the issuer may not sign CRLs (no cRLSign key usage)");
		return 0;
	}
	if (!crl_covers(c, crl, why, whylen))
		return 0;
	thisupd = psm_asn1_time_to_time_t(X509_CRL_get0_lastUpdate(crl));
	nextupd = psm_asn1_time_to_time_t(X509_CRL_get0_nextUpdate(crl));
	if (thisupd == 0 || thisupd > c->now + SKEW) {
		say(why, whylen, "it was issued in the future (%s)", fmt_time(thisupd, t, sizeof(t)));
		return 0;
	}
	if (nextupd == 0) {
		say(why, whylen, "it has no next update, so nothing says it is current");
		return 0;
	}
	/* judging a past time, a later CRL is as good: not revoked by its
	 * date means not revoked at the time judged */
	if (nextupd < c->at) {
		say(why, whylen, "it is out of date (its next update was %s)",
		         fmt_time(nextupd, t, sizeof(t)));
		return 0;
	}
	return 1;
}

/* Look c->cert up in a usable CRL; sets res (always answers). */
static void
crl_lookup(struct check *c, X509_CRL *crl, const char *where, psm_revocation_result *res)
{
	X509_REVOKED *rev = NULL;
	ASN1_ENUMERATED *reason;
	time_t when;
	char t[32], t2[32];

	if (X509_CRL_get0_by_cert(crl, &rev, c->cert) != 1 || rev == NULL) {
		answer(res, PSM_REV_GOOD, PSM_REV_SRC_CRL, "not on the CRL %s (issued %s, next "
		       "update %s)", where, fmt_time(psm_asn1_time_to_time_t(X509_CRL_get0_lastUpdate(crl)),
		       t, sizeof(t)), fmt_time(psm_asn1_time_to_time_t(X509_CRL_get0_nextUpdate(crl)),
		       t2, sizeof(t2)));
		ERR_clear_error();
		return;
	}
	when = psm_asn1_time_to_time_t(X509_REVOKED_get0_revocationDate(rev));
	if (c->past && when > c->at) {
		answer(res, PSM_REV_GOOD, PSM_REV_SRC_CRL, "the CRL %s lists it as revoked only "
		       "on %s, after the time judged", where, fmt_time(when, t, sizeof(t)));
		return;
	}
	answer(res, PSM_REV_REVOKED, PSM_REV_SRC_CRL, "listed on the CRL %s", where);
	res->revoked_at = when;
	reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
	res->reason = reason != NULL ? (int)ASN1_ENUMERATED_get(reason) : -1;
	ASN1_ENUMERATED_free(reason);
	ERR_clear_error();
}

/* The given CRLs: the newest usable one from the issuer answers. */
static int
crl_given(struct check *c, psm_revocation_result *res)
{
	X509_CRL *best = NULL;
	char why[160];
	int i, from_issuer = 0;

	for (i = 0; c->p->crls != NULL && i < sk_X509_CRL_num(c->p->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(c->p->crls, i);

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(c->issuer)) != 0)
			continue;
		from_issuer++;
		if (!crl_usable(c, crl, why, sizeof(why))) {
			note(c, "the CRL given (--crl) is not usable: %s", why);
			continue;
		}
		if (best == NULL || ASN1_TIME_compare(X509_CRL_get0_lastUpdate(crl),
		                                      X509_CRL_get0_lastUpdate(best)) > 0)
			best = crl;
	}
	if (best == NULL)
		return 0;
	crl_lookup(c, best, "given with --crl", res);
	return 1;
}

static X509_CRL *
cache_read(const char *path)
{
	BIO *b = BIO_new_file(path, "rb");
	X509_CRL *crl = b != NULL ? d2i_X509_CRL_bio(b, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	return crl;
}

/* Keep crl for others (core/http.c: written atomically). Failures only
 * cost a later fetch. */
static void
cache_write(const char *dir, const char *path, X509_CRL *crl)
{
	unsigned char *der = NULL;
	int len = i2d_X509_CRL(crl, &der);

	if (len > 0)
		psm_http_cache_write(dir, path, der, (size_t)len);
	OPENSSL_free(der);
	ERR_clear_error();
}

/* The CRL a distribution point served (a memory BIO): DER, as RFC 5280
 * 4.2.1.13 says, or PEM, which servers of CRLs made by `openssl ca
 * -gencrl` hand out too (the same as --crl reads). NULL: none. */
static X509_CRL *
crl_parse(BIO *body)
{
	const unsigned char *p;
	char *data;
	long n = BIO_get_mem_data(body, &data);
	X509_CRL *crl = NULL;
	BIO *pem;

	if (n <= 0)
		return NULL;
	p = (const unsigned char *)data;
	if ((crl = d2i_X509_CRL(NULL, &p, n)) == NULL &&
	    (pem = BIO_new_mem_buf(data, (int)n)) != NULL) {
		crl = PEM_read_bio_X509_CRL(pem, NULL, NULL, NULL);
		BIO_free(pem);
	}
	ERR_clear_error();
	return crl;
}

/* A distribution point: its cached CRL while current, else fetched (and
 * cached). 1 when a usable CRL answered. */
static int
crl_from_dp(struct check *c, const char *url, psm_revocation_result *res)
{
	const char *dir = c->p->cache_dir;
	char *path = dir != NULL ? psm_http_cache_path(dir, url, "crl") : NULL;
	char why[300], where[600];
	X509_CRL *crl = NULL;
	BIO *body = NULL;
	int ok = 0;

	if (path != NULL && (crl = cache_read(path)) != NULL) {
		if (crl_usable(c, crl, why, sizeof(why))) {
			snprintf(where, sizeof(where), "from %s (cached)", url);
			crl_lookup(c, crl, where, res);
			ok = 1;
			goto out;
		}
		X509_CRL_free(crl);     /* stale: fetch a new one */
		crl = NULL;
	}
	if ((body = http_exchange(c, url, NULL, NULL, NULL, MAX_CRL_BYTES, why,
	                          sizeof(why))) == NULL) {
		note(c, "CRL %s: %s", url, why);
		goto out;
	}
	if ((crl = crl_parse(body)) == NULL) {
		note(c, "CRL %s: the answer is not a CRL (DER or PEM)", url);
		goto out;
	}
	if (!crl_usable(c, crl, why, sizeof(why))) {
		note(c, "CRL %s: %s", url, why);
		goto out;
	}
	if (path != NULL)
		cache_write(dir, path, crl);
	snprintf(where, sizeof(where), "from %s", url);
	crl_lookup(c, crl, where, res);
	ok = 1;
out:
	ERR_clear_error();
	BIO_free(body);
	X509_CRL_free(crl);
	free(path);
	return ok;
}

/* ---- the check ---- */

/* How many sources could say whether x (issued by issuer) is revoked:
 * OCSP responders (*n_ocsp), CRL distribution points (*n_dp), and CRLs
 * from the issuer among those given. */
static int
count_sources(X509 *x, X509 *issuer, const psm_revocation_params *p, int *n_ocsp, int *n_dp)
{
	STACK_OF(OPENSSL_STRING) *u;
	int i, n = 0;

	for (i = 0; p->crls != NULL && i < sk_X509_CRL_num(p->crls); i++)
		if (X509_NAME_cmp(X509_CRL_get_issuer(sk_X509_CRL_value(p->crls, i)),
		                  X509_get_subject_name(issuer)) == 0)
			n++;
	u = cert_urls(x, 1);
	*n_ocsp = sk_OPENSSL_STRING_num(u) > 0 ? sk_OPENSSL_STRING_num(u) : 0;
	X509_email_free(u);
	u = cert_urls(x, 0);
	*n_dp = sk_OPENSSL_STRING_num(u) > 0 ? sk_OPENSSL_STRING_num(u) : 0;
	X509_email_free(u);
	return n + *n_ocsp + *n_dp;
}

static int
try_urls(struct check *c, int ocsp, psm_revocation_result *res)
{
	STACK_OF(OPENSSL_STRING) *urls = cert_urls(c->cert, ocsp);
	int i, ok = 0;

	for (i = 0; !ok && i < sk_OPENSSL_STRING_num(urls) && i < MAX_URLS; i++) {
		const char *url = sk_OPENSSL_STRING_value(urls, i);

		ok = ocsp ? ocsp_ask(c, url, res) : crl_from_dp(c, url, res);
	}
	X509_email_free(urls);
	return ok;
}

int
psm_revocation_check(X509 *cert, X509 *issuer, const psm_revocation_params *p,
                     psm_revocation_result *res)
{
	struct check c;
	int n_ocsp, n_dp;

	memset(res, 0, sizeof(*res));
	res->reason = -1;
	if (p == NULL || p->policy == PSM_REVOCATION_OFF) {
		answer(res, PSM_REV_OFF, PSM_REV_SRC_NONE, "not checked (--revocation off)");
		return 0;
	}
	memset(&c, 0, sizeof(c));
	c.cert = cert;
	c.issuer = issuer;
	c.p = p;
	c.now = time(NULL);
	c.past = p->at != 0;
	c.at = c.past ? p->at : c.now;
	c.timeout = p->timeout > 0 ? p->timeout : DEFAULT_TIMEOUT;

	res->sources = count_sources(cert, issuer, p, &n_ocsp, &n_dp);
	if (n_ocsp > 0 && c.past)
		note(&c, "OCSP not asked: it tells only the present, and --at judges another time "
		     "(CRLs can)");
	else if (n_ocsp > 0 && try_urls(&c, 1, res))
		return 0;
	if (crl_given(&c, res) || try_urls(&c, 0, res))
		goto answered;
	if (res->sources == 0)
		note(&c, "the certificate names no OCSP responder and no CRL distribution point, "
		     "and no CRL from its issuer was given (--crl)");
	answer(res, PSM_REV_UNKNOWN, PSM_REV_SRC_NONE, "%s", c.notes);
	return 0;
answered:
	if (c.notes[0] != '\0' && res->status == PSM_REV_GOOD) {
		size_t n = strlen(res->detail);

		snprintf(res->detail + n, sizeof(res->detail) - n, " (%s)", c.notes);
	}
	return 0;
}

/* revoked, then unknown (a source that failed before none to ask), then good */
static int
rank(const psm_revocation_result *r)
{
	int base = r->status == PSM_REV_REVOKED ? 3 : r->status == PSM_REV_UNKNOWN ? 2 :
	           r->status == PSM_REV_GOOD ? 1 : 0;

	return base * 2 + (r->sources > 0);
}

int
psm_revocation_check_chain(STACK_OF(X509) *chain, const psm_revocation_params *p,
                           psm_revocation_result *res)
{
	psm_revocation_result ca;
	char subject[256], detail[sizeof(ca.detail)];
	int i, n = sk_X509_num(chain), r;

	memset(res, 0, sizeof(*res));
	res->reason = -1;
	if (p == NULL || p->policy == PSM_REVOCATION_OFF || n < 1)
		return psm_revocation_check(NULL, NULL, NULL, res);
	if (n == 1) {
		answer(res, PSM_REV_GOOD, PSM_REV_SRC_NONE, "the certificate is itself a trust "
		       "anchor, which revocation does not apply to");
		return 0;
	}
	if ((r = psm_revocation_check(sk_X509_value(chain, 0), sk_X509_value(chain, 1), p, res)) < 0)
		return r;
	for (i = 1; i + 1 < n; i++) {
		X509 *x = sk_X509_value(chain, i), *issuer = sk_X509_value(chain, i + 1);
		int n_ocsp, n_dp;

		if (count_sources(x, issuer, p, &n_ocsp, &n_dp) == 0)
			continue;   /* intermediates are checked when they can be */
		if ((r = psm_revocation_check(x, issuer, p, &ca)) < 0)
			return r;
		if (rank(&ca) <= rank(res))
			continue;
		psm_name_text(X509_get_subject_name(x), subject, sizeof(subject));
		say(detail, sizeof(detail), "the CA certificate %s: %s", subject, ca.detail);
		*res = ca;
		memcpy(res->detail, detail, sizeof(res->detail));
		res->depth = i;
	}
	return 0;
}
