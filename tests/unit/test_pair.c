/* Unit tests for tokens/pair.c: pairing private keys with certificates by
 * CKA_ID, then by public key. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p11.h"
#include "pair.h"

/* Poison values for the out-arrays: psm_pair_keys() must overwrite them. */
#define POISON_CERT 0x5a5aL
#define POISON_HOW 0x7e

/* A few identities and public keys. The public keys have the same length
 * so that only their content tells them apart. */
static const unsigned char ID_A[] = { 0x01 };
static const unsigned char ID_B[] = { 0x02 };
static const unsigned char ID_C[] = { 0x03 };
static const unsigned char ID_AB[] = { 0x01, 0x02 };
static const unsigned char PUB_P[] = { 0xc0, 0xff, 0xee, 0x01 };
static const unsigned char PUB_Q[] = { 0xc0, 0xff, 0xee, 0x02 };
static const unsigned char PUB_R[] = { 0xc0, 0xff, 0xee, 0x03 };
static const unsigned char PUB_P_LONG[] = { 0xc0, 0xff, 0xee, 0x01, 0x00 };

static psm_pair_obj
obj(const unsigned char *id, size_t id_len, const unsigned char *pub, size_t pub_len)
{
	psm_pair_obj o;

	o.id = id;
	o.id_len = id_len;
	o.pub = pub;
	o.pub_len = pub_len;
	return o;
}

#define ID(x) (x), sizeof(x)
#define PUB(x) (x), sizeof(x)
#define NO_ID NULL, 0
#define NO_PUB NULL, 0

static void
poison(long *cert_of, int *how, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cert_of[i] = POISON_CERT;
		how[i] = POISON_HOW;
	}
}

/* ------------------------------------------------------------------ */

static void
test_pair_by_equal_id(void **state)
{
	psm_pair_obj keys[1], certs[1];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[0] = obj(ID(ID_A), PUB(PUB_P));
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], 0);
	assert_int_equal(how[0], PSM_PAIR_ID);
}

static void
test_pair_by_id_when_public_keys_unknown(void **state)
{
	psm_pair_obj keys[2], certs[2];
	long cert_of[2];
	int how[2];

	keys[0] = obj(ID(ID_A), NO_PUB);    /* key's public key unknown */
	keys[1] = obj(ID(ID_B), PUB(PUB_Q));
	certs[0] = obj(ID(ID_B), NO_PUB);   /* cert's public key unknown */
	certs[1] = obj(ID(ID_A), PUB(PUB_P));
	poison(cert_of, how, 2);
	psm_pair_keys(keys, 2, certs, 2, cert_of, how);
	assert_int_equal(cert_of[0], 1);
	assert_int_equal(how[0], PSM_PAIR_ID);
	assert_int_equal(cert_of[1], 0);
	assert_int_equal(how[1], PSM_PAIR_ID);
}

static void
test_pair_by_pubkey_when_ids_differ(void **state)
{
	psm_pair_obj keys[1], certs[2];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[0] = obj(ID(ID_C), PUB(PUB_Q));
	certs[1] = obj(ID(ID_B), PUB(PUB_P));
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 2, cert_of, how);
	assert_int_equal(cert_of[0], 1);
	assert_int_equal(how[0], PSM_PAIR_PUBKEY);
}

static void
test_pair_by_pubkey_when_key_has_no_id(void **state)
{
	psm_pair_obj keys[1], certs[1];
	long cert_of[1];
	int how[1];

	keys[0] = obj(NO_ID, PUB(PUB_P));
	certs[0] = obj(ID(ID_A), PUB(PUB_P));
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], 0);
	assert_int_equal(how[0], PSM_PAIR_PUBKEY);
}

static void
test_pair_cert_pairs_with_at_most_one_key_by_id(void **state)
{
	psm_pair_obj keys[2], certs[1];
	long cert_of[2];
	int how[2];

	keys[0] = obj(ID(ID_A), NO_PUB);
	keys[1] = obj(ID(ID_A), NO_PUB);
	certs[0] = obj(ID(ID_A), NO_PUB);
	poison(cert_of, how, 2);
	psm_pair_keys(keys, 2, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], 0);
	assert_int_equal(how[0], PSM_PAIR_ID);
	assert_int_equal(cert_of[1], -1);
	assert_int_equal(how[1], PSM_PAIR_NONE);
}

