/* Unit tests for core/certinfo.c: certificate summaries and public-key
 * identities. Certificates are made in memory with OpenSSL 3. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certinfo.h"
#include "error.h"

/* 2023-11-14T22:13:20Z and a year later; 2052-05-22T14:13:20Z needs a
 * GeneralizedTime (RFC 5280 4.1.2.5). */
#define T0 ((time_t)1700000000)
#define T1 ((time_t)(1700000000 + 365 * 86400))
#define T_2052 ((time_t)2600000000LL)

/* ------------------------------------------------------------------ */
/* Keys, made once for the whole group (RSA key generation is slow).   */

struct keys {
	EVP_PKEY *rsa;
	EVP_PKEY *p256;
	EVP_PKEY *p384;
	EVP_PKEY *ed25519;
};

static int
group_setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return -1;
	k->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	k->p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	k->ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	*state = k;
	if (k->rsa == NULL || k->p256 == NULL || k->p384 == NULL || k->ed25519 == NULL)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	struct keys *k = *state;

	if (k != NULL) {
		EVP_PKEY_free(k->rsa);
		EVP_PKEY_free(k->p256);
		EVP_PKEY_free(k->p384);
		EVP_PKEY_free(k->ed25519);
		free(k);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Certificates                                                        */

/* One rfc822Name: the bytes and their count (to allow an embedded NUL). */
struct san_email {
	const char *v;
	int len;                /* 0: strlen(v) */
};

struct spec {
	const char *cn;         /* UTF-8 */
	const char *email;      /* subject emailAddress, or NULL */
	struct san_email san[4];/* rfc822Names, ended by v == NULL */
	const char *san_dns;    /* a dNSName too, or NULL */
	time_t not_before, not_after;
	int basic_constraints;  /* 0: none, 1: CA:FALSE, 2: CA:TRUE */
};

static int
add_san(X509 *x, const struct spec *s)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int i, ok = 0;

	if (gens == NULL)
		return 0;
	for (i = 0; s->san[i].v != NULL; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
		int len = s->san[i].len ? s->san[i].len : (int)strlen(s->san[i].v);

		if (g == NULL || ia5 == NULL || !ASN1_STRING_set(ia5, s->san[i].v, len)) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(ia5);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_EMAIL, ia5);
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto out;
		}
	}
	if (s->san_dns != NULL) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

		if (g == NULL || ia5 == NULL || !ASN1_STRING_set(ia5, s->san_dns, -1)) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(ia5);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto out;
		}
	}
	ok = sk_GENERAL_NAME_num(gens) == 0 ||
	     X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
out:
	GENERAL_NAMES_free(gens);
	return ok;
}

static int
add_basic_constraints(X509 *x, int ca)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ok;

	if (bc == NULL)
		return 0;
	bc->ca = ca ? 0xff : 0;
	ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1;
	BASIC_CONSTRAINTS_free(bc);
	return ok;
}

/* A self-signed certificate for key as described by s. */
static X509 *
make_cert(EVP_PKEY *key, const struct spec *s)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
	int ok;

	ok = x != NULL && name != NULL &&
	     X509_set_version(x, X509_VERSION_3) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
	     X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	                                (const unsigned char *)s->cn, -1, -1, 0);
	if (ok && s->email != NULL)
		ok = X509_NAME_add_entry_by_NID(name, NID_pkcs9_emailAddress, MBSTRING_ASC,
		                                (const unsigned char *)s->email, -1, -1, 0);
	ok = ok && X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), s->not_before ? s->not_before : T0) != NULL &&
	     ASN1_TIME_set(X509_getm_notAfter(x), s->not_after ? s->not_after : T1) != NULL &&
	     X509_set_pubkey(x, key) && add_san(x, s);
	if (ok && s->basic_constraints)
		ok = add_basic_constraints(x, s->basic_constraints == 2);
	ok = ok && X509_sign(x, key, md) > 0;
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Make a certificate and describe it; both are freed by the caller. */
static psm_certinfo *
describe(EVP_PKEY *key, const struct spec *s, X509 **cert_out)
{
	psm_certinfo *ci = (psm_certinfo *)(uintptr_t)0x1;
	X509 *x = make_cert(key, s);

	assert_non_null(x);
	assert_int_equal(psm_certinfo_new(x, &ci), 0);
	assert_non_null(ci);
	if (cert_out != NULL)
		*cert_out = x;
	else
		X509_free(x);
	return ci;
}

