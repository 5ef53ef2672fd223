/* p11smime: streaming CMS SignedData (RFC 5652) for S/MIME (RFC 8551).
 *
 * The private key is any EVP_PKEY; with keys from tokens/ the signature is
 * made on the token. Content is written by the caller into a BIO as it
 * streams by (it is hashed, never kept); the signature is made at the end.
 */
#ifndef P11SMIME_CMS_SIGN_H
#define P11SMIME_CMS_SIGN_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct psm_sign_params {
	const char *digest;         /* "sha256", "sha384", "sha512"; NULL: by key */
	int pss;                    /* RSASSA-PSS instead of PKCS#1 v1.5 */
	int opaque;                 /* encapsulate the content (signed-data) */
	X509 *signer;               /* borrowed */
	STACK_OF(X509) *chain;      /* borrowed: certificates to include */
	X509 *enc_cert;             /* borrowed: S/MIME encryption key
	                               preference, or NULL */
} psm_sign_params;

typedef struct psm_cms_signer psm_cms_signer;

/* Start signing. Content written to *content is hashed; for an opaque
 * signature it is also encapsulated, and the BER goes to opaque_out as it
 * is produced (opaque_out must stay valid until psm_cms_signer_finish()).
 * *content is owned by the signer. Free with psm_cms_signer_free(). */
int psm_cms_signer_new(EVP_PKEY *key, const psm_sign_params *p, BIO *opaque_out,
                       psm_cms_signer **out, BIO **content);

/* Sign (the private-key operation happens here). For a detached
 * signature, the DER SignedData is written to sig_out; for an opaque one
 * the rest of the BER is written to opaque_out and sig_out is unused. */
int psm_cms_signer_finish(psm_cms_signer *s, BIO *sig_out);

/* The micalg parameter value for the digest ("sha-256"), static. */
const char *psm_cms_signer_micalg(const psm_cms_signer *s);

void psm_cms_signer_free(psm_cms_signer *s);

/* The digest a key signs with by default: SHA-256 for RSA and P-256,
 * SHA-384 for P-384, SHA-512 for P-521. Static string. */
const char *psm_default_digest(EVP_PKEY *pub);

#endif
