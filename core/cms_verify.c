/* p11smime: verify a CMS SignedData against streamed content. */
#include "config.h"

#include "cms_verify.h"
#include "certinfo.h"
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

/* The digests we hash with when micalg does not tell (or lies). */
static const int all_digests[] = { NID_sha256, NID_sha384, NID_sha512, NID_sha1, NID_sha224 };
#define NDIGESTS (sizeof(all_digests) / sizeof(all_digests[0]))

struct psm_verifier {
	EVP_MD_CTX *md[NDIGESTS];   /* NULL where not hashing with that digest */
	int micalg_nid;             /* the first digest micalg names, or NID_undef */
};

static int
micalg_nid(const char *name)
{
	static const struct { const char *name; int nid; } map[] = {
		{ "sha-256", NID_sha256 }, { "sha256", NID_sha256 },
		{ "sha-384", NID_sha384 }, { "sha384", NID_sha384 },
		{ "sha-512", NID_sha512 }, { "sha512", NID_sha512 },
		{ "sha-224", NID_sha224 }, { "sha224", NID_sha224 },
		{ "sha-1", NID_sha1 }, { "sha1", NID_sha1 },
		{ "md5", NID_md5 },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(name, map[i].name) == 0)
			return map[i].nid;
	return NID_undef;
}

int
psm_verifier_new(const char *micalg, psm_verifier **out)
{
	psm_verifier *v;
	size_t i;

	*out = NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return PSM_ERR_NOMEM;
	v->micalg_nid = NID_undef;
	if (micalg != NULL) {
		char first[32];
		size_t n = strcspn(micalg, ", \t");

		if (n < sizeof(first)) {
			memcpy(first, micalg, n);
			first[n] = '\0';
			v->micalg_nid = micalg_nid(first);
		}
	}
	/* Hash with the digest micalg names (a SignerInfo with another one
	 * fails: micalg must match), or with every usual one when it names
	 * none we know, so the content is read once either way. */
	for (i = 0; i < NDIGESTS; i++) {
		const EVP_MD *md = EVP_get_digestbynid(all_digests[i]);

		if (v->micalg_nid != NID_undef && all_digests[i] != v->micalg_nid)
			continue;
		if ((v->md[i] = EVP_MD_CTX_new()) == NULL || md == NULL ||
		    !EVP_DigestInit_ex(v->md[i], md, NULL)) {
			psm_verifier_free(v);
			return PSM_ERR_NOMEM;
		}
	}
	*out = v;
	return 0;
}

int
psm_verifier_update(psm_verifier *v, const void *buf, size_t len)
{
	size_t i;

	for (i = 0; i < NDIGESTS; i++)
		if (v->md[i] != NULL && !EVP_DigestUpdate(v->md[i], buf, len))
			return PSM_ERR_CRYPTO;
	return 0;
}

void
psm_verifier_free(psm_verifier *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < NDIGESTS; i++)
		EVP_MD_CTX_free(v->md[i]);
	free(v);
}

void
psm_verify_result_free(psm_verify_result *res)
{
	size_t i;

	if (res == NULL)
		return;
	free(res->failure);
	free(res->signer_subject);
	free(res->signer_issuer);
	free(res->anchor_subject);
	free(res->nested);
	for (i = 0; res->signer_emails != NULL && res->signer_emails[i] != NULL; i++)
		free(res->signer_emails[i]);
	free(res->signer_emails);
	X509_free(res->signer);
	sk_X509_pop_free(res->path_cas, X509_free);
	OPENSSL_free(res->capabilities);
	free(res);
}