static size_t
count(char *const *list)
{
	size_t n = 0;

	while (list[n] != NULL)
		n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* e-mail addresses                                                    */

static void
test_certinfo_lists_emails_san_first_lowercased_without_duplicates(void **state)
{
	struct keys *k = *state;
	struct spec s = {
		.cn = "Alice Example",
		.email = "alice@EXAMPLE.com",
		.san = { { "Alice@Example.COM", 0 }, { "Bob@Example.ORG", 0 } },
	};
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_non_null(ci->emails);
	assert_int_equal(count(ci->emails), 2);
	assert_string_equal(ci->emails[0], "alice@example.com");
	assert_string_equal(ci->emails[1], "bob@example.org");
	psm_certinfo_free(ci);
}

static void
test_certinfo_appends_subject_email_after_san(void **state)
{
	struct keys *k = *state;
	struct spec s = {
		.cn = "Carol",
		.email = "Carol@Subject.example",
		.san = { { "carol@san.example", 0 } },
	};
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_int_equal(count(ci->emails), 2);
	assert_string_equal(ci->emails[0], "carol@san.example");
	assert_string_equal(ci->emails[1], "carol@subject.example");
	psm_certinfo_free(ci);
}

static void
test_certinfo_drops_duplicate_san_emails(void **state)
{
	struct keys *k = *state;
	struct spec s = {
		.cn = "Dave",
		.san = { { "dave@x.example", 0 }, { "DAVE@X.EXAMPLE", 0 }, { "dave@x.example", 0 } },
	};
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_int_equal(count(ci->emails), 1);
	assert_string_equal(ci->emails[0], "dave@x.example");
	psm_certinfo_free(ci);
}

static void
test_certinfo_subject_email_only(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Erin", .email = "Erin@Only.Subject" };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_int_equal(count(ci->emails), 1);
	assert_string_equal(ci->emails[0], "erin@only.subject");
	psm_certinfo_free(ci);
}

static void
test_certinfo_without_emails_gives_empty_list(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "No Mail", .san_dns = "host.example" };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_non_null(ci->emails);
	assert_null(ci->emails[0]);
	psm_certinfo_free(ci);
}

static void
test_certinfo_ignores_non_email_san_entries(void **state)
{
	struct keys *k = *state;
	struct spec s = {
		.cn = "Frank",
		.san = { { "frank@x.example", 0 } },
		.san_dns = "frank.example",
	};
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_int_equal(count(ci->emails), 1);
	assert_string_equal(ci->emails[0], "frank@x.example");
	psm_certinfo_free(ci);
}

static void
test_certinfo_skips_email_with_embedded_nul(void **state)
{
	static const char evil[] = "mallory@evil.example\0@bank.example";
	struct keys *k = *state;
	struct spec s = {
		.cn = "Mallory",
		.san = { { evil, (int)sizeof(evil) - 1 }, { "good@x.example", 0 } },
	};
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_int_equal(count(ci->emails), 1);
	assert_string_equal(ci->emails[0], "good@x.example");
	psm_certinfo_free(ci);
}

/* ------------------------------------------------------------------ */
/* names, validity, CA                                                 */

static void
test_certinfo_subject_is_rfc2253_one_line(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Alice Example", .email = "alice@example.com" };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_non_null(ci->subject);
	/* RFC 2253 lists the last RDN first */
	assert_string_equal(ci->subject, "emailAddress=alice@example.com,CN=Alice Example");
	assert_null(strchr(ci->subject, '\n'));
	psm_certinfo_free(ci);
}

static void
test_certinfo_subject_keeps_utf8(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Zo\xc3\xab M\xc3\xbcller" };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_string_equal(ci->subject, "CN=Zo\xc3\xab M\xc3\xbcller");
	psm_certinfo_free(ci);
}

