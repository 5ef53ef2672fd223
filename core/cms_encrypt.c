/* p11smime: streaming CMS (Auth)EnvelopedData (see cms_encrypt.h). */
#include "config.h"

#include "cms_encrypt.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

struct psm_cms_encryptor {
	CMS_ContentInfo *cms;
	BIO *out;                   /* the caller's */
	BIO *content;               /* buffer BIO on top of the BIO_new_CMS chain */
	int aead;
};

static const char *const ciphers[] = {
	"aes-256-gcm", "aes-128-gcm", "aes-256-cbc", "aes-128-cbc", NULL
};

int
psm_cipher_known(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && ciphers[i] != NULL; i++)
		if (strcmp(name, ciphers[i]) == 0)
			return 1;
	return 0;
}

int
psm_cipher_is_aead(const char *name)
{
	return name != NULL && strstr(name, "-gcm") != NULL;
}

/* ECDH: the X9.63 KDF with the hash that matches the curve (RFC 5753,
 * RFC 8551 section 2.7.1.2: dhSinglePass-stdDH-sha256kdf-scheme and up). */
static int
setup_kari(CMS_RecipientInfo *ri, X509 *cert)
{
	EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	const EVP_MD *md = EVP_PKEY_get_bits(pub) > 256 ? EVP_sha384() : EVP_sha256();

	if (pctx == NULL || EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, md) <= 0)
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "setting up ECDH key agreement");
	return 0;
}

static int
setup_oaep(CMS_RecipientInfo *ri)
{
	EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);

	if (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "setting up RSAES-OAEP");
	return 0;
}

static int
add_recipient(psm_cms_encryptor *e, const psm_recipient *rc)
{
	EVP_PKEY *pub = X509_get0_pubkey(rc->cert);
	CMS_RecipientInfo *ri;
	int type = pub != NULL ? EVP_PKEY_get_base_id(pub) : 0;
	char name[256];

	X509_NAME_oneline(X509_get_subject_name(rc->cert), name, sizeof(name));
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
		psm_error_set("cannot encrypt to %s: its key is neither RSA nor EC", name);
		return PSM_ERR_KEY_USAGE;
	}
	ri = CMS_add1_recipient_cert(e->cms, rc->cert, CMS_KEY_PARAM);
	if (ri == NULL)
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "adding a recipient");
	if (type == EVP_PKEY_EC)
		return setup_kari(ri, rc->cert);
	return rc->oaep ? setup_oaep(ri) : 0;
}

int
psm_cms_encryptor_new(const psm_encrypt_params *p, BIO *out, psm_cms_encryptor **eo,
                      BIO **content)
{
	const char *name = p->cipher != NULL ? p->cipher : "aes-256-gcm";
	psm_cms_encryptor *e = NULL;
	const EVP_CIPHER *cipher;
	BIO *cms_bio = NULL;
	size_t i;
	int r = PSM_ERR_INTERNAL;

	*eo = NULL;
	*content = NULL;
	if (!psm_cipher_known(name) || (cipher = EVP_get_cipherbyname(name)) == NULL) {
		psm_error_set("unknown cipher '%s'; use aes-256-gcm, aes-128-gcm, aes-256-cbc "
		              "or aes-128-cbc", name);
		return PSM_ERR_USAGE;
	}
	if (p->nrcpt == 0) {
		psm_error_set("no recipients to encrypt to");
		return PSM_ERR_USAGE;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return PSM_ERR_NOMEM;
	e->out = out;
	e->aead = psm_cipher_is_aead(name);
	e->cms = e->aead ? CMS_AuthEnvelopedData_create(cipher) : CMS_EnvelopedData_create(cipher);
	if (e->cms == NULL) {
		r = psm_error_from_openssl(PSM_ERR_CRYPTO, "starting the encryption");
		goto fail;
	}
	for (i = 0; i < p->nrcpt; i++)
		if ((r = add_recipient(e, &p->rcpt[i])) < 0)
			goto fail;
	/* the content key is made and encrypted to each recipient here */
	if ((cms_bio = BIO_new_CMS(out, e->cms)) == NULL) {
		r = psm_error_from_openssl(PSM_ERR_CRYPTO, "encrypting the content key");
		goto fail;
	}
	/* large writes make large BER pieces: buffer the small ones */
	if ((e->content = BIO_new(BIO_f_buffer())) == NULL ||
	    BIO_set_write_buffer_size(e->content, 65536) <= 0) {
		r = PSM_ERR_NOMEM;
		goto fail;
	}
	BIO_push(e->content, cms_bio);
	cms_bio = NULL;
	*content = e->content;
	*eo = e;
	return 0;
fail:
	if (cms_bio != NULL) {
		BIO *b = cms_bio, *next;

		while (b != NULL && b != out) {
			next = BIO_pop(b);
			BIO_free(b);
			b = next;
		}
	}
	psm_cms_encryptor_free(e);
	return r;
}

int
psm_cms_encryptor_finish(psm_cms_encryptor *e)
{
	if (BIO_flush(e->content) <= 0)
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "finishing the encryption");
	return 0;
}

const char *
psm_cms_encryptor_smime_type(const psm_cms_encryptor *e)
{
	return e->aead ? "authEnveloped-data" : "enveloped-data";
}

void
psm_cms_encryptor_free(psm_cms_encryptor *e)
{
	BIO *b, *next;

	if (e == NULL)
		return;
	/* the chain ends in the caller's BIO: free up to it */
	for (b = e->content; b != NULL && b != e->out; b = next) {
		next = BIO_pop(b);
		BIO_free(b);
	}
	CMS_ContentInfo_free(e->cms);
	free(e);
}
