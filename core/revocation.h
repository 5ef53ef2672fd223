/* p11smime: is a certificate revoked? OCSP and CRLs.
 *
 * Order (RFC 5280 section 6.3, RFC 6960): OCSP first when the certificate
 * names a responder (its Authority Information Access), then CRLs: the
 * ones given (--crl), the cached copy of a distribution point's CRL, the
 * distribution point itself over HTTP. The first source that answers
 * decides; when none does, the status is "unknown" and the policy says
 * what that means (soft: a warning, hard: a failure). "Revoked" always
 * fails. A certificate that names no OCSP responder and no distribution
 * point, with no CRL of its issuer given, is "unknown" with sources 0: hard
 * fails it, soft takes it quietly (its CA offers nothing to check).
 *
 * Only what the certificate's issuer vouches for counts: a CRL must carry
 * the issuer's name and signature and be current (thisUpdate <= now <=
 * nextUpdate; an out-of-date CRL gives "unknown", not "good"); an OCSP
 * answer must be signed by the issuer or by a responder certificate the
 * issuer issued with id-kp-OCSPSigning, echo our nonce (when it carries
 * one) and be current too.
 *
 * Network: http:// only, through OpenSSL's HTTP client, 5 s per request;
 * the http_proxy / no_proxy environment is honoured except for loopback
 * addresses. Fetched CRLs are cached under cache_dir (one file per URL,
 * named by the URL's SHA-256, written to a temporary name and renamed)
 * and used until their nextUpdate.
 *
 * Judging a past time (at != 0): OCSP only tells the present, so it is not
 * asked; CRLs are: a certificate revoked before that time is revoked, one
 * revoked after it was good then.
 */
#ifndef P11SMIME_REVOCATION_H
#define P11SMIME_REVOCATION_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

/* policy */
enum {
	PSM_REVOCATION_OFF = 0,     /* never checked, nothing contacted */
	PSM_REVOCATION_SOFT = 1,    /* revoked fails, unknown warns (the default) */
	PSM_REVOCATION_HARD = 2     /* revoked and unknown fail */
};

/* status */
enum {
	PSM_REV_OFF = 0,            /* not checked */
	PSM_REV_GOOD = 1,
	PSM_REV_REVOKED = 2,
	PSM_REV_UNKNOWN = 3
};

/* source of the answer */
enum {
	PSM_REV_SRC_NONE = 0,
	PSM_REV_SRC_OCSP = 1,
	PSM_REV_SRC_CRL = 2
};

typedef struct psm_revocation_params {
	int policy;                 /* PSM_REVOCATION_* */
	STACK_OF(X509_CRL) *crls;   /* borrowed: CRLs given by the user, or NULL */
	const char *cache_dir;      /* fetched CRLs are kept here (created 0700
	                               when missing); NULL: no cache */
	time_t at;                  /* judge as of this time; 0: now (OCSP allowed) */
	int timeout;                /* seconds per network request; 0: 5 */
} psm_revocation_params;

typedef struct psm_revocation_result {
	int status;                 /* PSM_REV_* */
	int source;                 /* PSM_REV_SRC_* that answered */
	time_t revoked_at;          /* PSM_REV_REVOKED: when; else 0 */
	int reason;                 /* CRLReason (RFC 5280 5.3.1), -1 when none given */
	int depth;                  /* 0: the certificate itself, 1: its issuer, ... */
	int sources;                /* OCSP responders, distribution points and given
	                               CRLs that could have answered; 0: nothing to
	                               ask (unknown, but nothing failed either) */
	char detail[640];           /* one or two sentences: who answered, or why
	                               nobody did */
} psm_revocation_result;

/* Check cert, issued by issuer, under p (NULL: off). Returns 0 when the
 * check ran, whatever it found (look at res->status), or a psm_err for
 * a failure of our own (PSM_ERR_NOMEM). Network and cache problems are
 * never errors: they make the status unknown and are told in res->detail. */
int psm_revocation_check(X509 *cert, X509 *issuer, const psm_revocation_params *p,
                         psm_revocation_result *res);

/* Check a verified chain (chain[0] the end entity, each one issued by the
 * next, the last the trust anchor, which is not checked): chain[0] always,
 * each intermediate when it names an OCSP responder or a CRL distribution
 * point or a given CRL is from its issuer. res gets the worst answer
 * (revoked, then unknown, then good), with its depth. */
int psm_revocation_check_chain(STACK_OF(X509) *chain, const psm_revocation_params *p,
                               psm_revocation_result *res);

/* 1 when res makes the check fail under p: revoked, or unknown under hard. */
int psm_revocation_fails(const psm_revocation_params *p, const psm_revocation_result *res);

/* One sentence about res for a person, "what" naming the certificate
 * ("the signer's certificate"): "... was revoked on 2026-01-31T12:00:00Z
 * (keyCompromise): <detail>" or "could not check whether ... is revoked:
 * <detail>" or "... is not revoked: <detail>". Into buf; returns buf. */
const char *psm_revocation_explain(const psm_revocation_result *res, const char *what,
                                   char *buf, size_t len);

/* "good", "revoked", "unknown", "off" (static). */
const char *psm_revocation_status_name(int status);
/* "ocsp", "crl", or NULL for none (static). */
const char *psm_revocation_source_name(int source);
/* "keyCompromise", ... for a CRLReason, NULL for -1 (static). */
const char *psm_revocation_reason_name(int reason);

/* "off", "soft", "hard" -> PSM_REVOCATION_*; PSM_ERR_USAGE otherwise. */
int psm_revocation_policy_parse(const char *s);

/* For a command line: p->policy, when < 0 (no option given), from the
 * setting ("off", "soft", "hard"; NULL: soft), and the CRLs of the n files
 * appended to p->crls (see psm_crls_load; free them with
 * sk_X509_CRL_pop_free(p->crls, X509_CRL_free)). */
int psm_revocation_params_load(psm_revocation_params *p, const char *setting,
                               const char *const *crl_files, size_t n);

/* Append the CRLs in the file at path (PEM, one or more, or one DER) to
 * *crls, creating the stack when *crls is NULL. PSM_ERR_IO when the file
 * cannot be read, PSM_ERR_MALFORMED when it holds no CRL; the detail
 * names the file. Free with sk_X509_CRL_pop_free(*crls, X509_CRL_free). */
int psm_crls_load(const char *path, STACK_OF(X509_CRL) **crls);

#endif
