/* p11smime: PKCS#12 files and certificate files read, certificate
 * requests made: what goes onto a token (see csr.h). */
#include "config.h"

#include "csr.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

/* Caps on what is read whole: a PKCS#12 file or a certificate bundle is
 * a few kilobytes; anything near these is not one. */
#define P12_MAX       (4u << 20)
#define CERTFILE_MAX  (4u << 20)

/* The file at path, whole (at most cap bytes); *buf is malloc'd. */
static int
slurp(const char *path, size_t cap, unsigned char **buf, size_t *len)
{
	unsigned char *b = NULL;
	size_t got;
	FILE *f;
	int r = PSM_ERR_IO;

	*buf = NULL;
	*len = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		psm_error_set("cannot read %s: %s", path, strerror(errno));
		return PSM_ERR_IO;
	}
	if ((b = malloc(cap + 1)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	got = fread(b, 1, cap + 1, f);
	if (ferror(f)) {
		psm_error_set("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (got > cap) {
		psm_error_set("%s is larger than %u MiB: it is not a key or certificate file",
		              path, (unsigned)(cap >> 20));
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	if (got == 0) {
		psm_error_set("%s is empty", path);
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	*buf = b;
	*len = got;
	b = NULL; /* transferred */
	r = 0;
out:
	OPENSSL_clear_free(b, cap + 1);
	fclose(f);
	return r;
}

/* ---- PKCS#12 --------------------------------------------------------- */

/* "default" is loaded explicitly alongside "legacy": once a provider has
 * been loaded by name, OpenSSL no longer falls back to the default one by
 * itself. It stays loaded (it is what OpenSSL would use anyway). */
static CRYPTO_ONCE default_once = CRYPTO_ONCE_STATIC_INIT;
static OSSL_PROVIDER *default_prov;

static void
default_load(void)
{
	default_prov = OSSL_PROVIDER_load(NULL, "default");
}

void
psm_p12_free(psm_p12 *p12)
{
	if (p12 == NULL)
		return;
	EVP_PKEY_free(p12->key);
	X509_free(p12->cert);
	sk_X509_pop_free(p12->others, X509_free);
	free(p12->friendly_name);
	free(p12);
}

/* Is the error on OpenSSL's queue one of "no such algorithm here"? */
static int
unsupported_algorithm(void)
{
	unsigned long e;
	int reason;

	while ((e = ERR_get_error()) != 0) {
		reason = ERR_GET_REASON(e);
		if (reason == ERR_R_UNSUPPORTED || reason == EVP_R_UNSUPPORTED_ALGORITHM ||
		    reason == EVP_R_UNSUPPORTED_CIPHER || reason == ERR_R_FETCH_FAILED)
			return 1;
	}
	return 0;
}

/* The certificate of key among p12's others, taken out of them. */
static X509 *
take_key_cert(psm_p12 *p12)
{
	int i;

	for (i = 0; i < sk_X509_num(p12->others); i++) {
		X509 *x = sk_X509_value(p12->others, i);

		if (X509_check_private_key(x, p12->key) == 1) {
			(void)sk_X509_delete(p12->others, i);
			ERR_clear_error();
			return x;
		}
	}
	ERR_clear_error();
	return NULL;
}

/* Check the password against the file's MAC, when it has one: 1 right,
 * 0 wrong, -1 the MAC cannot be computed (an algorithm OpenSSL lacks). */
static int
mac_checks(PKCS12 *p12, const char *pw, size_t pw_len)
{
	ERR_clear_error();
	if (pw != NULL ? PKCS12_verify_mac(p12, pw, (int)pw_len)
	               : PKCS12_verify_mac(p12, NULL, 0) || PKCS12_verify_mac(p12, "", 0))
		return 1;
	/* a MAC that differs leaves nothing on the queue */
	return ERR_peek_error() == 0 ? 0 : -1;
}

int
psm_p12_read(const char *path, psm_pin_source *pass, psm_p12 **out)
{
	OSSL_PROVIDER *legacy = NULL;
	unsigned char *buf = NULL;
	const unsigned char *p;
	const unsigned char *alias;
	PKCS12 *p12 = NULL;
	psm_p12 *res = NULL;
	char *pw = NULL;
	char desc[160];
	size_t len = 0, pw_len = 0;
	int mac, alias_len = 0, r = PSM_ERR_INTERNAL;

	*out = NULL;
	if ((r = slurp(path, P12_MAX, &buf, &len)) < 0)
		return r;
	p = buf;
	if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		psm_error_set("%s is not a PKCS#12 file (.p12, .pfx)", path);
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	if (pass != NULL) {
		snprintf(desc, sizeof(desc), "password of %s", path);
		if ((r = psm_pin_source_get(pass, desc, &pw, &pw_len)) < 0)
			goto out;
	}
	/* a wrong password is told by the MAC before anything is decrypted */
	if (PKCS12_mac_present(p12) && (mac = mac_checks(p12, pw, pw_len)) <= 0) {
		if (mac < 0)
			psm_error_set("%s is protected by an integrity algorithm this OpenSSL cannot "
			              "compute; export it again with AES and SHA-256", path);
		else if (pw == NULL)
			psm_error_set("%s is protected by a password: give it with --pass-source "
			              "(file:PATH, fd:N, tty or pinentry)", path);
		else
			psm_error_set("the PKCS#12 password is wrong for %s", path);
		r = mac < 0 ? PSM_ERR_MALFORMED : PSM_ERR_USAGE;
		goto out;
	}
	/* older exports encrypt with RC2-40 (and 3DES): the legacy provider */
	if (!CRYPTO_THREAD_run_once(&default_once, default_load) || default_prov == NULL) {
		r = psm_error_from_openssl(PSM_ERR_INTERNAL, "loading OpenSSL's default provider");
		goto out;
	}
	legacy = OSSL_PROVIDER_load(NULL, "legacy");
	ERR_clear_error();
	if (!PKCS12_parse(p12, pw, &res->key, &res->cert, &res->others)) {
		if (unsupported_algorithm() && legacy == NULL)
			psm_error_set("%s is encrypted with an old algorithm (RC2) that needs "
			              "OpenSSL's legacy provider (ossl-modules/legacy.so), which cannot "
			              "be loaded here", path);
		else if (!PKCS12_mac_present(p12))
			psm_error_set("%s cannot be decrypted: the PKCS#12 password is wrong, or the "
			              "file is damaged", path);
		else
			psm_error_set("%s cannot be read as a PKCS#12 file (damaged, or an algorithm "
			              "this OpenSSL lacks)", path);
		ERR_clear_error();
		r = !PKCS12_mac_present(p12) ? PSM_ERR_USAGE : PSM_ERR_MALFORMED;
		goto out;
	}
	psm_pin_free(pw);
	pw = NULL;
	if (res->others == NULL && (res->others = sk_X509_new_null()) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	if (res->key == NULL) {
		psm_error_set("%s holds no private key, only certificates; put a certificate on "
		              "a token with 'p11smime import-cert'", path);
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	if (res->cert == NULL && (res->cert = take_key_cert(res)) == NULL) {
		psm_error_set("%s holds a private key but not its certificate", path);
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	if (X509_check_private_key(res->cert, res->key) != 1) {
		ERR_clear_error();
		psm_error_set("the certificate in %s is not the one of its private key", path);
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	alias = X509_alias_get0(res->cert, &alias_len);
	if (alias != NULL && alias_len > 0) {
		if ((res->friendly_name = malloc((size_t)alias_len + 1)) == NULL) {
			r = PSM_ERR_NOMEM;
			goto out;
		}
		memcpy(res->friendly_name, alias, (size_t)alias_len);
		res->friendly_name[alias_len] = '\0';
	}
	*out = res;
	res = NULL; /* transferred */
	r = 0;
out:
	psm_pin_free(pw);
	if (legacy != NULL)
		OSSL_PROVIDER_unload(legacy);
	PKCS12_free(p12);
	psm_p12_free(res);
	OPENSSL_clear_free(buf, len);
	ERR_clear_error();
	return r;
}

/* ---- certificate files ------------------------------------------------ */

static int
push_certs(STACK_OF(X509) *to, STACK_OF(X509) *from)
{
	int i;

	for (i = 0; from != NULL && i < sk_X509_num(from); i++) {
		X509 *x = sk_X509_value(from, i);

		if (!X509_up_ref(x))
			return PSM_ERR_NOMEM;
		if (!sk_X509_push(to, x)) {
			X509_free(x);
			return PSM_ERR_NOMEM;
		}
	}
	return 0;
}

/* The certificates of a PKCS#7 SignedData ("certs-only"). */
static int
pkcs7_certs(PKCS7 *p7, STACK_OF(X509) *to)
{
	if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL)
		return 0;
	return push_certs(to, p7->d.sign->cert);
}

static int
pem_certs(const unsigned char *buf, size_t len, STACK_OF(X509) *to)
{
	STACK_OF(X509_INFO) *infos = NULL;
	BIO *b = BIO_new_mem_buf(buf, (int)len);
	PKCS7 *p7 = NULL;
	int i, r = 0;

	if (b == NULL)
		return PSM_ERR_NOMEM;
	infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509 == NULL)
			continue;
		if (!sk_X509_push(to, xi->x509)) {
			r = PSM_ERR_NOMEM;
			break;
		}
		xi->x509 = NULL; /* transferred */
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (r == 0 && sk_X509_num(to) == 0 && BIO_reset(b) == 0 &&
	    (p7 = PEM_read_bio_PKCS7(b, NULL, NULL, NULL)) != NULL)
		r = pkcs7_certs(p7, to);
	PKCS7_free(p7);
	BIO_free(b);
	return r;
}

static int
der_certs(const unsigned char *buf, size_t len, STACK_OF(X509) *to)
{
	const unsigned char *p = buf;
	X509 *x;
	PKCS7 *p7;
	int r;

	if ((x = d2i_X509(NULL, &p, (long)len)) != NULL) {
		if (!sk_X509_push(to, x)) {
			X509_free(x);
			return PSM_ERR_NOMEM;
		}
		return 0;
	}
	p = buf;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	r = pkcs7_certs(p7, to);
	PKCS7_free(p7);
	return r;
}

int
psm_certfile_read(const char *path, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = slurp(path, CERTFILE_MAX, &buf, &len)) < 0)
		return r;
	if ((sk = sk_X509_new_null()) == NULL) {
		free(buf);
		return PSM_ERR_NOMEM;
	}
	if (len >= 11 && memmem(buf, len, "-----BEGIN ", 11) != NULL)
		r = pem_certs(buf, len, sk);
	else
		r = der_certs(buf, len, sk);
	free(buf);
	ERR_clear_error();
	if (r == 0 && sk_X509_num(sk) == 0) {
		psm_error_set("%s holds no certificate (PEM, DER or PKCS#7 expected)", path);
		r = PSM_ERR_MALFORMED;
	}
	if (r < 0) {
		sk_X509_pop_free(sk, X509_free);
		return r;
	}
	*out = sk;
	return 0;
}

/* ---- certificate requests --------------------------------------------- */

/* An address that fits an rfc822Name (an IA5String, RFC 5280 section
 * 4.2.1.6) and PKCS#9 emailAddress (at most 255 characters): local@domain,
 * printable ASCII without spaces or the characters that delimit addresses
 * in headers. Internationalised addresses (RFC 8398) are not handled. */
static int
email_fits(const char *s)
{
	const char *at = strchr(s, '@');
	size_t i;

	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
	    strlen(s) > 255)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>,;:\"()[]\\", c) != NULL)
			return 0;
	}
	return 1;
}

