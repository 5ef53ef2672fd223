/* p11smime: streaming CMS decryption (see cms_decrypt.h). */
#include "config.h"

#include "cms_decrypt.h"
#include "certinfo.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#define OUT_CHUNK 65536

struct dec {
	psm_key_finder_fn find;
	void *find_ud;
	psm_sink_fn sink;
	void *sink_ud;
	psm_decrypt_info *info;
	CMS_ContentInfo *hdr;
	BIO *cipher_bio;            /* CMS_dataInit's chain: holds the context */
	EVP_CIPHER_CTX *ctx;        /* borrowed from cipher_bio */
	unsigned char out[OUT_CHUNK + 64];
};

int
psm_cms_names_recipient(CMS_ContentInfo *hdr, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(hdr);
	int i, j, found = 0;

	for (i = 0; !found && i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);

		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:
			found = CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0;
			break;
		case CMS_RECIPINFO_AGREE: {
			STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);

			for (j = 0; !found && j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
				found = CMS_RecipientEncryptedKey_cert_cmp(
				        sk_CMS_RecipientEncryptedKey_value(reks, j), cert) == 0;
			break;
		}
		default:
			break;
		}
	}
	ERR_clear_error();
	return found;
}

static char *
describe_id(ASN1_OCTET_STRING *keyid, X509_NAME *issuer, ASN1_INTEGER *serial)
{
	char name[512], *hex = NULL;
	BIGNUM *bn = NULL;

	if (keyid != NULL) {
		hex = psm_hex_encode(ASN1_STRING_get0_data(keyid), (size_t)ASN1_STRING_length(keyid));
		snprintf(name, sizeof(name), "subject key id %s", hex != NULL ? hex : "?");
		free(hex);
	} else if (issuer != NULL && serial != NULL) {
		char iss[300];
		char *ser = NULL;

		X509_NAME_oneline(issuer, iss, sizeof(iss));
		if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) != NULL)
			ser = BN_bn2hex(bn);
		snprintf(name, sizeof(name), "%s serial %s", iss, ser != NULL ? ser : "?");
		OPENSSL_free(ser);
		BN_free(bn);
	} else {
		snprintf(name, sizeof(name), "an unnamed recipient");
	}
	return strdup(name);
}

static int
rcpt_push(psm_rcpt_desc **list, size_t *n, char *id, const X509_ALGOR *alg)
{
	psm_rcpt_desc *g;
	const ASN1_OBJECT *obj = NULL;

	if (id == NULL || (g = realloc(*list, (*n + 1) * sizeof(*g))) == NULL) {
		free(id);
		return PSM_ERR_NOMEM;
	}
	*list = g;
	g[*n].id = id;
	g[*n].key_management[0] = '\0';
	if (alg != NULL) {
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
		OBJ_obj2txt(g[*n].key_management, sizeof(g[*n].key_management), obj, 0);
	}
	(*n)++;
	return 0;
}

int
psm_cms_recipients_list(CMS_ContentInfo *hdr, psm_rcpt_desc **out, size_t *nout)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(hdr);
	psm_rcpt_desc *list = NULL;
	size_t n = 0;
	int i, j, r = 0;

	for (i = 0; r == 0 && i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		ASN1_OCTET_STRING *keyid = NULL;
		X509_NAME *issuer = NULL;
		ASN1_INTEGER *serial = NULL;
		X509_ALGOR *alg = NULL;

		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS) {
			CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, &issuer, &serial);
			CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg);
			r = rcpt_push(&list, &n, describe_id(keyid, issuer, serial), alg);
		} else if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
			STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);

			CMS_RecipientInfo_kari_get0_alg(ri, &alg, NULL);
			for (j = 0; r == 0 && j < sk_CMS_RecipientEncryptedKey_num(reks); j++) {
				keyid = NULL;
				issuer = NULL;
				serial = NULL;
				CMS_RecipientEncryptedKey_get0_id(sk_CMS_RecipientEncryptedKey_value(reks, j),
				                                  &keyid, NULL, NULL, &issuer, &serial);
				r = rcpt_push(&list, &n, describe_id(keyid, issuer, serial), alg);
			}
		} else if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_KEK &&
		           CMS_RecipientInfo_kekri_get0_id(ri, &alg, &keyid, NULL, NULL, NULL)) {
			char *hex = psm_hex_encode(ASN1_STRING_get0_data(keyid),
			                           (size_t)ASN1_STRING_length(keyid)), *id = NULL;

			if (hex != NULL && (id = malloc(strlen(hex) + 32)) != NULL)
				sprintf(id, "a shared key (KEK id %s)", hex);
			free(hex);
			r = rcpt_push(&list, &n, id, alg);
		} else {
			r = rcpt_push(&list, &n, describe_id(NULL, NULL, NULL), NULL);
		}
	}
	ERR_clear_error();
	if (r < 0) {
		psm_rcpt_desc_free(list, n);
		return r;
	}
	*out = list;
	*nout = n;
	return 0;
}

