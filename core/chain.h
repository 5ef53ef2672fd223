/* p11smime: the certificates to send with a signature. */
#ifndef P11SMIME_CHAIN_H
#define P11SMIME_CHAIN_H

#include <stddef.h>

#include <openssl/x509.h>

#include "aia.h"

/* The issuers of cert found in pool, in order, up to but not including a
 * self-signed root (RFC 8551 section 2.4.1: send the chain, the root is
 * the receiver's to have). *out holds new references; free it with
 * sk_X509_pop_free(*out, X509_free). Never fails for a missing issuer:
 * the chain just ends there. */
int psm_chain_build(X509 *cert, STACK_OF(X509) *pool, STACK_OF(X509) **out);

/* Read every certificate of a PEM file and append it to *pool (created
 * when NULL). PSM_ERR_IO with a detail when the file cannot be opened,
 * PSM_ERR_USAGE with a detail when it has no certificate. */
int psm_chain_load_pem(const char *path, STACK_OF(X509) **pool);

/* The chain to send with a signature by signer, completed the way a
 * verifier completes one: from *pool (the token's CA certificates and
 * --certfile; created when NULL, owns what is added), then, while the
 * chain does not reach a root, what more(more_ud, pool) adds (the user's
 * store; may be NULL), then the issuers the certificates' AIA caIssuers
 * URLs give (aia, may be NULL or disabled). The chain reaches a root when
 * its top is self-signed or its issuer is in pool or among anchors (may
 * be NULL); the root itself is never in *chain. When it does not,
 * missing gets a sentence naming the issuer no source had ("" when
 * complete) and *chain still holds what was found. */
int psm_chain_for_signer(X509 *signer, STACK_OF(X509) **pool, X509_STORE *anchors,
                         int (*more)(void *ud, STACK_OF(X509) **pool), void *more_ud,
                         const psm_aia_params *aia, STACK_OF(X509) **chain, char *missing,
                         size_t missing_len);

#endif