static void
fail(psm_verify_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
fail(psm_verify_result *res, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	res->valid = 0;
	if (res->failure != NULL)   /* keep the first reason */
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	res->failure = strdup(buf);
}
static const unsigned char *
our_digest(psm_verifier *v, int nid, unsigned char *buf, unsigned *len)
{
	size_t i;

	for (i = 0; i < NDIGESTS; i++) {
		if (all_digests[i] == nid && v->md[i] != NULL) {
			EVP_MD_CTX *copy = EVP_MD_CTX_new();
			int ok = copy != NULL && EVP_MD_CTX_copy_ex(copy, v->md[i]) &&
			         EVP_DigestFinal_ex(copy, buf, len);

			EVP_MD_CTX_free(copy);
			return ok ? buf : NULL;
		}
	}
	return NULL;
}

static time_t
signing_time(CMS_SignerInfo *si)
{
	const ASN1_OBJECT *obj = OBJ_nid2obj(NID_pkcs9_signingTime);
	ASN1_TIME *t = CMS_signed_get0_data_by_OBJ(si, obj, -3, V_ASN1_UTCTIME);

	if (t == NULL)
		t = CMS_signed_get0_data_by_OBJ(si, obj, -3, V_ASN1_GENERALIZEDTIME);
	ERR_clear_error();
	return t != NULL ? psm_asn1_time_to_time_t(t) : 0;
}

static void
copy_capabilities(CMS_SignerInfo *si, psm_verify_result *res)
{
	/* for a SEQUENCE, the attribute's value comes back as the ASN1_STRING
	 * holding its whole DER encoding */
	ASN1_STRING *seq = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_SMIMECapabilities), -3,
	                                               V_ASN1_SEQUENCE);

	ERR_clear_error();
	if (seq != NULL && ASN1_STRING_length(seq) > 0 &&
	    (res->capabilities = OPENSSL_memdup(ASN1_STRING_get0_data(seq),
	                                        (size_t)ASN1_STRING_length(seq))) != NULL)
		res->capabilities_len = (size_t)ASN1_STRING_length(seq);
}

/* gpgsm with gnupg-pkcs11-scd sends about every second RSA signature as
 * an integer with a 00 in front (k + 1 octets). RFC 8017 wants exactly k
 * octets; the value is the same, so the zeros are dropped before the
 * check (nothing else about the signature is relaxed). */
static void
normalize_rsa_signature(CMS_SignerInfo *si, EVP_PKEY *pk)
{
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
	int k = pk != NULL ? EVP_PKEY_get_size(pk) : 0;
	int len = sig != NULL ? ASN1_STRING_length(sig) : 0, extra;
	const unsigned char *p = sig != NULL ? ASN1_STRING_get0_data(sig) : NULL;
	unsigned char buf[1024];

	if (pk == NULL || sig == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA || k <= 0 ||
	    len <= k || len - k > 8 || k > (int)sizeof(buf))
		return;
	for (extra = 0; extra < len - k; extra++)
		if (p[extra] != 0)
			return;
	memcpy(buf, p + extra, (size_t)k);
	ASN1_STRING_set(sig, buf, k);
}

/* The signer's chain against OCSP and CRLs: revoked fails, unknown fails
 * under --revocation hard. */
static int
check_revocation(STACK_OF(X509) *chain, const psm_verify_params *p, psm_verify_result *res)
{
	psm_revocation_params rp;
	char why[1024];
	int r;

	if (p->revocation == NULL)
		return 0;
	rp = *p->revocation;
	if (rp.at == 0)
		rp.at = p->at;
	if ((r = psm_revocation_check_chain(chain, &rp, &res->revocation)) < 0)
		return r;
	if (!psm_revocation_fails(&rp, &res->revocation))
		return 0;
	psm_revocation_explain(&res->revocation, res->revocation.depth == 0 ?
	                       "the signer's certificate" : "a CA certificate of the signer",
	                       why, sizeof(why));
	if (res->revocation.status == PSM_REV_UNKNOWN)
		fail(res, "%s (--revocation hard)", why);
	else
		fail(res, "%s", why);
	return 0;
}

/* The store's certificates (more_certs) into untrusted, held by *keep,
 * unless they are there already (*keep not NULL). */
