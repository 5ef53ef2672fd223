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

/* 0 when cert may be encrypted to now: valid at the current time, RSA
 * with keyEncipherment or EC with keyAgreement (when it has a key usage),
 * emailProtection (when it has an extended key usage), chaining to
 * anchors through untrusted (may be NULL). Otherwise PSM_ERR_VERIFY with a
 * detail naming who ("who" is the address or file it came from). */
int psm_recipient_check(X509 *cert, const char *who, X509_STORE *anchors,
                        STACK_OF(X509) *untrusted);

/* 1 when cert could be used at all (usage and validity, no trust): to
 * choose among several certificates for one address. */
int psm_recipient_usable(X509 *cert);

/* What SMIMECapabilities (DER) announce: AES-GCM, and RSAES-OAEP.
 * PSM_ERR_MALFORMED when they do not parse. */
int psm_caps_parse(const unsigned char *der, size_t len, int *gcm, int *oaep);

#endif
