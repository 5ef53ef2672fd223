/* p11smime: completing a chain from the issuers' certificates that
 * certificates point at (Authority Information Access, caIssuers:
 * RFC 5280 section 4.2.2.1).
 *
 * A signer or recipient often sends, or is found with, only their own
 * certificate; the intermediate CA that issued it is then neither in the
 * message nor among the anchors. When the chain stops at a certificate
 * whose issuer is missing, its caIssuers URLs (http:// only, see http.h)
 * are fetched: a DER certificate, a PKCS#7 certs-only bundle (".p7c", DER
 * or BER), or PEM certificates. Only certificates named as the missing
 * issuer that actually signed the certificate are kept; they join the
 * untrusted certificates (never the anchors: the chain must still end at
 * a trust anchor) and the chain is built again. At most
 * PSM_AIA_MAX_FETCHES fetches per check.
 *
 * Cache: what was kept from a URL is written (to a temporary name, then
 * renamed) to cache_dir/<SHA-256 of the URL, hex>.der, DER certificates
 * one after the other, and used instead of fetching for PSM_AIA_CACHE_DAYS
 * after it was written, and never past the certificate's notAfter.
 */
#ifndef P11SMIME_AIA_H
#define P11SMIME_AIA_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#define PSM_AIA_MAX_FETCHES 4       /* network fetches per check */
#define PSM_AIA_CACHE_DAYS 7

typedef struct psm_aia_params {
	const char *cache_dir;      /* fetched issuers are kept here (created 0700
	                               when missing); NULL: no cache */
	int enabled;                /* 0: nothing is fetched nor read from the
	                               cache (--no-aia) */
	int timeout;                /* seconds per fetch; 0: 5 */
} psm_aia_params;

/* The issuers of cert that its caIssuers URLs give (the cache first, then
 * the network while *budget, the fetches left, is above 0; each fetch
 * takes one), appended to pool as new references unless pool has them
 * already. pool owns what is in it: free it with sk_X509_pop_free(pool,
 * X509_free). Returns how many were added; when 0, why says what went
 * wrong for a person ("the issuer could not be fetched from URL: reason",
 * several joined by "; "), or is "" when cert names no caIssuers URL or p
 * is NULL or disabled. PSM_ERR_NOMEM. Network and cache failures are never
 * errors. */
int psm_aia_complete(X509 *cert, const psm_aia_params *p, STACK_OF(X509) *pool, int *budget,
                     char *why, size_t whylen);

/* Verify cert's chain to anchors through untrusted (borrowed, may be
 * NULL), for purpose (X509_PURPOSE_*, 0: any) as of at (0: now). When
 * it fails because an issuer is missing and p enables it, the issuer is
 * completed with psm_aia_complete() and the check runs again, until it
 * succeeds, fails otherwise, or nothing more can be found.
 *
 * Returns 0 when the check ran: *chain is the verified chain (cert first,
 * the anchor last; free with sk_X509_pop_free(*chain, X509_free)) or NULL
 * when it did not verify, then *verr is the X509_V_ERR_* of the last try.
 * why gets the fetches that failed ("" when none did), to add to the
 * failure. PSM_ERR_NOMEM. */
int psm_aia_verify(X509_STORE *anchors, X509 *cert, STACK_OF(X509) *untrusted, int purpose,
                   time_t at, const psm_aia_params *p, STACK_OF(X509) **chain, int *verr,
                   char *why, size_t whylen);

/* 1 when verr says an issuer was not found (what caIssuers can help with). */
int psm_aia_missing_issuer(int verr);

#endif