static int
add_more_certs(STACK_OF(X509) *untrusted, STACK_OF(X509) **keep, const psm_verify_params *p)
{
	STACK_OF(X509) *more = NULL;
	int i;

	if (*keep != NULL || p->more_certs == NULL)
		return 0;
	p->more_certs(p->more_ud, &more);
	if (more == NULL && (more = sk_X509_new_null()) == NULL)
		return PSM_ERR_NOMEM;
	*keep = more;
	for (i = 0; i < sk_X509_num(more); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(more, i)))
			return PSM_ERR_NOMEM;
	return 0;
}

/* Keep the CA certificates of chain (between the signer and the anchor)
 * that the message itself carried in res->path_cas. */
static int
keep_path_cas(STACK_OF(X509) *chain, STACK_OF(X509) *carried, psm_verify_result *res)
{
	int i, j;

	for (i = 1; i < sk_X509_num(chain) - 1; i++) {
		X509 *x = sk_X509_value(chain, i);

		for (j = 0; j < sk_X509_num(carried) && X509_cmp(x, sk_X509_value(carried, j)) != 0; j++)
			;
		if (j == sk_X509_num(carried))
			continue;   /* from the store, the tokens or AIA: kept there already */
		if ((res->path_cas == NULL && (res->path_cas = sk_X509_new_null()) == NULL) ||
		    !X509_up_ref(x))
			return PSM_ERR_NOMEM;
		if (!sk_X509_push(res->path_cas, x)) {
			X509_free(x);
			return PSM_ERR_NOMEM;
		}
	}
	return 0;
}

static int
check_chain(X509 *signer, STACK_OF(X509) *untrusted, STACK_OF(X509) *carried,
            STACK_OF(X509) **keep, const psm_verify_params *p, psm_verify_result *res)
{
	STACK_OF(X509) *chain = NULL;
	char why[600] = "";
	int err, r;

	/* the message's certificates and the caller's; when an issuer is
	 * missing, the store's, then what AIA caIssuers URLs give */
	if ((r = psm_aia_verify(p->anchors, signer, untrusted, X509_PURPOSE_SMIME_SIGN, p->at,
	                        NULL, &chain, &err, why, sizeof(why))) < 0)
		return r;
	if (chain == NULL && psm_aia_missing_issuer(err) &&
	    ((p->more_certs != NULL && *keep == NULL) || (p->aia != NULL && p->aia->enabled))) {
		if ((r = add_more_certs(untrusted, keep, p)) < 0 ||
		    (r = psm_aia_verify(p->anchors, signer, untrusted, X509_PURPOSE_SMIME_SIGN,
		                        p->at, p->aia, &chain, &err, why, sizeof(why))) < 0)
			return r;
	}
	if (chain != NULL) {
		if (sk_X509_num(chain) > 0)
			res->anchor_subject = psm_name_oneline(X509_get_subject_name(
				sk_X509_value(chain, sk_X509_num(chain) - 1)));
		/* what the message brought between the signer and the anchor:
		 * a caller keeps these, so that the signer can be encrypted to */
		if ((r = keep_path_cas(chain, carried, res)) < 0) {
			sk_X509_pop_free(chain, X509_free);
			return r;
		}
		r = check_revocation(chain, p, res);
		sk_X509_pop_free(chain, X509_free);
		return r;
	}
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		fail(res, "the signer's certificate (or one in its chain) had expired%s",
		     p->at != 0 ? " at the given time"
		                : "; --at TIME judges an old message as of when it was sent");
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		fail(res, "the signer's certificate was not yet valid");
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		fail(res, "the signer's certificate does not chain to a trusted anchor (%s%s%s); "
		     "give the CA with --anchors or trust it", X509_verify_cert_error_string(err),
		     why[0] != '\0' ? "; " : "", why);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		fail(res, "the signer's certificate is not for e-mail signing "
		     "(key usage or extended key usage)");
		break;
	default:
		fail(res, "the signer's certificate chain is not valid: %s%s%s",
		     X509_verify_cert_error_string(err), why[0] != '\0' ? "; " : "", why);
	}
	return 0;
}