void
psm_rcpt_desc_free(psm_rcpt_desc *list, size_t n)
{
	size_t i;

	for (i = 0; list != NULL && i < n; i++)
		free(list[i].id);
	free(list);
}

char *
psm_cms_recipients_describe(CMS_ContentInfo *hdr)
{
	psm_rcpt_desc *list = NULL;
	size_t n = 0, i, len = 0;
	char *acc = NULL, *g;

	if (psm_cms_recipients_list(hdr, &list, &n) < 0)
		return NULL;
	for (i = 0; i < n; i++) {
		size_t need = len + strlen(list[i].id) + 3;

		if ((g = realloc(acc, need)) == NULL)
			break;
		acc = g;
		snprintf(acc + len, need - len, "%s%s", len > 0 ? "; " : "", list[i].id);
		len = strlen(acc);
	}
	psm_rcpt_desc_free(list, n);
	return acc != NULL ? acc : strdup("nobody (no recipients)");
}

/* Step over one DER element's header; with skip, over its content too. */
static int
der_step(const unsigned char **p, const unsigned char *end, int skip)
{
	long len;
	int tag, cls;

	if (ASN1_get_object(p, &len, &tag, &cls, end - *p) & 0x80)
		return -1;
	if (skip)
		*p += len;
	return *p <= end ? 0 : -1;
}

int
psm_cms_content_cipher(CMS_ContentInfo *hdr, char *name, size_t len)
{
	unsigned char *der = NULL;
	const unsigned char *p, *end;
	const ASN1_OBJECT *obj;
	X509_ALGOR *alg = NULL;
	int n = i2d_CMS_ContentInfo(hdr, &der), r = -1;

	snprintf(name, len, "unknown");
	if (n <= 0)
		goto out;
	p = der;
	end = der + n;
	/* ContentInfo { OID, [0] { (Auth)EnvelopedData { version,
	 * [0] originatorInfo?, recipientInfos, EncryptedContentInfo {
	 * contentType, contentEncryptionAlgorithm ... */
	if (der_step(&p, end, 0) < 0 || der_step(&p, end, 1) < 0 || der_step(&p, end, 0) < 0 ||
	    der_step(&p, end, 0) < 0 || der_step(&p, end, 1) < 0)
		goto out;
	if (p < end && *p == 0xa0 && der_step(&p, end, 1) < 0)
		goto out;
	if (der_step(&p, end, 1) < 0 || der_step(&p, end, 0) < 0 || der_step(&p, end, 1) < 0)
		goto out;
	if ((alg = d2i_X509_ALGOR(NULL, &p, end - p)) == NULL)
		goto out;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	if (OBJ_obj2nid(obj) != NID_undef)
		snprintf(name, len, "%s", OBJ_nid2ln(OBJ_obj2nid(obj)));
	else
		OBJ_obj2txt(name, (int)len, obj, 1);
	r = 0;
out:
	X509_ALGOR_free(alg);
	OPENSSL_free(der);
	ERR_clear_error();
	return r;
}

/* The key-management algorithm of the RecipientInfo that names cert. */
static void
note_transport(CMS_ContentInfo *hdr, X509 *cert, psm_decrypt_info *info)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(hdr);
	int i;

	for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		X509_ALGOR *alg = NULL;

		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
			snprintf(info->key_transport, sizeof(info->key_transport), "ecdh");
		} else if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
		           CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0) {
			const ASN1_OBJECT *obj;

			CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg);
			X509_ALGOR_get0(&obj, NULL, NULL, alg);
			OBJ_obj2txt(info->key_transport, sizeof(info->key_transport), obj, 0);
			return;
		}
	}
	ERR_clear_error();
}

