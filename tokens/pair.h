/* p11smime: pairing private keys with their certificates. */
#ifndef P11SMIME_PAIR_H
#define P11SMIME_PAIR_H

#include <stddef.h>

/* What pairing needs to know of a key or certificate object. pub is the
 * public-key identity (psm_pubkey_identity()), or NULL when unknown. */
typedef struct psm_pair_obj {
	const unsigned char *id;
	size_t id_len;
	const unsigned char *pub;
	size_t pub_len;
} psm_pair_obj;

/* For each key k, set cert_of[k] to the index of its certificate or -1,
 * and how[k] to PSM_PAIR_ID (same non-empty CKA_ID), PSM_PAIR_PUBKEY (same
 * public key, IDs differ) or PSM_PAIR_NONE. A certificate pairs with at
 * most one key. When several certificates share a key's CKA_ID, the one
 * whose public key matches wins. Pairing by ID is tried for every key
 * before pairing by public key. */
void psm_pair_keys(const psm_pair_obj *keys, size_t nkeys,
                   const psm_pair_obj *certs, size_t ncerts,
                   long *cert_of, int *how);

#endif
