/* p11smime: judging a certificate to encrypt to, and what its owner can
 * read.
 *
 * Nothing is ever sent to fewer people than asked: a recipient whose
 * certificate is expired, not for e-mail encryption, or not trusted stops
 * the whole operation, with a line naming them.
 */
#ifndef P11SMIME_RECIPIENTS_H
#define P11SMIME_RECIPIENTS_H

#include <stddef.h>

#include <openssl/x509.h>

#include "aia.h"
#include "revocation.h"

/* 0 when cert may be encrypted to now: valid at the current time, RSA
 * with keyEncipherment or EC with keyAgreement (when it has a key usage),
 * emailProtection (when it has an extended key usage), chaining to
 * anchors through untrusted (may be NULL). Otherwise PSM_ERR_VERIFY with a
 * detail naming who ("who" is the address or file it came from). */
int psm_recipient_check(X509 *cert, const char *who, X509_STORE *anchors,
                        STACK_OF(X509) *untrusted);

/* psm_recipient_check, then the revocation of cert's chain under rp (NULL:
 * not checked): revoked, or unknown under --revocation hard, is
 * PSM_ERR_VERIFY with a detail naming who. *rev gets what was found (an
 * unknown status under soft is for the caller to warn about). */
int psm_recipient_check_revocation(X509 *cert, const char *who, X509_STORE *anchors,
                                   STACK_OF(X509) *untrusted, const psm_revocation_params *rp,
                                   psm_revocation_result *rev);

/* psm_recipient_check_revocation, with the chain completed from the AIA
 * caIssuers URLs of its certificates under aia (NULL: nothing fetched)
 * when an issuer is missing (see aia.h); a fetch that failed is told in
 * the detail. */
int psm_recipient_check_aia(X509 *cert, const char *who, X509_STORE *anchors,
                            STACK_OF(X509) *untrusted, const psm_revocation_params *rp,
                            const psm_aia_params *aia, psm_revocation_result *rev);

/* 1 when cert could be used at all (usage and validity, no trust): to
 * choose among several certificates for one address. */
int psm_recipient_usable(X509 *cert);

/* What SMIMECapabilities (DER) announce: AES-GCM, and RSAES-OAEP.
 * PSM_ERR_MALFORMED when they do not parse. */
int psm_caps_parse(const unsigned char *der, size_t len, int *gcm, int *oaep);

#endif