static int
check_from(X509 *signer, const char *from, int no_from_check, psm_verify_result *res)
{
	psm_certinfo *ci = NULL;
	size_t i;
	int r;

	if ((r = psm_certinfo_new(signer, &ci)) < 0)
		return r;
	res->signer_emails = ci->emails;
	ci->emails = NULL; /* transferred */
	psm_certinfo_free(ci);
	if (from == NULL) {
		/* nobody could tell who signed it against who sent it */
		if (!no_from_check)
			fail(res, "the message has no From: address, so the signer was not checked "
			     "against the sender; give --no-from-check when you check the signer's "
			     "address yourself");
		return 0;
	}
	for (i = 0; res->signer_emails[i] != NULL; i++)
		if (strcasecmp(res->signer_emails[i], from) == 0)
			res->from_matches = 1;
	if (!res->from_matches)
		fail(res, "the message is From: %s but the signer's certificate is for %s", from,
		     res->signer_emails[0] != NULL ? res->signer_emails[0] : "no e-mail address");
	return 0;
}

int
psm_verifier_finish_cms(psm_verifier *v, CMS_ContentInfo *cms, const psm_verify_params *p,
                        psm_verify_result **out)
{
	psm_verify_result *res = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs = NULL, *untrusted = NULL, *keep = NULL;
	CMS_SignerInfo *si;
	X509 *signer = NULL;
	X509_ALGOR *dig = NULL, *sigalg = NULL;
	EVP_PKEY *pk = NULL;
	ASN1_OCTET_STRING *md_attr;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	int nid, i, r = PSM_ERR_INTERNAL;

	*out = NULL;
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		psm_error_set("the signature part is not a CMS SignedData" PSM_HINT_DAMAGED);
		return PSM_ERR_MALFORMED;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL)
		return PSM_ERR_NOMEM;
	res->valid = 1;
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) < 1) {
		fail(res, "the SignedData has no signer");
		goto done;
	}
	/* S/MIME mail carries one signer; check the first, say if more */
	si = sk_CMS_SignerInfo_value(sis, 0);
	certs = CMS_get1_certs(cms);
	if ((untrusted = sk_X509_new_null()) == NULL)
		goto nomem;
	for (i = 0; i < sk_X509_num(certs); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(certs, i)))
			goto nomem;
	for (i = 0; p->untrusted != NULL && i < sk_X509_num(p->untrusted); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(p->untrusted, i)))
			goto nomem;
	CMS_set1_signers_certs(cms, untrusted, CMS_NOINTERN);
	ERR_clear_error();
	CMS_SignerInfo_get0_algs(si, &pk, &signer, &dig, &sigalg);
	if (signer == NULL && (p->more_certs != NULL || p->anchors != NULL)) {
		/* not in the message: the anchors, then the caller's (the store) */
		STACK_OF(X509) *more = NULL;

		if (p->anchors != NULL)
			more = X509_STORE_get1_all_certs(p->anchors);
		if (p->more_certs != NULL)
			p->more_certs(p->more_ud, &more);
		if ((keep = sk_X509_new_null()) == NULL) {
			sk_X509_pop_free(more, X509_free);
			goto nomem;
		}
		for (i = 0; more != NULL && i < sk_X509_num(more); i++) {
			X509 *x = sk_X509_value(more, i);

			X509_up_ref(x);
			if (!sk_X509_push(keep, x)) {
				X509_free(x);
				sk_X509_pop_free(more, X509_free);
				goto nomem;
			}
			if (!sk_X509_push(untrusted, x)) {
				sk_X509_pop_free(more, X509_free);
				goto nomem;
			}
		}
		sk_X509_pop_free(more, X509_free);
		more = NULL;
		CMS_set1_signers_certs(cms, untrusted, CMS_NOINTERN);
		ERR_clear_error();
		CMS_SignerInfo_get0_algs(si, &pk, &signer, &dig, &sigalg);
	}
	nid = dig != NULL ? OBJ_obj2nid(dig->algorithm) : NID_undef;
	res->digest = OBJ_nid2sn(nid);
	res->signature_alg = sigalg != NULL ? OBJ_nid2ln(OBJ_obj2nid(sigalg->algorithm)) : "unknown";
	res->signing_time = signing_time(si);
	if (signer == NULL) {
		fail(res, "the signer's certificate is not in the message");
		goto done;
	}
	if (!X509_up_ref(signer))
		goto nomem;
	res->signer = signer;
	res->signer_subject = psm_name_oneline(X509_get_subject_name(signer));
	res->signer_issuer = psm_name_oneline(X509_get_issuer_name(signer));
	copy_capabilities(si, res);

	if (nid == NID_md5) {
		fail(res, "the signature uses MD5, which is broken");
	} else if (nid == NID_sha1 && !p->allow_weak) {
		fail(res, "the signature uses SHA-1, which is weak; --allow-weak accepts it");
	}
	if (v->micalg_nid != NID_undef && v->micalg_nid != nid) {
		fail(res, "micalg says %s but the signature uses %s", OBJ_nid2sn(v->micalg_nid),
		     OBJ_nid2sn(nid));
		goto done;
	}
	/* the content: our digest against the signed messageDigest */
	if (our_digest(v, nid, digest, &dlen) == NULL) {
		fail(res, "the signature uses a digest p11smime does not support (%s)",
		     OBJ_nid2sn(nid));
		goto done;
	}
	normalize_rsa_signature(si, pk);
	if (CMS_signed_get_attr_count(si) <= 0) {
		EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pk, NULL);
		ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
		int ok = pctx != NULL && EVP_PKEY_verify_init(pctx) > 0 &&
		         EVP_PKEY_CTX_set_signature_md(pctx, EVP_get_digestbynid(nid)) > 0 &&
		         EVP_PKEY_verify(pctx, ASN1_STRING_get0_data(sig),
		                         (size_t)ASN1_STRING_length(sig), digest, dlen) == 1;

		EVP_PKEY_CTX_free(pctx);
		if (!ok)
			fail(res, "the signature does not match the content (tampered?)");
	} else {
		md_attr = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
		                                      V_ASN1_OCTET_STRING);
		if (md_attr == NULL || (unsigned)ASN1_STRING_length(md_attr) != dlen ||
		    memcmp(ASN1_STRING_get0_data(md_attr), digest, dlen) != 0)
			fail(res, "the content does not match the signature: it was changed after "
			     "signing (or the message was damaged in transit)");
		if (CMS_SignerInfo_verify(si) != 1)
			fail(res, "the signature is not valid for the signer's key");
	}
	ERR_clear_error();
	if ((r = check_chain(signer, untrusted, certs, &keep, p, res)) < 0 ||
	    (r = check_from(signer, p->from, p->no_from_check, res)) < 0)
		goto out;
done:
	if (!res->valid && res->failure == NULL)
		res->failure = strdup("the signature is not valid");
	*out = res;
	res = NULL; /* transferred */
	r = 0;
	goto out;
nomem:
	r = PSM_ERR_NOMEM;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	sk_X509_pop_free(keep, X509_free);
	sk_X509_pop_free(certs, X509_free);
	psm_verify_result_free(res);
	return r;
}

int
psm_verifier_finish(psm_verifier *v, const unsigned char *der, size_t len,
                    const psm_verify_params *p, psm_verify_result **res)
{
	const unsigned char *q = der;
	CMS_ContentInfo *cms;
	int r;

	*res = NULL;
	if (len > LONG_MAX || (cms = d2i_CMS_ContentInfo(NULL, &q, (long)len)) == NULL) {
		ERR_clear_error();
		psm_error_set("the signature part is not a valid CMS structure" PSM_HINT_DAMAGED);
		return PSM_ERR_MALFORMED;
	}
	r = psm_verifier_finish_cms(v, cms, p, res);
	CMS_ContentInfo_free(cms);
	return r;
}