static void
test_certinfo_subject_escapes_rfc2253_specials(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Doe, John+Jr" };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_string_equal(ci->subject, "CN=Doe\\, John\\+Jr");
	psm_certinfo_free(ci);
}

static void
test_certinfo_issuer_of_self_signed_equals_subject(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Self", .email = "self@x.example" };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_non_null(ci->issuer);
	assert_string_equal(ci->issuer, ci->subject);
	psm_certinfo_free(ci);
}

static void
test_certinfo_validity_as_time_t(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Dates", .not_before = T0, .not_after = T1 };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_int_equal(ci->not_before, T0);
	assert_int_equal(ci->not_after, T1);
	psm_certinfo_free(ci);
}

static void
test_certinfo_validity_after_2049_uses_generalized_time(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Far", .not_before = T0, .not_after = T_2052 };
	X509 *x = NULL;
	psm_certinfo *ci = describe(k->p256, &s, &x);

	assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(x)), V_ASN1_GENERALIZEDTIME);
	assert_int_equal(ci->not_after, T_2052);
	psm_certinfo_free(ci);
	X509_free(x);
}

static void
test_certinfo_is_ca_for_ca_cert(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Root CA", .basic_constraints = 2 };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_true(ci->is_ca);
	psm_certinfo_free(ci);
}

static void
test_certinfo_is_not_ca_for_end_entity(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Leaf", .basic_constraints = 1 };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_false(ci->is_ca);
	psm_certinfo_free(ci);
}

static void
test_certinfo_is_not_ca_without_basic_constraints(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Plain v3" };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_false(ci->is_ca);
	psm_certinfo_free(ci);
}

/* ------------------------------------------------------------------ */
/* key type, size, curve and identity                                  */

static void
test_certinfo_rsa_2048_type_and_bits(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "RSA" };
	psm_certinfo *ci = describe(k->rsa, &s, NULL);

	assert_int_equal(ci->key_type, EVP_PKEY_RSA);
	assert_int_equal(ci->bits, 2048);
	assert_null(ci->curve);
	psm_certinfo_free(ci);
}

static void
test_certinfo_ec_p256_curve(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "P-256" };
	psm_certinfo *ci = describe(k->p256, &s, NULL);

	assert_int_equal(ci->key_type, EVP_PKEY_EC);
	assert_int_equal(ci->bits, 256);
	assert_non_null(ci->curve);
	assert_string_equal(ci->curve, "P-256");
	psm_certinfo_free(ci);
}

static void
test_certinfo_ec_p384_curve(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "P-384" };
	psm_certinfo *ci = describe(k->p384, &s, NULL);

	assert_int_equal(ci->key_type, EVP_PKEY_EC);
	assert_int_equal(ci->bits, 384);
	assert_non_null(ci->curve);
	assert_string_equal(ci->curve, "P-384");
	psm_certinfo_free(ci);
}

/* BN_bn2bin of the RSA modulus n; malloc'd. */
static unsigned char *
rsa_modulus(EVP_PKEY *pkey, size_t *len)
{
	BIGNUM *n = NULL;
	unsigned char *buf;

	assert_true(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n));
	*len = (size_t)BN_num_bytes(n);
	buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(BN_bn2bin(n, buf), (int)*len);
	BN_free(n);
	return buf;
}

static void
test_certinfo_pub_is_rsa_modulus(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "RSA" };
	psm_certinfo *ci = describe(k->rsa, &s, NULL);
	size_t nlen;
	unsigned char *n = rsa_modulus(k->rsa, &nlen);

	assert_int_equal(nlen, 256);
	assert_int_equal(ci->pub_len, nlen);
	assert_memory_equal(ci->pub, n, nlen);
	free(n);
	psm_certinfo_free(ci);
}