static void
test_pair_cert_pairs_with_at_most_one_key_by_pubkey(void **state)
{
	psm_pair_obj keys[2], certs[1];
	long cert_of[2];
	int how[2];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	keys[1] = obj(ID(ID_B), PUB(PUB_P));
	certs[0] = obj(ID(ID_C), PUB(PUB_P));
	poison(cert_of, how, 2);
	psm_pair_keys(keys, 2, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], 0);
	assert_int_equal(how[0], PSM_PAIR_PUBKEY);
	assert_int_equal(cert_of[1], -1);
	assert_int_equal(how[1], PSM_PAIR_NONE);
}

static void
test_pair_cert_taken_by_id_is_not_taken_again_by_pubkey(void **state)
{
	psm_pair_obj keys[2], certs[1];
	long cert_of[2];
	int how[2];

	/* key 0 comes first and has the certificate's public key, but key 1
	 * has its CKA_ID: every key pairs by ID before any pairs by key */
	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	keys[1] = obj(ID(ID_B), PUB(PUB_P));
	certs[0] = obj(ID(ID_B), PUB(PUB_P));
	poison(cert_of, how, 2);
	psm_pair_keys(keys, 2, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], -1);
	assert_int_equal(how[0], PSM_PAIR_NONE);
	assert_int_equal(cert_of[1], 0);
	assert_int_equal(how[1], PSM_PAIR_ID);
}

static void
test_pair_by_id_prefers_matching_pubkey(void **state)
{
	psm_pair_obj keys[1], certs[3];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[0] = obj(ID(ID_A), PUB(PUB_Q)); /* same ID, other key */
	certs[1] = obj(ID(ID_A), NO_PUB);     /* same ID, key unknown */
	certs[2] = obj(ID(ID_A), PUB(PUB_P)); /* same ID, same key */
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 3, cert_of, how);
	assert_int_equal(cert_of[0], 2);
	assert_int_equal(how[0], PSM_PAIR_ID);
}

static void
test_pair_by_id_two_certs_each_key_gets_its_own(void **state)
{
	psm_pair_obj keys[2], certs[2];
	long cert_of[2];
	int how[2];

	/* an old and a renewed key under one CKA_ID; certs listed crosswise */
	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	keys[1] = obj(ID(ID_A), PUB(PUB_Q));
	certs[0] = obj(ID(ID_A), PUB(PUB_Q));
	certs[1] = obj(ID(ID_A), PUB(PUB_P));
	poison(cert_of, how, 2);
	psm_pair_keys(keys, 2, certs, 2, cert_of, how);
	assert_int_equal(cert_of[0], 1);
	assert_int_equal(how[0], PSM_PAIR_ID);
	assert_int_equal(cert_of[1], 0);
	assert_int_equal(how[1], PSM_PAIR_ID);
}

static void
test_pair_by_id_falls_back_to_unknown_pubkey_cert(void **state)
{
	psm_pair_obj keys[1], certs[2];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[0] = obj(ID(ID_A), PUB(PUB_Q)); /* provably someone else's */
	certs[1] = obj(ID(ID_A), NO_PUB);     /* could be ours */
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 2, cert_of, how);
	assert_int_equal(cert_of[0], 1);
	assert_int_equal(how[0], PSM_PAIR_ID);
}

static void
test_pair_refuses_id_match_with_differing_pubkey(void **state)
{
	psm_pair_obj keys[1], certs[1];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[0] = obj(ID(ID_A), PUB(PUB_Q));
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], -1);
	assert_int_equal(how[0], PSM_PAIR_NONE);
}

static void
test_pair_refuses_id_match_with_differing_pubkey_length(void **state)
{
	psm_pair_obj keys[1], certs[1];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[0] = obj(ID(ID_A), PUB(PUB_P_LONG)); /* PUB_P is a prefix of it */
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], -1);
	assert_int_equal(how[0], PSM_PAIR_NONE);
}

static void
test_pair_refused_id_match_still_pairs_by_pubkey(void **state)
{
	psm_pair_obj keys[1], certs[2];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[0] = obj(ID(ID_A), PUB(PUB_Q));
	certs[1] = obj(ID(ID_B), PUB(PUB_P));
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 2, cert_of, how);
	assert_int_equal(cert_of[0], 1);
	assert_int_equal(how[0], PSM_PAIR_PUBKEY);
}

static void
test_pair_id_prefix_is_not_a_match(void **state)
{
	psm_pair_obj keys[1], certs[1];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), NO_PUB);
	certs[0] = obj(ID(ID_AB), NO_PUB);
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], -1);
	assert_int_equal(how[0], PSM_PAIR_NONE);
}

