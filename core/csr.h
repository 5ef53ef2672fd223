/* p11smime: what goes onto a token, read from files or asked of a CA.
 *
 * A person's key and certificates arrive in one of two ways: a PKCS#12
 * file from their CA (psm_p12_*), or a certificate the CA issued for a
 * PKCS#10 request made with a key generated on the token (psm_csr_*, and
 * psm_certfile_read() for what comes back). Nothing here touches a token:
 * tokens/provision.h writes what these functions read, and the request is
 * signed through the token key's EVP_PKEY (tokens/p11.h).
 */
#ifndef P11SMIME_CSR_H
#define P11SMIME_CSR_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pin.h"

/* The contents of a PKCS#12 file. */
typedef struct psm_p12 {
	EVP_PKEY *key;           /* the private key (software) */
	X509 *cert;              /* the certificate of that key */
	STACK_OF(X509) *others;  /* the file's other certificates (its chain); never NULL */
	char *friendly_name;     /* the certificate's friendlyName (UTF-8), or NULL */
} psm_p12;

/* Read the PKCS#12 file at path, decrypting it with the password from
 * pass (NULL: the file must have no password, or an empty one). The
 * password is wiped as soon as OpenSSL has used it. The legacy algorithms
 * older exports use (pbeWithSHA1And40BitRC2-CBC, 3DES, SHA-1 MAC) are read:
 * OpenSSL's "legacy" provider is loaded for the time of the call.
 *
 * Errors (with a detail): PSM_ERR_USAGE for a wrong password (the MAC does
 * not check, or the contents do not decrypt) or a missing one;
 * PSM_ERR_MALFORMED when the file is no PKCS#12, holds no private key, or
 * no certificate for its key; PSM_ERR_IO when it cannot be read; the pass
 * source's own errors (tokens/pin.h) unchanged. *out is freed with
 * psm_p12_free(), which wipes the key. */
int psm_p12_read(const char *path, psm_pin_source *pass, psm_p12 **out);
void psm_p12_free(psm_p12 *p12);

/* Every certificate in a file as a CA hands them out: PEM (one or more
 * CERTIFICATE blocks, or a PKCS7 block), DER X.509, or a DER PKCS#7
 * "certs-only" bundle (.p7b, .p7c). *out holds new references, in file
 * order; free with sk_X509_pop_free(*out, X509_free). PSM_ERR_MALFORMED
 * (with a detail) when the file holds none, PSM_ERR_IO when it cannot be
 * read. */
int psm_certfile_read(const char *path, STACK_OF(X509) **out);

/* What a certificate request asks for. */
typedef struct psm_csr_params {
	const char *email;       /* subject emailAddress and the rfc822Name SAN (ASCII) */
	const char *name;        /* subject CN (UTF-8); NULL: the address */
	int sign;                /* keyUsage digitalSignature */
	int encrypt;             /* keyUsage keyEncipherment (RSA) or keyAgreement (EC) */
} psm_csr_params;

/* A PKCS#10 request (RFC 2986) for key, in PEM, signed with key (for a
 * token key the signature is made on the token): subject CN and
 * emailAddress; extensionRequest with subjectAltName rfc822Name, a critical
 * keyUsage as p asks, and extendedKeyUsage emailProtection. Signed with
 * SHA-256 (SHA-384 for P-384, SHA-512 for P-521); the signature is checked
 * before it is returned. *pem (NUL-terminated, *pem_len bytes) is
 * malloc'd and the caller's. PSM_ERR_USAGE for an address or name that
 * cannot go into a certificate, PSM_ERR_KEY_USAGE when p asks for no usage
 * or key is neither RSA nor EC, PSM_ERR_TOKEN when the signature cannot be
 * made (the detail says why). */
int psm_csr_make(EVP_PKEY *key, const psm_csr_params *p, char **pem, size_t *pem_len);

#endif
