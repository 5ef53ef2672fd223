/* p11smime: the tokens' side of encryption.
 *
 * Both look at the tokens without logging in: certificates are public,
 * and a PIN is spent only on the token whose key is then loaded.
 */
#ifndef P11SMIME_RECIPIENT_H
#define P11SMIME_RECIPIENT_H

#include <openssl/x509.h>

#include "p11.h"

/* Returns 1 when cert is the one wanted. */
typedef int (*psm_cert_match_fn)(void *ud, X509 *cert);

/* The key on the tokens (those token_uri matches; NULL: all) whose
 * certificate match() accepts and that may decrypt or derive (expired
 * certificates count: old mail must still open, so retired key-management
 * keys are found too). When keys on several tokens qualify, the PIN source
 * decides (a PIN source belongs to one token): a token that needs no PIN
 * first; with an interactive source the first token without PIN trouble
 * (its prompt names it); with a fixed one only the one token without PIN
 * trouble (a low count, a final try, locked), else PSM_ERR_AMBIGUOUS with a
 * detail asking for --token: nothing is tried on a guess. *uri_out (the
 * private key's pkcs11: URI, malloc'd) and *cert_out (X509_free it).
 * PSM_ERR_NOT_FOUND when no key matches. */
int psm_p11_find_decryption_key(psm_p11 *p11, const char *token_uri, psm_cert_match_fn match,
                                void *ud, char **uri_out, X509 **cert_out);

/* Every certificate on the tokens that carries email (rfc822Name or
 * emailAddress), whatever its usage or validity: the caller judges.
 * Free *out with sk_X509_pop_free(*out, X509_free). */
int psm_p11_find_encryption_certs(psm_p11 *p11, const char *email, STACK_OF(X509) **out);

#endif
