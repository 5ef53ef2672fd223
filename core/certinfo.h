/* p11smime: what a person needs to know about a certificate. */
#ifndef P11SMIME_CERTINFO_H
#define P11SMIME_CERTINFO_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct psm_certinfo {
	char *subject;          /* RFC 2253, one line */
	char *issuer;
	char **emails;          /* NULL-terminated, lower-cased, no duplicates:
	                           rfc822Name SANs, then subject emailAddress */
	time_t not_before, not_after;
	int is_ca;
	int key_type;           /* EVP_PKEY_RSA, EVP_PKEY_EC, ... */
	unsigned bits;
	const char *curve;      /* NIST name ("P-256") or NULL (static) */
	unsigned char *pub;     /* public key identity, see psm_pubkey_identity() */
	size_t pub_len;
} psm_certinfo;

/* Describe cert. *out is freed with psm_certinfo_free(). */
int psm_certinfo_new(X509 *cert, psm_certinfo **out);
void psm_certinfo_free(psm_certinfo *ci);

/* A byte string that identifies a public key whatever its encoding: the RSA
 * modulus without leading zeros, or the uncompressed EC point. Used to pair
 * keys and certificates whose CKA_IDs differ. *out is malloc'd. */
int psm_pubkey_identity(EVP_PKEY *pkey, unsigned char **out, size_t *out_len);

/* Strip leading zero bytes of a big-endian integer in place (returns the
 * new start) and the EC point from a DER OCTET STRING if it is wrapped. */
const unsigned char *psm_bn_strip(const unsigned char *p, size_t *len);
const unsigned char *psm_ec_point_unwrap(const unsigned char *p, size_t *len);

/* ASN1_TIME to time_t; 0 on failure. */
time_t psm_asn1_time_to_time_t(const ASN1_TIME *t);

/* Lower-case hex of len bytes; malloc'd. */
char *psm_hex_encode(const unsigned char *p, size_t len);

/* A name in one line, RFC 2253 order, UTF-8 kept: malloc'd (NULL when out
 * of memory), or into buf ("?" when it cannot be printed). */
char *psm_name_oneline(const X509_NAME *name);
const char *psm_name_text(const X509_NAME *name, char *buf, size_t len);

#endif
