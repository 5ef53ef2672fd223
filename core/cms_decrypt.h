/* p11smime: decrypting a CMS EnvelopedData or AuthEnvelopedData as it
 * streams by.
 *
 * The RecipientInfos come first: a finder callback picks the private key
 * (on a token) whose certificate one of them names; the content key is
 * recovered with it (RSA key transport, PKCS#1 v1.5 or OAEP; ECDH where
 * the token computes only the shared secret and the host applies the
 * X9.63 KDF and unwraps), then the content is decrypted as it arrives and
 * handed to a sink. The sink sees plaintext before an AES-GCM tag is
 * checked at the very end: it must hold it back (a temporary file) until
 * psm_cms_decrypt_stream() returns 0.
 */
#ifndef P11SMIME_CMS_DECRYPT_H
#define P11SMIME_CMS_DECRYPT_H

#include <stddef.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cms_stream.h"
#include "encode.h"

/* Pick the key for one of hdr's RecipientInfos: *pkey and *cert stay
 * owned by the finder and valid until psm_cms_decrypt_stream() returns.
 * PSM_ERR_NOT_FOUND (with a detail) when no key matches. */
typedef int (*psm_key_finder_fn)(void *ud, CMS_ContentInfo *hdr, EVP_PKEY **pkey, X509 **cert);

typedef struct psm_decrypt_info {
	int authenticated;          /* AuthEnvelopedData whose tag checked */
	char cipher[32];            /* "aes-256-gcm", "aes-128-cbc", "des-ede3-cbc", ... */
	int legacy;                 /* 3DES or another cipher kept for old mail only */
	char key_transport[32];     /* "rsaEncryption", "rsaesOaep", "ecdh" */
} psm_decrypt_info;

int psm_cms_decrypt_stream(psm_pull_fn pull, void *pull_ud, psm_key_finder_fn find,
                           void *find_ud, psm_sink_fn sink, void *sink_ud,
                           psm_decrypt_info *info);

/* 1 when one of hdr's RecipientInfos names cert (issuer and serial, or
 * subject key identifier). */
int psm_cms_names_recipient(CMS_ContentInfo *hdr, X509 *cert);

/* One RecipientInfo (one per recipient key of a key agreement). */
typedef struct psm_rcpt_desc {
	char *id;                   /* "/O=.../CN=Some CA serial 1A2B" or "subject key id 01ab..." */
	char key_management[64];    /* rsaEncryption, rsaesOaep, dhSinglePass-stdDH-sha256kdf-scheme */
} psm_rcpt_desc;

int psm_cms_recipients_list(CMS_ContentInfo *hdr, psm_rcpt_desc **out, size_t *n);
void psm_rcpt_desc_free(psm_rcpt_desc *list, size_t n);

/* The content-encryption algorithm's name ("aes-256-gcm"); 0 or -1 when
 * it cannot be read ("unknown"). */
int psm_cms_content_cipher(CMS_ContentInfo *hdr, char *name, size_t len);

/* Whom hdr is encrypted for, one entry per RecipientInfo joined with
 * "; " ("CN=Bob,O=Example serial 0x1a2b" or "key id 01ab..."), malloc'd. */
char *psm_cms_recipients_describe(CMS_ContentInfo *hdr);

#endif
