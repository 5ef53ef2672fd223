/* p11smime: streaming CMS SignedData with the attributes S/MIME clients
 * expect (RFC 8551 section 2.5): contentType, messageDigest, signingTime,
 * SMIMECapabilities, ESS signingCertificateV2 (RFC 5035) and, when the
 * user has a separate key-management certificate, the S/MIME encryption
 * key preference. */
#include "config.h"

#include "cms_sign.h"
#include "error.h"

#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

struct psm_cms_signer {
	CMS_ContentInfo *cms;
	BIO *content;               /* CMS_dataInit chain or BIO_new_CMS */
	BIO *opaque_out;            /* the caller's BIO at the end of the chain */
	int opaque;
	const char *micalg;
};

const char *
psm_default_digest(EVP_PKEY *pub)
{
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
		int bits = EVP_PKEY_get_bits(pub);

		if (bits > 384)
			return "sha512";
		if (bits > 256)
			return "sha384";
	}
	return "sha256";
}

static const char *
micalg_of(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha256: return "sha-256";
	case NID_sha384: return "sha-384";
	case NID_sha512: return "sha-512";
	case NID_sha224: return "sha-224";
	case NID_sha1: return "sha-1";
	default: return "unknown";
	}
}

/* What we can decrypt, strongest first (RFC 8551 section 2.5.2). */
static int
add_capabilities(CMS_SignerInfo *si, EVP_PKEY *pub)
{
	STACK_OF(X509_ALGOR) *caps = NULL;
	int ok;

	ok = CMS_add_simple_smimecap(&caps, NID_aes_256_gcm, -1) &&
	     CMS_add_simple_smimecap(&caps, NID_aes_128_gcm, -1) &&
	     CMS_add_simple_smimecap(&caps, NID_aes_256_cbc, -1) &&
	     CMS_add_simple_smimecap(&caps, NID_aes_128_cbc, -1) &&
	     (EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA ||
	      CMS_add_simple_smimecap(&caps, NID_rsaesOaep, -1)) &&
	     CMS_add_smimecap(si, caps);
	sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
	return ok ? 0 : psm_error_from_openssl(PSM_ERR_CRYPTO, "adding SMIMECapabilities");
}

/* ESS signingCertificateV2 (RFC 5035): binds the signer's certificate. */
static int
add_signing_cert(CMS_SignerInfo *si, X509 *signer)
{
	ESS_SIGNING_CERT_V2 *sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), signer,
	                                                            NULL, 0);
	unsigned char *der = NULL;
	int len, ok = 0;

	if (sc != NULL && (len = i2d_ESS_SIGNING_CERT_V2(sc, &der)) > 0)
		ok = CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2,
		                                 V_ASN1_SEQUENCE, der, len);
	OPENSSL_free(der);
	ESS_SIGNING_CERT_V2_free(sc);
	return ok ? 0 : psm_error_from_openssl(PSM_ERR_CRYPTO, "adding signingCertificateV2");
}

/* SMIMEEncryptionKeyPreference ::= CHOICE { issuerAndSerialNumber [0]
 * IssuerAndSerialNumber, ... } (RFC 8551 section 2.5.3), DER by hand. */
static int
add_enc_key_pref(CMS_SignerInfo *si, X509 *enc)
{
	unsigned char *issuer = NULL, *serial = NULL, *buf = NULL, *p;
	int ilen, slen, body, hdr, ok = 0;

	ilen = i2d_X509_NAME(X509_get_issuer_name(enc), &issuer);
	slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(enc), &serial);
	if (ilen <= 0 || slen <= 0)
		goto out;
	body = ilen + slen;
	hdr = body < 128 ? 2 : body < 256 ? 3 : 4;
	if ((buf = OPENSSL_malloc((size_t)(hdr + body))) == NULL)
		goto out;
	p = buf;
	*p++ = 0xa0;
	if (body >= 256) {
		*p++ = 0x82;
		*p++ = (unsigned char)(body >> 8);
	} else if (body >= 128) {
		*p++ = 0x81;
	}
	*p++ = (unsigned char)(body & 0xff);
	memcpy(p, issuer, (size_t)ilen);
	memcpy(p + ilen, serial, (size_t)slen);
	ok = CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_encrypKeyPref, V_ASN1_SEQUENCE,
	                                 buf, hdr + body);
out:
	OPENSSL_free(issuer);
	OPENSSL_free(serial);
	OPENSSL_free(buf);
	return ok ? 0 : psm_error_from_openssl(PSM_ERR_CRYPTO, "adding the encryption key preference");
}