static int
on_header(void *ud, const unsigned char *der, size_t len, int auth)
{
	struct dec *d = ud;
	const unsigned char *p = der;
	const EVP_CIPHER *c;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	int r;

	if ((d->hdr = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL) {
		psm_error_set("the enveloped-data cannot be read (its recipient information is "
		              "damaged); ask the sender to send it again");
		ERR_clear_error();
		return PSM_ERR_MALFORMED;
	}
	if ((r = d->find(d->find_ud, d->hdr, &pkey, &cert)) < 0)
		return r;
	note_transport(d->hdr, cert, d->info);
	/* the content key is decrypted on the token here */
	if (!CMS_decrypt_set1_pkey_and_peer(d->hdr, pkey, cert, NULL))
		return psm_error_from_openssl(PSM_ERR_VERIFY,
		                              "the content key cannot be decrypted with the token key");
	if ((d->cipher_bio = CMS_dataInit(d->hdr, NULL)) == NULL) {
		char name[64];

		psm_cms_content_cipher(d->hdr, name, sizeof(name));
		if (EVP_get_cipherbyname(name) == NULL) {
			ERR_clear_error();
			psm_error_set("the message is encrypted with %s, which p11smime does not "
			              "support (AES-GCM, AES-CBC and 3DES-CBC)", name);
			return PSM_ERR_MALFORMED;
		}
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "setting up the content decryption");
	}
	if (BIO_get_cipher_ctx(d->cipher_bio, &d->ctx) <= 0 || d->ctx == NULL) {
		psm_error_set("setting up the content decryption failed");
		return PSM_ERR_INTERNAL;
	}
	c = EVP_CIPHER_CTX_get0_cipher(d->ctx);
	snprintf(d->info->cipher, sizeof(d->info->cipher), "%s",
	         c != NULL ? EVP_CIPHER_get0_name(c) : "unknown");
	for (char *q = d->info->cipher; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	d->info->legacy = c == NULL || (EVP_CIPHER_get_mode(c) != EVP_CIPH_GCM_MODE &&
	                                EVP_CIPHER_get_block_size(c) < 16);
	if (auth && EVP_CIPHER_get_mode(c) != EVP_CIPH_GCM_MODE) {
		psm_error_set("the authenticated enveloped-data uses %s, which is not an "
		              "authenticated cipher", d->info->cipher);
		return PSM_ERR_MALFORMED;
	}
	return 0;
}

static int
on_content(void *ud, const void *buf, size_t len)
{
	struct dec *d = ud;
	const unsigned char *p = buf;
	int outl, r;

	while (len > 0) {
		size_t n = len < OUT_CHUNK ? len : OUT_CHUNK;

		if (!EVP_DecryptUpdate(d->ctx, d->out, &outl, p, (int)n))
			return psm_error_from_openssl(PSM_ERR_VERIFY, "decrypting the content");
		if (outl > 0 && (r = d->sink(d->sink_ud, d->out, (size_t)outl)) < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

int
psm_cms_decrypt_stream(psm_pull_fn pull, void *pull_ud, psm_key_finder_fn find,
                       void *find_ud, psm_sink_fn sink, void *sink_ud,
                       psm_decrypt_info *info)
{
	struct dec *d;
	unsigned char mac[16];
	size_t mac_len = sizeof(mac);
	int outl, r;

	memset(info, 0, sizeof(*info));
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return PSM_ERR_NOMEM;
	d->find = find;
	d->find_ud = find_ud;
	d->sink = sink;
	d->sink_ud = sink_ud;
	d->info = info;
	if ((r = psm_cms_envelope_stream(pull, pull_ud, on_header, d, on_content, d, mac,
	                                 &mac_len)) < 0)
		goto out;
	if (mac_len > 0 &&
	    EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_SET_TAG, (int)mac_len, mac) <= 0) {
		r = psm_error_from_openssl(PSM_ERR_MALFORMED, "the authentication tag");
		goto out;
	}
	if (!EVP_DecryptFinal_ex(d->ctx, d->out, &outl)) {
		ERR_clear_error();
		psm_error_set(mac_len > 0 ? "the message was changed after it was encrypted: its "
		                            "authentication tag does not match; nothing of it "
		                            "was written: ask the sender to send it again"
		                          : "the content does not decrypt (wrong key, or the "
		                            "message was damaged)");
		r = PSM_ERR_VERIFY;
		goto out;
	}
	if (outl > 0 && (r = sink(sink_ud, d->out, (size_t)outl)) < 0)
		goto out;
	info->authenticated = mac_len > 0;
	r = 0;
out:
	BIO_free_all(d->cipher_bio);
	CMS_ContentInfo_free(d->hdr);
	OPENSSL_cleanse(d->out, sizeof(d->out));
	free(d);
	return r;
}
