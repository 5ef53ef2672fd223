/* p11smime: certificate summaries (subject, e-mail addresses, validity,
 * key type) and public-key identities. */
#include "config.h"

#include "certinfo.h"
#include "error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/x509v3.h>

char *
psm_hex_encode(const unsigned char *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(len * 2 + 1);
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * len] = '\0';
	return s;
}

time_t
psm_asn1_time_to_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

char *
psm_name_oneline(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL, *data;
	long n;

	if (bio == NULL)
		return NULL;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(bio, &data);
		if ((s = malloc((size_t)n + 1)) != NULL) {
			memcpy(s, data, (size_t)n);
			s[n] = '\0';
		}
	}
	BIO_free(bio);
	return s;
}

const char *
psm_name_text(const X509_NAME *name, char *buf, size_t len)
{
	char *s = psm_name_oneline(name);

	snprintf(buf, len, "%s", s != NULL ? s : "?");
	free(s);
	return buf;
}

static int
emails_add(char ***list, size_t *n, const unsigned char *p, int len)
{
	char **grown, *s;
	size_t i;
	int k;

	if (p == NULL || len <= 0 || memchr(p, '\0', (size_t)len) != NULL)
		return 0;
	if ((s = malloc((size_t)len + 1)) == NULL)
		return PSM_ERR_NOMEM;
	for (k = 0; k < len; k++)
		s[k] = (char)tolower(p[k]);
	s[len] = '\0';
	for (i = 0; i < *n; i++) {
		if (strcmp((*list)[i], s) == 0) {
			free(s);
			return 0;
		}
	}
	if ((grown = realloc(*list, (*n + 2) * sizeof(*grown))) == NULL) {
		free(s);
		return PSM_ERR_NOMEM;
	}
	grown[(*n)++] = s;
	grown[*n] = NULL;
	*list = grown;
	return 0;
}

static int
collect_emails(X509 *cert, char ***out)
{
	GENERAL_NAMES *gens;
	X509_NAME *subj;
	char **list = NULL;
	size_t n = 0;
	int i, r = 0;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; r == 0 && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_EMAIL)
			r = emails_add(&list, &n, ASN1_STRING_get0_data(g->d.rfc822Name),
			               ASN1_STRING_length(g->d.rfc822Name));
	}
	GENERAL_NAMES_free(gens);
	subj = X509_get_subject_name(cert);
	for (i = -1; r == 0;) {
		X509_NAME_ENTRY *e;
		ASN1_STRING *v;

		i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, i);
		if (i < 0)
			break;
		e = X509_NAME_get_entry(subj, i);
		v = X509_NAME_ENTRY_get_data(e);
		r = emails_add(&list, &n, ASN1_STRING_get0_data(v), ASN1_STRING_length(v));
	}
	if (r == 0 && list == NULL) {
		if ((list = calloc(1, sizeof(*list))) == NULL)
			r = PSM_ERR_NOMEM;
	}
	if (r < 0) {
		for (i = 0; list != NULL && list[i] != NULL; i++)
			free(list[i]);
		free(list);
		return r;
	}
	*out = list;
	return 0;
}

const unsigned char *
psm_bn_strip(const unsigned char *p, size_t *len)
{
	while (*len > 1 && p[0] == 0) {
		p++;
		(*len)--;
	}
	return p;
}

const unsigned char *
psm_ec_point_unwrap(const unsigned char *p, size_t *len)
{
	size_t n = *len, hdr, body;

	/* DER OCTET STRING: 04 len... ; a raw uncompressed point also starts
	 * with 04, so accept the wrapping only if the length matches exactly */
	if (n < 2 || p[0] != 0x04)
		return p;
	if (p[1] < 0x80) {
		hdr = 2;
		body = p[1];
	} else if (p[1] == 0x81 && n >= 3) {
		hdr = 3;
		body = p[2];
	} else if (p[1] == 0x82 && n >= 4) {
		hdr = 4;
		body = ((size_t)p[2] << 8) | p[3];
	} else {
		return p;
	}
	if (hdr + body != n)
		return p;
	/* ... and only if what is inside is itself a point of a known size
	 * (P-224, P-256, P-384, P-521; compressed or not), so that a raw point
	 * whose X happens to look like a length is left alone */
	switch (body) {
	case 29: case 57: case 33: case 65: case 49: case 97: case 67: case 133:
		break;
	default:
		return p;
	}
	if (p[hdr] != 0x02 && p[hdr] != 0x03 && p[hdr] != 0x04)
		return p;
	if ((p[hdr] == 0x04) != (body == 57 || body == 65 || body == 97 || body == 133))
		return p;
	*len = body;
	return p + hdr;
}

int
psm_pubkey_identity(EVP_PKEY *pkey, unsigned char **out, size_t *out_len)
{
	unsigned char *buf = NULL;
	BIGNUM *n = NULL;
	size_t len = 0;
	int r = PSM_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n))
			goto out;
		len = (size_t)BN_num_bytes(n);
		if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
			r = PSM_ERR_NOMEM;
			goto out;
		}
		BN_bn2bin(n, buf);
		break;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
		                                     NULL, 0, &len) || len == 0)
			goto out;
		if ((buf = malloc(len)) == NULL) {
			r = PSM_ERR_NOMEM;
			goto out;
		}
		if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
		                                     buf, len, &len))
			goto out;
		break;
	default:
		r = PSM_ERR_NOT_FOUND;
		goto out;
	}
	*out = buf;
	*out_len = len;
	buf = NULL; /* transferred */
	r = 0;
out:
	free(buf);
	BN_free(n);
	return r;
}

void
psm_certinfo_free(psm_certinfo *ci)
{
	size_t i;

	if (ci == NULL)
		return;
	free(ci->subject);
	free(ci->issuer);
	for (i = 0; ci->emails != NULL && ci->emails[i] != NULL; i++)
		free(ci->emails[i]);
	free(ci->emails);
	free(ci->pub);
	free(ci);
}

int
psm_certinfo_new(X509 *cert, psm_certinfo **out)
{
	psm_certinfo *ci = NULL;
	EVP_PKEY *pkey;
	int r = PSM_ERR_NOMEM;

	*out = NULL;
	if ((ci = calloc(1, sizeof(*ci))) == NULL)
		goto out;
	if ((ci->subject = psm_name_oneline(X509_get_subject_name(cert))) == NULL ||
	    (ci->issuer = psm_name_oneline(X509_get_issuer_name(cert))) == NULL)
		goto out;
	if ((r = collect_emails(cert, &ci->emails)) < 0)
		goto out;
	ci->not_before = psm_asn1_time_to_time_t(X509_get0_notBefore(cert));
	ci->not_after = psm_asn1_time_to_time_t(X509_get0_notAfter(cert));
	ci->is_ca = X509_check_ca(cert) != 0;
	pkey = X509_get0_pubkey(cert);
	if (pkey != NULL) {
		ci->key_type = EVP_PKEY_get_base_id(pkey);
		ci->bits = (unsigned)EVP_PKEY_get_bits(pkey);
		if (ci->key_type == EVP_PKEY_EC) {
			char group[64];
			size_t glen = 0;

			if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
			                                   group, sizeof(group), &glen))
				ci->curve = EC_curve_nid2nist(OBJ_txt2nid(group));
		}
		if ((r = psm_pubkey_identity(pkey, &ci->pub, &ci->pub_len)) < 0 &&
		    r != PSM_ERR_NOT_FOUND)
			goto out;
	}
	*out = ci;
	ci = NULL; /* transferred */
	r = 0;
out:
	psm_certinfo_free(ci);
	return r;
}