static void
test_certinfo_pub_is_uncompressed_ec_point(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "EC" };
	X509 *x = NULL;
	psm_certinfo *ci = describe(k->p256, &s, &x);
	const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);

	/* the subjectPublicKey BIT STRING holds the point (RFC 5480 2.2) */
	assert_int_equal(ci->pub_len, 65);
	assert_int_equal(ci->pub[0], 0x04);
	assert_int_equal(ASN1_STRING_length(bits), 65);
	assert_memory_equal(ci->pub, ASN1_STRING_get0_data(bits), 65);
	psm_certinfo_free(ci);
	X509_free(x);
}

static void
test_certinfo_ed25519_has_no_pub_identity(void **state)
{
	struct keys *k = *state;
	struct spec s = { .cn = "Edwards", .email = "ed@x.example" };
	psm_certinfo *ci = describe(k->ed25519, &s, NULL);

	assert_int_equal(ci->key_type, EVP_PKEY_ED25519);
	assert_null(ci->curve);
	assert_null(ci->pub);
	assert_int_equal(ci->pub_len, 0);
	assert_int_equal(count(ci->emails), 1);
	psm_certinfo_free(ci);
}

static void
test_certinfo_free_accepts_null(void **state)
{
	psm_certinfo_free(NULL);
}

static void
test_pubkey_identity_rsa_is_modulus(void **state)
{
	struct keys *k = *state;
	unsigned char *out = (unsigned char *)(uintptr_t)0x1, *n;
	size_t out_len = 12345, nlen;

	assert_int_equal(psm_pubkey_identity(k->rsa, &out, &out_len), 0);
	n = rsa_modulus(k->rsa, &nlen);
	assert_non_null(out);
	assert_int_equal(out_len, nlen);
	assert_memory_equal(out, n, nlen);
	assert_true(out[0] != 0);
	free(n);
	free(out);
}

static void
test_pubkey_identity_of_cert_key_equals_private_key(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *both[2] = { k->rsa, k->p384 };
	size_t i;

	for (i = 0; i < 2; i++) {
		struct spec s = { .cn = "Same key" };
		X509 *x = make_cert(both[i], &s);
		unsigned char *a = NULL, *b = NULL;
		size_t alen = 0, blen = 0;

		assert_non_null(x);
		assert_int_equal(psm_pubkey_identity(both[i], &a, &alen), 0);
		assert_int_equal(psm_pubkey_identity(X509_get0_pubkey(x), &b, &blen), 0);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, alen);
		free(a);
		free(b);
		X509_free(x);
	}
}

static void
test_pubkey_identity_ec_is_uncompressed_point(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *ec[2] = { k->p256, k->p384 };
	size_t want[2] = { 65, 97 };
	size_t i;

	for (i = 0; i < 2; i++) {
		struct spec s = { .cn = "EC" };
		X509 *x = make_cert(ec[i], &s);
		const ASN1_BIT_STRING *bits;
		unsigned char *out = NULL;
		size_t out_len = 0;

		assert_non_null(x);
		bits = X509_get0_pubkey_bitstr(x);
		assert_int_equal(psm_pubkey_identity(ec[i], &out, &out_len), 0);
		assert_int_equal(out_len, want[i]);
		assert_int_equal(out[0], 0x04);
		assert_int_equal(ASN1_STRING_length(bits), (int)want[i]);
		assert_memory_equal(out, ASN1_STRING_get0_data(bits), want[i]);
		free(out);
		X509_free(x);
	}
}

static void
test_pubkey_identity_of_compressed_cert_point_is_uncompressed(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *dup = EVP_PKEY_dup(k->p256);
	struct spec s = { .cn = "Compressed" };
	unsigned char *want = NULL, *got = NULL;
	size_t want_len = 0, got_len = 0;
	X509 *x;

	assert_non_null(dup);
	assert_true(EVP_PKEY_set_utf8_string_param(
		dup, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
		OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED));
	x = make_cert(dup, &s);
	assert_non_null(x);
	/* the certificate really carries a 33-byte compressed point */
	assert_int_equal(ASN1_STRING_length(X509_get0_pubkey_bitstr(x)), 33);

	assert_int_equal(psm_pubkey_identity(k->p256, &want, &want_len), 0);
	assert_int_equal(psm_pubkey_identity(X509_get0_pubkey(x), &got, &got_len), 0);
	assert_int_equal(got_len, 65);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	free(want);
	free(got);
	X509_free(x);
	EVP_PKEY_free(dup);
}

