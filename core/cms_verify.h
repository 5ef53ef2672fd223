/* p11smime: checking a CMS SignedData over content that streams by.
 *
 * The content is hashed as it is read (psm_verifier_update), with the
 * digest(s) that micalg announces, or all usual ones when it announces
 * none; the SignedData, which comes after the content in multipart/signed,
 * is checked at the end: signature over the signed attributes, the
 * messageDigest against what was hashed, weak digests, the signer's chain
 * to the anchors at a given time, key usage and emailProtection, and the
 * From: address against the certificate. The chain is built from the
 * message's certificates and the caller's; when an issuer is missing,
 * from the store's (more_certs), then from AIA caIssuers (aia.h).
 */
#ifndef P11SMIME_CMS_VERIFY_H
#define P11SMIME_CMS_VERIFY_H

#include <stddef.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/x509.h>

#include "aia.h"
#include "revocation.h"

typedef struct psm_verify_params {
	X509_STORE *anchors;        /* borrowed: trust anchors */
	STACK_OF(X509) *untrusted;  /* borrowed: extra certificates, or NULL */
	time_t at;                  /* judge the message as of this time; 0: now */
	int allow_weak;             /* accept SHA-1 (MD5 never) */
	const char *from;           /* the message's From: address, or NULL */
	int no_from_check;          /* the caller checks the signer's address itself
	                               (non-mail uses): no From: is not a failure */
	const psm_revocation_params *revocation;  /* borrowed: revocation checks of the
	                               signer's chain (at 0: this at), or NULL: off */
	/* when the message lacks the signer's certificate: the anchors are
	 * searched, then more_certs appends other candidates (the user's
	 * store) to *more (created when NULL); may be NULL */
	int (*more_certs)(void *ud, STACK_OF(X509) **more);
	void *more_ud;
	/* borrowed: when the signer's chain misses an issuer, more_certs is
	 * asked (once), then the issuers named by the certificates' AIA
	 * caIssuers URLs are fetched under these (see aia.h); NULL: nothing
	 * is fetched */
	const psm_aia_params *aia;
} psm_verify_params;

/* What the check found, for a person and for --json. */
typedef struct psm_verify_result {
	int valid;                  /* 1 only if every check passed */
	char *failure;              /* one sentence, or NULL when valid */
	char *signer_subject;
	char **signer_emails;       /* NULL-terminated */
	char *signer_issuer;
	char *anchor_subject;       /* the trust anchor the chain ended at */
	time_t signing_time;        /* 0 when absent */
	const char *digest;         /* "sha256", static */
	const char *signature_alg;  /* "rsaEncryption", "rsassaPss", "ecdsa-with-SHA256", static */
	int from_matches;           /* 1 when From: is one of the signer's addresses */
	char *nested;               /* the signed content is itself S/MIME: its
	                               media type (e.g. "multipart/signed"), or NULL */
	X509 *signer;               /* owned */
	STACK_OF(X509) *path_cas;   /* owned: the CA certificates between the signer
	                               and the anchor (neither included) that the
	                               message carried; NULL when none or not valid */
	unsigned char *capabilities;/* DER of SMIMECapabilities, or NULL */
	size_t capabilities_len;
	psm_revocation_result revocation;  /* of the signer's chain (status OFF when
	                               not checked, e.g. the chain did not verify) */
} psm_verify_result;

void psm_verify_result_free(psm_verify_result *res);

typedef struct psm_verifier psm_verifier;

/* micalg: the multipart/signed parameter ("sha-256", maybe a list), or
 * NULL. Free with psm_verifier_free(). */
int psm_verifier_new(const char *micalg, psm_verifier **out);
int psm_verifier_update(psm_verifier *v, const void *buf, size_t len);

/* Check the DER SignedData (detached) against the hashed content. Returns
 * 0 when the check ran (look at (*res)->valid), or a psm_err when the
 * SignedData cannot be read (PSM_ERR_MALFORMED). */
int psm_verifier_finish(psm_verifier *v, const unsigned char *der, size_t len,
                        const psm_verify_params *p, psm_verify_result **res);

/* The same for a parsed SignedData (opaque signed-data, whose content was
 * fed to psm_verifier_update). */
int psm_verifier_finish_cms(psm_verifier *v, CMS_ContentInfo *cms,
                            const psm_verify_params *p, psm_verify_result **res);

void psm_verifier_free(psm_verifier *v);

#endif
