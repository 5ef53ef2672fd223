/* p11smime: the certificates to send with a signature. */
#ifndef P11SMIME_CHAIN_H
#define P11SMIME_CHAIN_H

#include <openssl/x509.h>

/* The issuers of cert found in pool, in order, up to but not including a
 * self-signed root (RFC 8551 section 2.4.1: send the chain, the root is
 * the receiver's to have). *out holds new references; free it with
 * sk_X509_pop_free(*out, X509_free). Never fails for a missing issuer:
 * the chain just ends there. */
int psm_chain_build(X509 *cert, STACK_OF(X509) *pool, STACK_OF(X509) **out);

/* Read every certificate of a PEM file and append it to *pool (created
 * when NULL). PSM_ERR_USAGE with a detail when the file has none. */
int psm_chain_load_pem(const char *path, STACK_OF(X509) **pool);

#endif