int
psm_cms_signer_new(EVP_PKEY *key, const psm_sign_params *p, BIO *opaque_out,
                   psm_cms_signer **out, BIO **content)
{
	psm_cms_signer *s = NULL;
	CMS_SignerInfo *si;
	EVP_PKEY *pub = X509_get0_pubkey(p->signer);
	const EVP_MD *md;
	unsigned flags = CMS_PARTIAL | CMS_BINARY | CMS_STREAM;
	int i, r = PSM_ERR_INTERNAL;

	*out = NULL;
	*content = NULL;
	if (pub == NULL) {
		psm_error_set("the signer's certificate has no usable public key");
		return PSM_ERR_KEY_USAGE;
	}
	md = EVP_get_digestbyname(p->digest != NULL ? p->digest : psm_default_digest(pub));
	if (md == NULL) {
		psm_error_set("unknown digest '%s'; use sha256, sha384 or sha512", p->digest);
		return PSM_ERR_USAGE;
	}
	if (p->pss && EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA) {
		psm_error_set("--pss needs an RSA key");
		return PSM_ERR_USAGE;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PSM_ERR_NOMEM;
	s->opaque = p->opaque;
	s->opaque_out = opaque_out;
	s->micalg = micalg_of(md);
	if (!p->opaque)
		flags |= CMS_DETACHED;
	if ((s->cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL) {
		r = psm_error_from_openssl(PSM_ERR_CRYPTO, "starting a CMS signature");
		goto out;
	}
	si = CMS_add1_signer(s->cms, p->signer, key, md,
	                     flags | CMS_NOSMIMECAP | (p->pss ? CMS_KEY_PARAM : 0));
	if (si == NULL) {
		r = psm_error_from_openssl(PSM_ERR_KEY_USAGE, "the key cannot sign with this certificate");
		goto out;
	}
	if (p->pss) {
		EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);

		if (pctx == NULL ||
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0) {
			r = psm_error_from_openssl(PSM_ERR_CRYPTO, "setting up RSA-PSS");
			goto out;
		}
	}
	if ((r = add_capabilities(si, pub)) < 0 || (r = add_signing_cert(si, p->signer)) < 0 ||
	    (p->enc_cert != NULL && (r = add_enc_key_pref(si, p->enc_cert)) < 0))
		goto out;
	for (i = 0; p->chain != NULL && i < sk_X509_num(p->chain); i++) {
		X509 *c = sk_X509_value(p->chain, i);

		if (X509_cmp(c, p->signer) != 0 && !CMS_add1_cert(s->cms, c)) {
			r = psm_error_from_openssl(PSM_ERR_CRYPTO, "adding a chain certificate");
			goto out;
		}
	}
	ERR_clear_error();  /* CMS_add1_cert complains about duplicates */
	if (p->opaque)
		s->content = BIO_new_CMS(opaque_out, s->cms);
	else
		s->content = CMS_dataInit(s->cms, NULL);
	if (s->content == NULL) {
		r = psm_error_from_openssl(PSM_ERR_CRYPTO, "starting the signed content");
		goto out;
	}
	*content = s->content;
	*out = s;
	s = NULL; /* transferred */
	r = 0;
out:
	psm_cms_signer_free(s);
	return r;
}

int
psm_cms_signer_finish(psm_cms_signer *s, BIO *sig_out)
{
	if (s->opaque) {
		/* flushing the streaming BIO signs and writes the trailer */
		if (BIO_flush(s->content) <= 0)
			return psm_error_from_openssl(PSM_ERR_CRYPTO, "signing on the token");
		return 0;
	}
	if (!CMS_dataFinal(s->cms, s->content))
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "signing on the token");
	if (i2d_CMS_bio(sig_out, s->cms) <= 0)
		return psm_error_from_openssl(PSM_ERR_IO, "writing the signature");
	return 0;
}

const char *
psm_cms_signer_micalg(const psm_cms_signer *s)
{
	return s->micalg;
}

void
psm_cms_signer_free(psm_cms_signer *s)
{
	if (s == NULL)
		return;
	if (s->content != NULL && s->opaque) {
		/* BIO_new_CMS chains end in the caller's BIO: free up to it */
		BIO *b = s->content, *next;

		while (b != NULL && b != s->opaque_out) {
			next = BIO_pop(b);
			BIO_free(b);
			b = next;
		}
	} else {
		BIO_free_all(s->content);
	}
	CMS_ContentInfo_free(s->cms);
	free(s);
}