static void
test_pair_empty_ids_never_pair_by_id(void **state)
{
	static const unsigned char empty[1] = { 0 };
	psm_pair_obj keys[2], certs[2];
	long cert_of[2];
	int how[2];

	/* an empty (zero-length) CKA_ID and a missing one */
	keys[0] = obj(empty, 0, NO_PUB);
	keys[1] = obj(NO_ID, NO_PUB);
	certs[0] = obj(empty, 0, NO_PUB);
	certs[1] = obj(NO_ID, NO_PUB);
	poison(cert_of, how, 2);
	psm_pair_keys(keys, 2, certs, 2, cert_of, how);
	assert_int_equal(cert_of[0], -1);
	assert_int_equal(how[0], PSM_PAIR_NONE);
	assert_int_equal(cert_of[1], -1);
	assert_int_equal(how[1], PSM_PAIR_NONE);
}

static void
test_pair_empty_ids_pair_by_pubkey_only(void **state)
{
	static const unsigned char empty[1] = { 0 };
	psm_pair_obj keys[1], certs[2];
	long cert_of[1];
	int how[1];

	keys[0] = obj(empty, 0, PUB(PUB_P));
	certs[0] = obj(empty, 0, PUB(PUB_Q));
	certs[1] = obj(empty, 0, PUB(PUB_P));
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 2, cert_of, how);
	assert_int_equal(cert_of[0], 1);
	assert_int_equal(how[0], PSM_PAIR_PUBKEY);
}

static void
test_pair_empty_pubkeys_never_pair_by_pubkey(void **state)
{
	static const unsigned char empty[1] = { 0 };
	psm_pair_obj keys[1], certs[1];
	long cert_of[1];
	int how[1];

	keys[0] = obj(ID(ID_A), empty, 0);
	certs[0] = obj(ID(ID_B), empty, 0);
	poison(cert_of, how, 1);
	psm_pair_keys(keys, 1, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], -1);
	assert_int_equal(how[0], PSM_PAIR_NONE);
}

static void
test_pair_key_without_cert_gets_none(void **state)
{
	psm_pair_obj keys[3], certs[1];
	long cert_of[3];
	int how[3];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	keys[1] = obj(ID(ID_B), PUB(PUB_Q));
	keys[2] = obj(ID(ID_C), NO_PUB);
	certs[0] = obj(ID(ID_B), PUB(PUB_Q));
	poison(cert_of, how, 3);
	psm_pair_keys(keys, 3, certs, 1, cert_of, how);
	assert_int_equal(cert_of[0], -1);
	assert_int_equal(how[0], PSM_PAIR_NONE);
	assert_int_equal(cert_of[1], 0);
	assert_int_equal(how[1], PSM_PAIR_ID);
	assert_int_equal(cert_of[2], -1);
	assert_int_equal(how[2], PSM_PAIR_NONE);
}

static void
test_pair_zero_keys(void **state)
{
	psm_pair_obj certs[2];
	long cert_of[1];
	int how[1];

	certs[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[1] = obj(ID(ID_B), PUB(PUB_Q));
	/* nothing may be written: the arrays have no element for a key */
	poison(cert_of, how, 1);
	psm_pair_keys(NULL, 0, certs, 2, cert_of, how);
	assert_int_equal(cert_of[0], POISON_CERT);
	assert_int_equal(how[0], POISON_HOW);
}

static void
test_pair_zero_certs(void **state)
{
	psm_pair_obj keys[2];
	long cert_of[2];
	int how[2];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));
	keys[1] = obj(NO_ID, NO_PUB);
	poison(cert_of, how, 2);
	psm_pair_keys(keys, 2, NULL, 0, cert_of, how);
	assert_int_equal(cert_of[0], -1);
	assert_int_equal(how[0], PSM_PAIR_NONE);
	assert_int_equal(cert_of[1], -1);
	assert_int_equal(how[1], PSM_PAIR_NONE);
}

static void
test_pair_zero_keys_and_zero_certs(void **state)
{
	long cert_of[1] = { POISON_CERT };
	int how[1] = { POISON_HOW };

	psm_pair_keys(NULL, 0, NULL, 0, cert_of, how);
	assert_int_equal(cert_of[0], POISON_CERT);
	assert_int_equal(how[0], POISON_HOW);
}