static void
test_pubkey_identity_unsupported_key_resets_out(void **state)
{
	struct keys *k = *state;
	unsigned char *out = (unsigned char *)(uintptr_t)0x1;
	size_t out_len = 12345;

	assert_int_equal(psm_pubkey_identity(k->ed25519, &out, &out_len), PSM_ERR_NOT_FOUND);
	assert_null(out);
	assert_int_equal(out_len, 0);
}

/* ------------------------------------------------------------------ */
/* psm_bn_strip                                                        */

static void
test_bn_strip_removes_leading_zeros(void **state)
{
	static const unsigned char v[] = { 0x00, 0x00, 0x00, 0x81, 0x00, 0x01 };
	size_t len = sizeof(v);
	const unsigned char *p = psm_bn_strip(v, &len);

	assert_ptr_equal(p, v + 3);
	assert_int_equal(len, 3);
}

static void
test_bn_strip_leaves_one_byte_of_zero(void **state)
{
	static const unsigned char v[] = { 0x00, 0x00, 0x00 };
	size_t len = sizeof(v);
	const unsigned char *p = psm_bn_strip(v, &len);

	assert_int_equal(len, 1);
	assert_ptr_equal(p, v + 2);
	assert_int_equal(p[0], 0);
}

static void
test_bn_strip_leaves_unpadded_integer_alone(void **state)
{
	static const unsigned char v[] = { 0x80, 0x00 };
	size_t len = sizeof(v);

	assert_ptr_equal(psm_bn_strip(v, &len), v);
	assert_int_equal(len, 2);
}

static void
test_bn_strip_leaves_empty_input_alone(void **state)
{
	static const unsigned char v[1] = { 0 };
	size_t len = 0;

	assert_ptr_equal(psm_bn_strip(v, &len), v);
	assert_int_equal(len, 0);
}

/* ------------------------------------------------------------------ */
/* psm_ec_point_unwrap                                                 */

/* An uncompressed point of coord bytes per coordinate, starting with 04,
 * whose first X byte is x0 and the rest a pattern. */
static void
fill_point(unsigned char *pt, size_t coord, unsigned char x0)
{
	size_t i;

	pt[0] = 0x04;
	pt[1] = x0;
	for (i = 2; i < 1 + 2 * coord; i++)
		pt[i] = (unsigned char)(i * 7 + 3);
}

static void
test_ec_point_unwrap_der_octet_string(void **state)
{
	unsigned char der[2 + 65];
	size_t len = sizeof(der);
	const unsigned char *p;

	der[0] = 0x04;
	der[1] = 0x41;
	fill_point(der + 2, 32, 0xab);
	p = psm_ec_point_unwrap(der, &len);
	assert_ptr_equal(p, der + 2);
	assert_int_equal(len, 65);
	assert_int_equal(p[0], 0x04);
}

static void
test_ec_point_unwrap_der_long_form_length(void **state)
{
	unsigned char der[3 + 133];     /* P-521: 04 81 85 04 ... */
	size_t len = sizeof(der);
	const unsigned char *p;

	der[0] = 0x04;
	der[1] = 0x81;
	der[2] = 0x85;
	fill_point(der + 3, 66, 0x01);
	p = psm_ec_point_unwrap(der, &len);
	assert_ptr_equal(p, der + 3);
	assert_int_equal(len, 133);
}

static void
test_ec_point_unwrap_leaves_raw_point_alone(void **state)
{
	unsigned char raw[65];
	size_t len = sizeof(raw);

	/* 04 ab ...: read as DER that is a long-form length that cannot fit */
	fill_point(raw, 32, 0xab);
	assert_ptr_equal(psm_ec_point_unwrap(raw, &len), raw);
	assert_int_equal(len, 65);

	/* 04 10 ...: read as DER that is 16 bytes of content, not 63 */
	fill_point(raw, 32, 0x10);
	len = sizeof(raw);
	assert_ptr_equal(psm_ec_point_unwrap(raw, &len), raw);
	assert_int_equal(len, 65);
}