static int
name_fits(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64 * 4)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* The extensions requested: SAN rfc822Name, keyUsage, EKU emailProtection. */
static int
request_extensions(X509_REQ *req, const psm_csr_params *p, int is_ec)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *san = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	ASN1_OBJECT *prot = OBJ_nid2obj(NID_email_protect);
	int ok = 0;

	if (san == NULL || gn == NULL || ia5 == NULL || ku == NULL || eku == NULL || prot == NULL ||
	    !ASN1_STRING_set(ia5, p->email, -1))
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_EMAIL, ia5);
	ia5 = NULL; /* transferred */
	if (!sk_GENERAL_NAME_push(san, gn))
		goto out;
	gn = NULL; /* transferred */
	/* RFC 5280 section 4.2.1.3 bits: 0 digitalSignature, 2 keyEncipherment,
	 * 4 keyAgreement */
	if ((p->sign && !ASN1_BIT_STRING_set_bit(ku, 0, 1)) ||
	    (p->encrypt && !ASN1_BIT_STRING_set_bit(ku, is_ec ? 4 : 2, 1)))
		goto out;
	if (!sk_ASN1_OBJECT_push(eku, prot))
		goto out;
	prot = NULL; /* transferred (a static object; freeing it is a no-op) */
	if (X509V3_add1_i2d(&exts, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) != 1 ||
	    X509V3_add1_i2d(&exts, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1 ||
	    X509V3_add1_i2d(&exts, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1 ||
	    !X509_REQ_add_extensions(req, exts))
		goto out;
	ok = 1;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(san);
	GENERAL_NAME_free(gn);
	ASN1_IA5STRING_free(ia5);
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return ok;
}

static const EVP_MD *
request_digest(EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
		if (EVP_PKEY_get_bits(key) > 384)
			return EVP_sha512();
		if (EVP_PKEY_get_bits(key) > 256)
			return EVP_sha384();
	}
	return EVP_sha256();
}