static void
test_pair_mixed_token(void **state)
{
	psm_pair_obj keys[4], certs[4];
	long cert_of[4];
	int how[4];

	keys[0] = obj(ID(ID_A), PUB(PUB_P));   /* by ID with cert 3 */
	keys[1] = obj(ID(ID_B), PUB(PUB_Q));   /* by key with cert 0 */
	keys[2] = obj(ID(ID_C), NO_PUB);       /* no cert */
	keys[3] = obj(NO_ID, PUB(PUB_R));      /* by key with cert 2 */
	certs[0] = obj(ID(ID_AB), PUB(PUB_Q));
	certs[1] = obj(ID(ID_C), PUB(PUB_P));  /* ID of key 2, key of key 0 */
	certs[2] = obj(NO_ID, PUB(PUB_R));
	certs[3] = obj(ID(ID_A), NO_PUB);
	poison(cert_of, how, 4);
	psm_pair_keys(keys, 4, certs, 4, cert_of, how);
	assert_int_equal(cert_of[0], 3);
	assert_int_equal(how[0], PSM_PAIR_ID);
	assert_int_equal(cert_of[1], 0);
	assert_int_equal(how[1], PSM_PAIR_PUBKEY);
	/* key 2's public key is unknown, so cert 1's ID is enough */
	assert_int_equal(cert_of[2], 1);
	assert_int_equal(how[2], PSM_PAIR_ID);
	assert_int_equal(cert_of[3], 2);
	assert_int_equal(how[3], PSM_PAIR_PUBKEY);
}

static void
test_pair_by_id_certain_match_wins_over_unknown_pubkey(void **state)
{
	psm_pair_obj keys[2], certs[2];
	long cert_of[2];
	int how[2];

	/* key 0's public key is unknown (an EC private key); key 1 provably
	 * owns cert 0, so key 0 gets the other certificate with its ID */
	keys[0] = obj(ID(ID_A), NO_PUB);
	keys[1] = obj(ID(ID_A), PUB(PUB_P));
	certs[0] = obj(ID(ID_A), PUB(PUB_P));
	certs[1] = obj(ID(ID_A), PUB(PUB_Q));
	poison(cert_of, how, 2);
	psm_pair_keys(keys, 2, certs, 2, cert_of, how);
	assert_int_equal(cert_of[1], 0);
	assert_int_equal(cert_of[0], 1);
	assert_int_equal(how[0], PSM_PAIR_ID);
	assert_int_equal(how[1], PSM_PAIR_ID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_by_equal_id),
		cmocka_unit_test(test_pair_by_id_when_public_keys_unknown),
		cmocka_unit_test(test_pair_by_pubkey_when_ids_differ),
		cmocka_unit_test(test_pair_by_pubkey_when_key_has_no_id),
		cmocka_unit_test(test_pair_cert_pairs_with_at_most_one_key_by_id),
		cmocka_unit_test(test_pair_cert_pairs_with_at_most_one_key_by_pubkey),
		cmocka_unit_test(test_pair_cert_taken_by_id_is_not_taken_again_by_pubkey),
		cmocka_unit_test(test_pair_by_id_prefers_matching_pubkey),
		cmocka_unit_test(test_pair_by_id_two_certs_each_key_gets_its_own),
		cmocka_unit_test(test_pair_by_id_falls_back_to_unknown_pubkey_cert),
		cmocka_unit_test(test_pair_refuses_id_match_with_differing_pubkey),
		cmocka_unit_test(test_pair_refuses_id_match_with_differing_pubkey_length),
		cmocka_unit_test(test_pair_refused_id_match_still_pairs_by_pubkey),
		cmocka_unit_test(test_pair_id_prefix_is_not_a_match),
		cmocka_unit_test(test_pair_empty_ids_never_pair_by_id),
		cmocka_unit_test(test_pair_empty_ids_pair_by_pubkey_only),
		cmocka_unit_test(test_pair_empty_pubkeys_never_pair_by_pubkey),
		cmocka_unit_test(test_pair_key_without_cert_gets_none),
		cmocka_unit_test(test_pair_zero_keys),
		cmocka_unit_test(test_pair_zero_certs),
		cmocka_unit_test(test_pair_zero_keys_and_zero_certs),
		cmocka_unit_test(test_pair_mixed_token),
		cmocka_unit_test(test_pair_by_id_certain_match_wins_over_unknown_pubkey),
	};

	return cmocka_run_group_tests_name("pair", tests, NULL, NULL);
}
