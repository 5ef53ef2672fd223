/* p11smime: judging recipients' certificates (see recipients.h). */
#include "config.h"

#include "recipients.h"
#include "aia.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

static int
usage_ok(X509 *cert)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	uint32_t ku = X509_get_key_usage(cert);   /* all bits when absent */
	int type = pub != NULL ? EVP_PKEY_get_base_id(pub) : 0;

	if (type == EVP_PKEY_RSA)
		return (ku & KU_KEY_ENCIPHERMENT) != 0;
	if (type == EVP_PKEY_EC)
		return (ku & KU_KEY_AGREEMENT) != 0;
	return 0;
}

static int
eku_ok(X509 *cert)
{
	uint32_t xku;

	if (!(X509_get_extension_flags(cert) & EXFLAG_XKUSAGE))
		return 1;
	xku = X509_get_extended_key_usage(cert);
	return (xku & (XKU_SMIME | XKU_ANYEKU)) != 0;
}

int
psm_recipient_usable(X509 *cert)
{
	return usage_ok(cert) && eku_ok(cert) &&
	       X509_cmp_current_time(X509_get0_notAfter(cert)) > 0 &&
	       X509_cmp_current_time(X509_get0_notBefore(cert)) < 0;
}

/* rp NULL: no revocation check; aia NULL: nothing fetched. */
static int
check(X509 *cert, const char *who, X509_STORE *anchors, STACK_OF(X509) *untrusted,
      const psm_revocation_params *rp, const psm_aia_params *aia, psm_revocation_result *rev)
{
	STACK_OF(X509) *chain = NULL;
	char why[1024], fetch[600];
	int err, r = 0;

	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		psm_error_set("cannot encrypt to %s: the certificate expired; ask them for a new one",
		              who);
		return PSM_ERR_VERIFY;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
		psm_error_set("cannot encrypt to %s: the certificate is not valid yet (is this "
		              "computer's clock right?)", who);
		return PSM_ERR_VERIFY;
	}
	if (!usage_ok(cert)) {
		psm_error_set("cannot encrypt to %s: the certificate's key usage does not allow "
		              "encryption (it needs keyEncipherment for RSA, keyAgreement for EC); "
		              "ask them for one that does", who);
		return PSM_ERR_VERIFY;
	}
	if (!eku_ok(cert)) {
		psm_error_set("cannot encrypt to %s: the certificate is not for e-mail "
		              "(no emailProtection extended key usage); ask them for an e-mail "
		              "certificate", who);
		return PSM_ERR_VERIFY;
	}
	/* the chain, completed from AIA caIssuers when an issuer is missing */
	if ((r = psm_aia_verify(anchors, cert, untrusted, 0, 0, aia, &chain, &err, fetch,
	                        sizeof(fetch))) < 0)
		return r;
	if (chain != NULL && rp != NULL &&
	    (r = psm_revocation_check_chain(chain, rp, rev)) == 0 &&
	    psm_revocation_fails(rp, rev)) {
		psm_revocation_explain(rev, rev->depth == 0 ? "the certificate" :
		                       "a CA certificate of its chain", why, sizeof(why));
		psm_error_set("cannot encrypt to %s: %s%s", who, why,
		              rev->status == PSM_REV_UNKNOWN ? " (--revocation hard)" : "");
		r = PSM_ERR_VERIFY;
	}
	ERR_clear_error();
	if (chain != NULL) {
		sk_X509_pop_free(chain, X509_free);
		return r;
	}
	switch (err) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		psm_error_set("cannot encrypt to %s: the certificate does not chain to a trusted "
		              "anchor (%s%s%s); give the CA with --anchors or trust it", who,
		              X509_verify_cert_error_string(err), fetch[0] != '\0' ? "; " : "", fetch);
		break;
	default:
		psm_error_set("cannot encrypt to %s: the certificate chain is not valid: %s%s%s", who,
		              X509_verify_cert_error_string(err), fetch[0] != '\0' ? "; " : "", fetch);
	}
	return PSM_ERR_VERIFY;
}

int
psm_recipient_check(X509 *cert, const char *who, X509_STORE *anchors, STACK_OF(X509) *untrusted)
{
	return check(cert, who, anchors, untrusted, NULL, NULL, NULL);
}

int
psm_recipient_check_revocation(X509 *cert, const char *who, X509_STORE *anchors,
                               STACK_OF(X509) *untrusted, const psm_revocation_params *rp,
                               psm_revocation_result *rev)
{
	return psm_recipient_check_aia(cert, who, anchors, untrusted, rp, NULL, rev);
}

int
psm_recipient_check_aia(X509 *cert, const char *who, X509_STORE *anchors,
                        STACK_OF(X509) *untrusted, const psm_revocation_params *rp,
                        const psm_aia_params *aia, psm_revocation_result *rev)
{
	memset(rev, 0, sizeof(*rev));
	rev->reason = -1;
	return check(cert, who, anchors, untrusted, rp, aia, rev);
}

int
psm_caps_parse(const unsigned char *der, size_t len, int *gcm, int *oaep)
{
	const unsigned char *p = der;
	X509_ALGORS *algs = d2i_X509_ALGORS(NULL, &p, (long)len);
	int i;

	*gcm = *oaep = 0;
	if (algs == NULL) {
		ERR_clear_error();
		return PSM_ERR_MALFORMED;
	}
	for (i = 0; i < sk_X509_ALGOR_num(algs); i++) {
		const ASN1_OBJECT *obj;

		X509_ALGOR_get0(&obj, NULL, NULL, sk_X509_ALGOR_value(algs, i));
		switch (OBJ_obj2nid(obj)) {
		case NID_aes_256_gcm:
		case NID_aes_128_gcm:
		case NID_aes_192_gcm:
			*gcm = 1;
			break;
		case NID_rsaesOaep:
			*oaep = 1;
			break;
		default:
			break;
		}
	}
	sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
	return 0;
}