int
psm_csr_make(EVP_PKEY *key, const psm_csr_params *p, char **pem, size_t *pem_len)
{
	const char *name = p->name != NULL ? p->name : p->email;
	X509_REQ *req = NULL;
	X509_NAME *subj;
	BIO *mem = NULL;
	char *data = NULL, *copy = NULL;
	long n;
	int type = EVP_PKEY_get_base_id(key);
	int r = PSM_ERR_INTERNAL;

	*pem = NULL;
	*pem_len = 0;
	if (p->email == NULL || !email_fits(p->email)) {
		psm_error_set("'%s' is not an e-mail address that fits a certificate (ASCII "
		              "local@domain, no spaces)", p->email != NULL ? p->email : "");
		return PSM_ERR_USAGE;
	}
	if (!name_fits(name)) {
		psm_error_set("the name must be 1 to 64 characters without control characters");
		return PSM_ERR_USAGE;
	}
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
		psm_error_set("only RSA and EC keys can be certified for S/MIME here");
		return PSM_ERR_KEY_USAGE;
	}
	if (!p->sign && !p->encrypt) {
		psm_error_set("the key may neither sign nor decrypt: no certificate can be asked for it");
		return PSM_ERR_KEY_USAGE;
	}
	if ((req = X509_REQ_new()) == NULL || !X509_REQ_set_version(req, 0) ||
	    (subj = X509_REQ_get_subject_name(req)) == NULL)
		goto nomem;
	if (!X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
	                                (const unsigned char *)name, -1, -1, 0)) {
		ERR_clear_error();
		psm_error_set("the name is not valid UTF-8 of at most 64 characters");
		r = PSM_ERR_USAGE;
		goto out;
	}
	if (!X509_NAME_add_entry_by_NID(subj, NID_pkcs9_emailAddress, MBSTRING_ASC,
	                                (const unsigned char *)p->email, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, key) || !request_extensions(req, p, type == EVP_PKEY_EC)) {
		r = psm_error_from_openssl(PSM_ERR_CRYPTO, "building the certificate request");
		goto out;
	}
	ERR_clear_error();
	if (X509_REQ_sign(req, key, request_digest(key)) <= 0) {
		r = psm_error_from_openssl(PSM_ERR_TOKEN, "signing the certificate request with the key");
		goto out;
	}
	if (X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
		r = psm_error_from_openssl(PSM_ERR_TOKEN, "the key's signature on the request does "
		                           "not verify with its public key");
		goto out;
	}
	if ((mem = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509_REQ(mem, req) ||
	    (n = BIO_get_mem_data(mem, &data)) <= 0 || (copy = malloc((size_t)n + 1)) == NULL)
		goto nomem;
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*pem = copy;
	*pem_len = (size_t)n;
	r = 0;
	goto out;
nomem:
	r = PSM_ERR_NOMEM;
out:
	BIO_free(mem);
	X509_REQ_free(req);
	ERR_clear_error();
	return r;
}