static void
test_ec_point_unwrap_leaves_raw_p384_point_alone(void **state)
{
	unsigned char raw[97];
	size_t len = sizeof(raw);

	fill_point(raw, 48, 0x81);      /* 04 81 xx: a long form that cannot fit */
	assert_ptr_equal(psm_ec_point_unwrap(raw, &len), raw);
	assert_int_equal(len, 97);
}

static void
test_ec_point_unwrap_leaves_raw_point_whose_x_looks_like_a_length(void **state)
{
	unsigned char raw[65];
	size_t len = sizeof(raw);

	/* a raw P-256 point whose X starts with 0x3f: 2 + 0x3f == 65, so it
	 * reads as a DER OCTET STRING of 63 bytes, which is no EC point */
	fill_point(raw, 32, 0x3f);
	assert_ptr_equal(psm_ec_point_unwrap(raw, &len), raw);
	assert_int_equal(len, 65);
}

static void
test_ec_point_unwrap_leaves_other_input_alone(void **state)
{
	static const unsigned char seq[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	static const unsigned char one[] = { 0x04 };
	static const unsigned char short_der[] = { 0x04, 0x05, 0x04, 0x01 };
	size_t len;

	len = sizeof(seq);
	assert_ptr_equal(psm_ec_point_unwrap(seq, &len), seq);
	assert_int_equal(len, sizeof(seq));
	len = sizeof(one);
	assert_ptr_equal(psm_ec_point_unwrap(one, &len), one);
	assert_int_equal(len, sizeof(one));
	len = sizeof(short_der);
	assert_ptr_equal(psm_ec_point_unwrap(short_der, &len), short_der);
	assert_int_equal(len, sizeof(short_der));
}

/* ------------------------------------------------------------------ */
/* psm_hex_encode, psm_asn1_time_to_time_t                             */

static void
test_hex_encode_is_lower_case(void **state)
{
	static const unsigned char v[] = { 0x00, 0x01, 0x7f, 0xab, 0xcd, 0xff };
	char *s = psm_hex_encode(v, sizeof(v));

	assert_non_null(s);
	assert_string_equal(s, "00017fabcdff");
	free(s);
}

static void
test_hex_encode_empty_is_empty_string(void **state)
{
	static const unsigned char v[1] = { 0 };
	char *s = psm_hex_encode(v, 0);

	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

static void
test_asn1_time_utctime_to_time_t(void **state)
{
	ASN1_TIME *t = ASN1_TIME_new();

	assert_non_null(t);
	assert_true(ASN1_TIME_set_string(t, "231114221320Z"));
	assert_int_equal(ASN1_STRING_type(t), V_ASN1_UTCTIME);
	assert_int_equal(psm_asn1_time_to_time_t(t), T0);
	ASN1_TIME_free(t);
}

static void
test_asn1_time_generalized_time_to_time_t(void **state)
{
	ASN1_TIME *t = ASN1_TIME_new();

	assert_non_null(t);
	assert_true(ASN1_TIME_set_string(t, "20520522141320Z"));
	assert_int_equal(ASN1_STRING_type(t), V_ASN1_GENERALIZEDTIME);
	assert_int_equal(psm_asn1_time_to_time_t(t), T_2052);
	ASN1_TIME_free(t);
}

static void
test_asn1_time_before_1970_is_negative(void **state)
{
	ASN1_TIME *t = ASN1_TIME_new();

	assert_non_null(t);
	assert_true(ASN1_TIME_set_string(t, "600101000000Z"));   /* UTCTime: 1960 */
	assert_int_equal(psm_asn1_time_to_time_t(t), (time_t)-315619200);
	ASN1_TIME_free(t);
}

static void
test_asn1_time_null_is_zero(void **state)
{
	assert_int_equal(psm_asn1_time_to_time_t(NULL), 0);
}

static void
test_asn1_time_garbage_is_zero(void **state)
{
	ASN1_STRING *t = ASN1_STRING_type_new(V_ASN1_UTCTIME);

	assert_non_null(t);
	assert_true(ASN1_STRING_set(t, "not a time", -1));
	assert_int_equal(psm_asn1_time_to_time_t(t), 0);
	ASN1_STRING_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_certinfo_lists_emails_san_first_lowercased_without_duplicates),
		cmocka_unit_test(test_certinfo_appends_subject_email_after_san),
		cmocka_unit_test(test_certinfo_drops_duplicate_san_emails),
		cmocka_unit_test(test_certinfo_subject_email_only),
		cmocka_unit_test(test_certinfo_without_emails_gives_empty_list),
		cmocka_unit_test(test_certinfo_ignores_non_email_san_entries),
		cmocka_unit_test(test_certinfo_skips_email_with_embedded_nul),

		cmocka_unit_test(test_certinfo_subject_is_rfc2253_one_line),
		cmocka_unit_test(test_certinfo_subject_keeps_utf8),
		cmocka_unit_test(test_certinfo_subject_escapes_rfc2253_specials),
		cmocka_unit_test(test_certinfo_issuer_of_self_signed_equals_subject),
		cmocka_unit_test(test_certinfo_validity_as_time_t),
		cmocka_unit_test(test_certinfo_validity_after_2049_uses_generalized_time),
		cmocka_unit_test(test_certinfo_is_ca_for_ca_cert),
		cmocka_unit_test(test_certinfo_is_not_ca_for_end_entity),
		cmocka_unit_test(test_certinfo_is_not_ca_without_basic_constraints),

		cmocka_unit_test(test_certinfo_rsa_2048_type_and_bits),
		cmocka_unit_test(test_certinfo_ec_p256_curve),
		cmocka_unit_test(test_certinfo_ec_p384_curve),
		cmocka_unit_test(test_certinfo_pub_is_rsa_modulus),
		cmocka_unit_test(test_certinfo_pub_is_uncompressed_ec_point),
		cmocka_unit_test(test_certinfo_ed25519_has_no_pub_identity),
		cmocka_unit_test(test_certinfo_free_accepts_null),

		cmocka_unit_test(test_pubkey_identity_rsa_is_modulus),
		cmocka_unit_test(test_pubkey_identity_of_cert_key_equals_private_key),
		cmocka_unit_test(test_pubkey_identity_ec_is_uncompressed_point),
		cmocka_unit_test(test_pubkey_identity_of_compressed_cert_point_is_uncompressed),
		cmocka_unit_test(test_pubkey_identity_unsupported_key_resets_out),

		cmocka_unit_test(test_bn_strip_removes_leading_zeros),
		cmocka_unit_test(test_bn_strip_leaves_one_byte_of_zero),
		cmocka_unit_test(test_bn_strip_leaves_unpadded_integer_alone),
		cmocka_unit_test(test_bn_strip_leaves_empty_input_alone),

		cmocka_unit_test(test_ec_point_unwrap_der_octet_string),
		cmocka_unit_test(test_ec_point_unwrap_der_long_form_length),
		cmocka_unit_test(test_ec_point_unwrap_leaves_raw_point_alone),
		cmocka_unit_test(test_ec_point_unwrap_leaves_raw_p384_point_alone),
		cmocka_unit_test(test_ec_point_unwrap_leaves_raw_point_whose_x_looks_like_a_length),
		cmocka_unit_test(test_ec_point_unwrap_leaves_other_input_alone),

		cmocka_unit_test(test_hex_encode_is_lower_case),
		cmocka_unit_test(test_hex_encode_empty_is_empty_string),
		cmocka_unit_test(test_asn1_time_utctime_to_time_t),
		cmocka_unit_test(test_asn1_time_generalized_time_to_time_t),
		cmocka_unit_test(test_asn1_time_before_1970_is_negative),
		cmocka_unit_test(test_asn1_time_null_is_zero),
		cmocka_unit_test(test_asn1_time_garbage_is_zero),
	};

	return cmocka_run_group_tests_name("certinfo", tests, group_setup, group_teardown);
}
