/* p11smime: pair keys and certificates by CKA_ID, then by public key. */
#include "config.h"

#include "pair.h"
#include "p11.h"

#include <stdlib.h>
#include <string.h>

static int
same_bytes(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	return a != NULL && b != NULL && alen > 0 && alen == blen && memcmp(a, b, alen) == 0;
}

void
psm_pair_keys(const psm_pair_obj *keys, size_t nkeys,
              const psm_pair_obj *certs, size_t ncerts,
              long *cert_of, int *how)
{
	unsigned char *taken = calloc(ncerts > 0 ? ncerts : 1, 1);
	size_t k, c;

	for (k = 0; k < nkeys; k++) {
		cert_of[k] = -1;
		how[k] = PSM_PAIR_NONE;
	}
	if (taken == NULL)
		return;
	/* 1a. same CKA_ID and the same public key: certain */
	for (k = 0; k < nkeys; k++) {
		for (c = 0; c < ncerts; c++) {
			if (!taken[c] &&
			    same_bytes(keys[k].id, keys[k].id_len, certs[c].id, certs[c].id_len) &&
			    same_bytes(keys[k].pub, keys[k].pub_len, certs[c].pub, certs[c].pub_len)) {
				cert_of[k] = (long)c;
				how[k] = PSM_PAIR_ID;
				taken[c] = 1;
				break;
			}
		}
	}
	/* 1b. same CKA_ID where one public key is unknown; an ID match whose
	 * public key provably differs is no match */
	for (k = 0; k < nkeys; k++) {
		if (cert_of[k] >= 0)
			continue;
		for (c = 0; c < ncerts; c++) {
			if (taken[c] ||
			    !same_bytes(keys[k].id, keys[k].id_len, certs[c].id, certs[c].id_len) ||
			    (keys[k].pub != NULL && certs[c].pub != NULL))
				continue;
			cert_of[k] = (long)c;
			how[k] = PSM_PAIR_ID;
			taken[c] = 1;
			break;
		}
	}
	/* 2. same public key, different IDs */
	for (k = 0; k < nkeys; k++) {
		if (cert_of[k] >= 0 || keys[k].pub == NULL)
			continue;
		for (c = 0; c < ncerts; c++) {
			if (!taken[c] && same_bytes(keys[k].pub, keys[k].pub_len, certs[c].pub,
			                            certs[c].pub_len)) {
				cert_of[k] = (long)c;
				how[k] = PSM_PAIR_PUBKEY;
				taken[c] = 1;
				break;
			}
		}
	}
	free(taken);
}
