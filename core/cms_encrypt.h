/* p11smime: streaming CMS EnvelopedData and AuthEnvelopedData.
 *
 * Encryption needs no secret: the content key is made here, the content
 * is encrypted as it streams by, and the key is encrypted to each
 * recipient's certificate (RSA key transport, PKCS#1 v1.5 or RSAES-OAEP;
 * ECDH key agreement, RFC 5753 dhSinglePass-stdDH with the X9.63 KDF and
 * AES key wrap). AES-GCM makes an AuthEnvelopedData (RFC 5083, 5084).
 */
#ifndef P11SMIME_CMS_ENCRYPT_H
#define P11SMIME_CMS_ENCRYPT_H

#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

typedef struct psm_recipient {
	X509 *cert;                 /* borrowed */
	int oaep;                   /* RSA: RSAES-OAEP (SHA-256) instead of PKCS#1 v1.5 */
} psm_recipient;

typedef struct psm_encrypt_params {
	const char *cipher;         /* aes-256-gcm (NULL), aes-128-gcm, aes-256-cbc, aes-128-cbc */
	const psm_recipient *rcpt;
	size_t nrcpt;
} psm_encrypt_params;

/* 1 when name is a content cipher we encrypt with; 0 otherwise. */
int psm_cipher_known(const char *name);
/* 1 for the authenticated (GCM) ciphers. */
int psm_cipher_is_aead(const char *name);

typedef struct psm_cms_encryptor psm_cms_encryptor;

/* Start encrypting: the BER goes to out as it is produced (out must stay
 * valid until psm_cms_encryptor_finish()); content written to *content
 * (owned by the encryptor) is encrypted. */
int psm_cms_encryptor_new(const psm_encrypt_params *p, BIO *out, psm_cms_encryptor **e,
                          BIO **content);

/* Finish: the last block, the tag and the trailer go to out. */
int psm_cms_encryptor_finish(psm_cms_encryptor *e);

/* "authEnveloped-data" or "enveloped-data" (the smime-type parameter). */
const char *psm_cms_encryptor_smime_type(const psm_cms_encryptor *e);

void psm_cms_encryptor_free(psm_cms_encryptor *e);

#endif
