/* p11smime: putting keys and certificates on a token (see provision.h).
 *
 * Every write goes through one read-write session opened after the user's
 * login (tokens/login.c: the PIN policy holds for writes too); every
 * object made is remembered, and destroyed again when a later one fails,
 * so a token is never left with half of what was asked.
 */
#include "config.h"

#include "provision.h"
#include "p11-int.h"
#include "ckr.h"
#include "certinfo.h"
#include "error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#define TMPL_MAX  32
#define MADE_MAX  40
#define CAS_MAX   32

void
psm_provision_result_clear(psm_provision_result *res)
{
	if (res == NULL)
		return;
	free(res->key_uri);
	free(res->cert_uri);
	free(res->label);
	free(res->id_hex);
	memset(res, 0, sizeof(*res));
}

/* ---- object templates --------------------------------------------------- */

/* A template being built. Values it owns (OpenSSL-allocated) are wiped and
 * freed by tmpl_clear(); CK_BBOOL and CK_ULONG values live in it, so a
 * template is not moved once filled. */
struct tmpl {
	CK_ATTRIBUTE a[TMPL_MAX];
	CK_ULONG n;
	CK_BBOOL bools[TMPL_MAX];
	CK_ULONG ulongs[TMPL_MAX];
	void *owned[TMPL_MAX];
	size_t owned_len[TMPL_MAX];
	size_t nowned;
	int failed;                 /* out of room or memory: not to be used */
};

static void
tmpl_init(struct tmpl *t)
{
	memset(t, 0, sizeof(*t));
}

static void
tmpl_clear(struct tmpl *t)
{
	size_t i;

	for (i = 0; i < t->nowned; i++)
		OPENSSL_clear_free(t->owned[i], t->owned_len[i]);
	memset(t, 0, sizeof(*t));
}

/* A value borrowed from the caller (it must outlive the template). */
static void
tmpl_add(struct tmpl *t, CK_ATTRIBUTE_TYPE type, const void *p, size_t len)
{
	if (t->n == TMPL_MAX) {
		t->failed = 1;
		return;
	}
	t->a[t->n].type = type;
	t->a[t->n].pValue = (void *)p;
	t->a[t->n].ulValueLen = (CK_ULONG)len;
	t->n++;
}

static void
tmpl_bool(struct tmpl *t, CK_ATTRIBUTE_TYPE type, int v)
{
	t->bools[t->n % TMPL_MAX] = v ? CK_TRUE : CK_FALSE;
	tmpl_add(t, type, &t->bools[t->n % TMPL_MAX], sizeof(CK_BBOOL));
}

static void
tmpl_ulong(struct tmpl *t, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	t->ulongs[t->n % TMPL_MAX] = v;
	tmpl_add(t, type, &t->ulongs[t->n % TMPL_MAX], sizeof(CK_ULONG));
}

/* A value the template takes over (OPENSSL_malloc'd; NULL or a negative
 * length marks the template failed). */
static void
tmpl_own(struct tmpl *t, CK_ATTRIBUTE_TYPE type, void *p, int len)
{
	if (p == NULL || len < 0 || t->nowned == TMPL_MAX) {
		OPENSSL_free(p);
		t->failed = 1;
		return;
	}
	t->owned[t->nowned] = p;
	t->owned_len[t->nowned++] = (size_t)len;
	tmpl_add(t, type, p, (size_t)len);
}

/* A big-number parameter of pkey, big-endian without leading zeros (pad
 * bytes long when pad > 0). */
static void
tmpl_bn(struct tmpl *t, CK_ATTRIBUTE_TYPE type, EVP_PKEY *pkey, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;
	int len = -1;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn)) {
		int n = pad > 0 ? pad : BN_num_bytes(bn);

		if ((buf = OPENSSL_malloc(n > 0 ? (size_t)n : 1)) != NULL)
			len = BN_bn2binpad(bn, buf, n);
	}
	BN_clear_free(bn);
	tmpl_own(t, type, buf, len);
}

/* The DER of name */
static void
tmpl_name(struct tmpl *t, CK_ATTRIBUTE_TYPE type, const X509_NAME *name)
{
	unsigned char *der = NULL;
	int len = i2d_X509_NAME(name, &der);

	tmpl_own(t, type, der, len);
}

/* CKA_EC_PARAMS: the named curve's OID, DER */
static void
tmpl_curve(struct tmpl *t, int nid)
{
	unsigned char *der = NULL;
	ASN1_OBJECT *oid = OBJ_nid2obj(nid);
	int len = oid != NULL ? i2d_ASN1_OBJECT(oid, &der) : -1;

	tmpl_own(t, CKA_EC_PARAMS, der, len);
}

/* ---- the token written to ---------------------------------------------- */

struct writer {
	psm_p11 *p11;
	struct psm_slot *s;
	CK_FUNCTION_LIST *fl;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE made[MADE_MAX];
	size_t nmade;
};

static struct psm_slot *
slot_struct(psm_p11 *p11, const psm_slot_info *info)
{
	size_t i;

	for (i = 0; i < p11->nslots; i++)
		if (&p11->slots[i].info == info)
			return &p11->slots[i];
	return NULL;
}

int
psm_p11_writable_token(psm_p11 *p11, const char *token_uri, const psm_slot_info **out)
{
	P11KitUri *uri = NULL;
	struct psm_slot *found = NULL;
	char names[256] = "";
	size_t i, n = 0, len;
	int r;

	*out = NULL;
	if (token_uri != NULL && (r = psm_uri_parse(token_uri, &uri)) < 0)
		return r;
	if (p11->nslots == 0 && (r = psm_p11_scan(p11)) < 0)
		goto out;
	for (i = 0; i < p11->nslots; i++) {
		struct psm_slot *s = &p11->slots[i];

		if (!s->info.token_present || s->info.duplicate || !s->info.initialized)
			continue;
		if (uri != NULL ? !psm_slot_matches(s, uri)
		                : s->info.write_protected || s->mod->trust_policy)
			continue;
		if (n++ == 0)
			found = s;
		len = strlen(names);
		snprintf(names + len, sizeof(names) - len, "%s'%s'", len > 0 ? ", " : "",
		         s->info.label);
	}
	if (n == 0) {
		if (uri != NULL)
			psm_error_set("no token matches %s; run 'p11smime tokens' to see the tokens",
			              token_uri);
		else
			psm_error_set("no token to write to: none is present, initialised and "
			              "writable; run 'p11smime tokens'");
		r = PSM_ERR_NOT_FOUND;
		goto out;
	}
	if (n > 1) {
		psm_error_set("%s match: %s; choose one with --token URI (see 'p11smime tokens')",
		              uri != NULL ? "several tokens" : "several writable tokens", names);
		r = PSM_ERR_AMBIGUOUS;
		goto out;
	}
	if (found->info.write_protected) {
		psm_error_set("token '%s' is write-protected: nothing can be put on it; choose "
		              "another with --token URI (see 'p11smime tokens')", found->info.label);
		r = PSM_ERR_TOKEN;
		goto out;
	}
	*out = &found->info;
	r = 0;
out:
	p11_kit_uri_free(uri);
	return r;
}

/* Log in to slot's token and open a read-write session for the writes. */
static int
writer_open(psm_p11 *p11, const psm_slot_info *slot, struct writer *w)
{
	char what[128];
	CK_RV rv;
	int r;

	memset(w, 0, sizeof(*w));
	w->session = CK_INVALID_HANDLE;
	w->p11 = p11;
	if ((w->s = slot_struct(p11, slot)) == NULL) {
		psm_error_set("that token is no longer known");
		return PSM_ERR_NOT_FOUND;
	}
	w->fl = w->s->mod->fl;
	if (slot->write_protected) {
		psm_error_set("token '%s' is write-protected: nothing can be put on it", slot->label);
		return PSM_ERR_TOKEN;
	}
	if ((r = psm_slot_login(p11, w->s, p11->pin_source)) < 0)
		return r;
	rv = w->fl->C_OpenSession(w->s->id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	                          &w->session);
	if (rv != CKR_OK) {
		w->session = CK_INVALID_HANDLE;
		snprintf(what, sizeof(what), "opening a read-write session on token '%s'",
		         slot->label);
		return psm_ckr_to_err(rv, what);
	}
	return 0;
}

static int
writer_create(struct writer *w, struct tmpl *t, const char *what)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	char sentence[160];
	CK_RV rv;

	if (t->failed)
		return psm_error_from_openssl(PSM_ERR_NOMEM, what);
	if (w->nmade == MADE_MAX) {
		psm_error_set("too many objects to write at once");
		return PSM_ERR_USAGE;
	}
	rv = w->fl->C_CreateObject(w->session, t->a, t->n, &h);
	if (rv != CKR_OK) {
		snprintf(sentence, sizeof(sentence), "%s on token '%s' (nothing was left on it)",
		         what, w->s->info.label);
		return psm_ckr_to_err(rv, sentence);
	}
	w->made[w->nmade++] = h;
	return 0;
}

/* End the writes with r, the result so far: on failure (r < 0) destroy
 * every object made and clear res. Closes the session; returns r. */
static int
writer_finish(struct writer *w, psm_provision_result *res, int r)
{
	size_t i;

	if (w->session != CK_INVALID_HANDLE) {
		for (i = w->nmade; r < 0 && i-- > 0;)
			w->fl->C_DestroyObject(w->session, w->made[i]);
		w->fl->C_CloseSession(w->session);
	}
	/* the token's certificates changed: read them again when asked */
	if (w->s != NULL && w->nmade > 0) {
		psm_certidx_free(w->s->certidx);
		w->s->certidx = NULL;
	}
	w->session = CK_INVALID_HANDLE;
	if (r < 0)
		psm_provision_result_clear(res);
	ERR_clear_error();
	return r;
}

/* ---- identities and IDs ----------------------------------------------- */

/* The public-key identity of listed key i (RSA modulus without leading
 * zeros, EC point), or 0 when the token shows none. */
static int
listed_identity(const psm_key_list *list, size_t i, const unsigned char **p, size_t *len)
{
	struct psm_key_pub pub;

	if (psm_key_list_pub(list, i, &pub) < 0)
		return 0;
	if (pub.modulus != NULL) {
		*len = pub.modulus_len;
		*p = psm_bn_strip(pub.modulus, len);
		return 1;
	}
	if (pub.ec_point != NULL) {
		*p = pub.ec_point;
		*len = pub.ec_point_len;
		return 1;
	}
	return 0;
}

/* The listed private key whose public key has identity ident, or -1. */
static long
listed_key_with(const psm_key_list *list, const unsigned char *ident, size_t ident_len)
{
	const unsigned char *p;
	size_t i, len;

	for (i = 0; i < psm_key_list_count(list); i++) {
		if (listed_identity(list, i, &p, &len) && len == ident_len &&
		    memcmp(p, ident, len) == 0)
			return (long)i;
	}
	return -1;
}

static int
label_taken(const psm_key_list *list, const char *label, const char *token)
{
	size_t i;

	for (i = 0; i < psm_key_list_count(list); i++) {
		const psm_key_info *k = psm_key_list_get(list, i);

		if (k->has_key && strcmp(k->label, label) == 0) {
			psm_error_set("a key labelled '%s' is on token '%s' already; choose another "
			              "label with --label", label, token);
			return PSM_ERR_USAGE;
		}
	}
	return 0;
}

/* CKA_ID: the SHA-1 of the public-key identity (see provision.h); for a
 * key type without one, of the SubjectPublicKeyInfo's key bits. */
static int
pkey_id(EVP_PKEY *pkey, X509 *cert, unsigned char id[SHA_DIGEST_LENGTH])
{
	unsigned char *ident = NULL;
	size_t len = 0;
	unsigned int n = 0;
	int r;

	if ((r = psm_pubkey_identity(pkey, &ident, &len)) == 0) {
		SHA1(ident, len, id);
		free(ident);
		return 0;
	}
	ERR_clear_error();
	if (cert != NULL && X509_pubkey_digest(cert, EVP_sha1(), id, &n) && n == SHA_DIGEST_LENGTH)
		return 0;
	return psm_error_from_openssl(r == PSM_ERR_NOMEM ? r : PSM_ERR_CRYPTO,
	                              "computing the key's ID");
}

/* A CA certificate's label: its CN, else its whole subject. */
static char *
ca_label(X509 *x)
{
	X509_NAME *nm = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *s = NULL;
	int len;

	if (i >= 0 && (len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
	                                                 X509_NAME_get_entry(nm, i)))) > 0) {
		if ((s = malloc((size_t)len + 1)) != NULL) {
			memcpy(s, utf8, (size_t)len);
			s[len] = '\0';
		}
		OPENSSL_free(utf8);
		return s;
	}
	ERR_clear_error();
	return X509_NAME_oneline(nm, NULL, 0);
}

/* ---- writing certificates ---------------------------------------------- */

static int
write_cert(struct writer *w, X509 *x, const unsigned char *id, size_t id_len, const char *label,
           CK_ULONG category)
{
	struct tmpl t;
	unsigned char *der = NULL;
	int len, r;

	tmpl_init(&t);
	tmpl_ulong(&t, CKA_CLASS, CKO_CERTIFICATE);
	tmpl_ulong(&t, CKA_CERTIFICATE_TYPE, CKC_X_509);
	tmpl_bool(&t, CKA_TOKEN, 1);
	tmpl_bool(&t, CKA_PRIVATE, 0);
	tmpl_add(&t, CKA_ID, id, id_len);
	tmpl_add(&t, CKA_LABEL, label, strlen(label));
	tmpl_ulong(&t, CKA_CERTIFICATE_CATEGORY, category);
	tmpl_name(&t, CKA_SUBJECT, X509_get_subject_name(x));
	tmpl_name(&t, CKA_ISSUER, X509_get_issuer_name(x));
	der = NULL;
	len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
	tmpl_own(&t, CKA_SERIAL_NUMBER, der, len);
	der = NULL;
	len = i2d_X509(x, &der);
	tmpl_own(&t, CKA_VALUE, der, len);
	r = writer_create(w, &t, category == 2 ? "writing a CA certificate" : "writing the certificate");
	tmpl_clear(&t);
	return r;
}

static int
in_stack(STACK_OF(X509) *sk, int upto, X509 *x)
{
	int i;

	for (i = 0; sk != NULL && i < upto && i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), x) == 0)
			return 1;
	return 0;
}

/* The CA certificates of cas (not leaf, each once) that the token lacks. */
static int
write_cas(struct writer *w, STACK_OF(X509) *have, STACK_OF(X509) *cas, X509 *leaf,
          psm_provision_result *res)
{
	unsigned char id[SHA_DIGEST_LENGTH];
	char *label;
	int i, r;

	if (sk_X509_num(cas) > CAS_MAX) {
		psm_error_set("more than %d CA certificates came with it; give fewer", CAS_MAX);
		return PSM_ERR_USAGE;
	}
	for (i = 0; i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);

		if (X509_cmp(ca, leaf) == 0 || X509_check_ca(ca) <= 0 || in_stack(cas, i, ca))
			continue;
		if (in_stack(have, sk_X509_num(have), ca)) {
			res->cas_present++;
			continue;
		}
		if ((r = pkey_id(X509_get0_pubkey(ca), ca, id)) < 0)
			return r;
		if ((label = ca_label(ca)) == NULL)
			return PSM_ERR_NOMEM;
		r = write_cert(w, ca, id, sizeof(id), label, 2);
		free(label);
		if (r < 0)
			return r;
		res->cas_added++;
	}
	ERR_clear_error();
	return 0;
}

/* What res says of a key: its URIs (the certificate's too, with_cert),
 * label, ID and usage. */
static int
result_fill(psm_provision_result *res, const struct psm_slot *s, const unsigned char *id,
            size_t id_len, const char *label, int with_cert, psm_key_type type, int sign,
            int decrypt)
{
	res->type = type;
	res->can_sign = sign;
	res->can_decrypt = decrypt;
	res->key_uri = psm_uri_for_object(s, CKO_PRIVATE_KEY, id, id_len, label);
	res->label = strdup(label);
	res->id_hex = psm_hex_encode(id, id_len);
	if (with_cert)
		res->cert_uri = psm_uri_for_object(s, CKO_CERTIFICATE, id, id_len, label);
	if (res->key_uri == NULL || res->label == NULL || res->id_hex == NULL ||
	    (with_cert && res->cert_uri == NULL))
		return PSM_ERR_NOMEM;
	return 0;
}

/* ---- a key from a file -------------------------------------------------- */

/* The usage the certificate's keyUsage allows the key (provision.h). */
static void
cert_usage(X509 *cert, int is_ec, int *sign, int *decrypt)
{
	uint32_t ku = X509_get_key_usage(cert);

	ERR_clear_error();
	if (ku == UINT32_MAX) {
		*sign = *decrypt = 1;
		return;
	}
	*sign = (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) != 0;
	*decrypt = is_ec ? (ku & KU_KEY_AGREEMENT) != 0
	                 : (ku & (KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT)) != 0;
}

/* The attributes both halves of a key pair carry. */
static void
tmpl_key_common(struct tmpl *t, CK_OBJECT_CLASS cls, int is_ec, const unsigned char *id,
                size_t id_len, const char *label)
{
	tmpl_ulong(t, CKA_CLASS, cls);
	tmpl_ulong(t, CKA_KEY_TYPE, is_ec ? CKK_EC : CKK_RSA);
	tmpl_bool(t, CKA_TOKEN, 1);
	tmpl_add(t, CKA_ID, id, id_len);
	tmpl_add(t, CKA_LABEL, label, strlen(label));
}

/* The usage attributes of a private (pub = 0) or public key, all set:
 * tokens default the unset ones to TRUE. */
static void
tmpl_key_usage(struct tmpl *t, int pub, int is_ec, int sign, int decrypt)
{
	tmpl_bool(t, pub ? CKA_VERIFY : CKA_SIGN, sign);
	tmpl_bool(t, pub ? CKA_VERIFY_RECOVER : CKA_SIGN_RECOVER, 0);
	tmpl_bool(t, pub ? CKA_ENCRYPT : CKA_DECRYPT, !is_ec && decrypt);
	tmpl_bool(t, pub ? CKA_WRAP : CKA_UNWRAP, !is_ec && decrypt);
	tmpl_bool(t, CKA_DERIVE, is_ec && decrypt);
	if (!pub) {
		tmpl_bool(t, CKA_PRIVATE, 1);
		tmpl_bool(t, CKA_SENSITIVE, 1);
		tmpl_bool(t, CKA_EXTRACTABLE, 0);
	} else {
		tmpl_bool(t, CKA_PRIVATE, 0);
	}
}

/* The EC key's curve, as a NID. */
static int
pkey_curve(EVP_PKEY *pkey)
{
	char group[80];
	size_t len = 0;
	int nid;

	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                    &len))
		return NID_undef;
	if ((nid = OBJ_txt2nid(group)) == NID_undef)
		nid = EC_curve_nist2nid(group);
	return nid;
}

/* The key material: RSA's modulus, exponents, primes and CRT values; EC's
 * curve, private value (private key) and point (public key). */
static void
tmpl_key_material(struct tmpl *priv, struct tmpl *pub, EVP_PKEY *pkey, int is_ec)
{
	unsigned char point[160];
	size_t plen = 0;
	ASN1_OCTET_STRING *os;
	unsigned char *der = NULL;
	int len = -1;

	if (!is_ec) {
		tmpl_bn(priv, CKA_MODULUS, pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		tmpl_bn(priv, CKA_PUBLIC_EXPONENT, pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		tmpl_bn(priv, CKA_PRIVATE_EXPONENT, pkey, OSSL_PKEY_PARAM_RSA_D, 0);
		tmpl_bn(priv, CKA_PRIME_1, pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, 0);
		tmpl_bn(priv, CKA_PRIME_2, pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, 0);
		tmpl_bn(priv, CKA_EXPONENT_1, pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0);
		tmpl_bn(priv, CKA_EXPONENT_2, pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0);
		tmpl_bn(priv, CKA_COEFFICIENT, pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0);
		tmpl_bn(pub, CKA_MODULUS, pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		tmpl_bn(pub, CKA_PUBLIC_EXPONENT, pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		return;
	}
	tmpl_curve(priv, pkey_curve(pkey));
	tmpl_curve(pub, pkey_curve(pkey));
	/* CKA_VALUE: the private value, as long as the field */
	tmpl_bn(priv, CKA_VALUE, pkey, OSSL_PKEY_PARAM_PRIV_KEY, (EVP_PKEY_get_bits(pkey) + 7) / 8);
	/* CKA_EC_POINT: the uncompressed point in a DER OCTET STRING */
	if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
	                                    sizeof(point), &plen) &&
	    (os = ASN1_OCTET_STRING_new()) != NULL) {
		if (ASN1_OCTET_STRING_set(os, point, (int)plen))
			len = i2d_ASN1_OCTET_STRING(os, &der);
		ASN1_OCTET_STRING_free(os);
	}
	tmpl_own(pub, CKA_EC_POINT, der, len);
}

int
psm_p11_import_keypair(psm_p11 *p11, const psm_slot_info *slot, EVP_PKEY *key, X509 *cert,
                       STACK_OF(X509) *cas, const char *label, psm_provision_result *res)
{
	struct writer w;
	struct tmpl priv, pub;
	psm_key_list *list = NULL;
	STACK_OF(X509) *have = NULL;
	unsigned char id[SHA_DIGEST_LENGTH];
	unsigned char *ident = NULL;
	size_t ident_len = 0;
	long other;
	int type = EVP_PKEY_get_base_id(key), is_ec = type == EVP_PKEY_EC;
	int sign, decrypt, r;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	tmpl_init(&priv);
	tmpl_init(&pub);
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
		psm_error_set("the key is neither RSA nor EC: p11smime cannot put it on a token");
		return PSM_ERR_USAGE;
	}
	if (label == NULL || *label == '\0') {
		psm_error_set("the key needs a label: give one with --label");
		return PSM_ERR_USAGE;
	}
	if ((r = psm_pubkey_identity(key, &ident, &ident_len)) < 0) {
		r = psm_error_from_openssl(r, "reading the key's public half");
		goto out;
	}
	SHA1(ident, ident_len, id);
	if ((r = writer_open(p11, slot, &w)) < 0 ||
	    (r = psm_p11_list_keys(p11, slot->uri, &list)) < 0)
		goto out;
	if ((other = listed_key_with(list, ident, ident_len)) >= 0) {
		psm_error_set("this key is on token '%s' already, labelled '%s' (id %s); nothing was "
		              "written", slot->label, psm_key_list_get(list, (size_t)other)->label,
		              psm_key_list_get(list, (size_t)other)->id_hex);
		r = PSM_ERR_USAGE;
		goto out;
	}
	if ((r = label_taken(list, label, slot->label)) < 0 ||
	    (r = psm_p11_token_certs(p11, slot, &have)) < 0)
		goto out;
	cert_usage(cert, is_ec, &sign, &decrypt);
	tmpl_key_common(&priv, CKO_PRIVATE_KEY, is_ec, id, sizeof(id), label);
	tmpl_key_common(&pub, CKO_PUBLIC_KEY, is_ec, id, sizeof(id), label);
	tmpl_key_usage(&priv, 0, is_ec, sign, decrypt);
	tmpl_key_usage(&pub, 1, is_ec, sign, decrypt);
	tmpl_name(&priv, CKA_SUBJECT, X509_get_subject_name(cert));
	tmpl_name(&pub, CKA_SUBJECT, X509_get_subject_name(cert));
	tmpl_key_material(&priv, &pub, key, is_ec);
	if ((r = writer_create(&w, &priv, "writing the private key")) < 0)
		goto out;
	tmpl_clear(&priv);      /* the key's secrets, wiped at once */
	if ((r = writer_create(&w, &pub, "writing the public key")) < 0)
		goto out;
	if (in_stack(have, sk_X509_num(have), cert))
		res->cert_present = 1;
	else if ((r = write_cert(&w, cert, id, sizeof(id), label, 1)) < 0)
		goto out;
	if ((r = write_cas(&w, have, cas, cert, res)) < 0 ||
	    (r = result_fill(res, w.s, id, sizeof(id), label, 1, is_ec ? PSM_KEY_EC : PSM_KEY_RSA,
	                     sign, decrypt)) < 0)
		goto out;
	r = 0;
out:
	tmpl_clear(&priv);
	tmpl_clear(&pub);
	sk_X509_pop_free(have, X509_free);
	psm_key_list_free(list);
	free(ident);
	return writer_finish(&w, res, r);
}

/* ---- a key made by the token -------------------------------------------- */

/* The value of one attribute of object h (two-call read); malloc'd. */
static int
read_attr(struct writer *w, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, unsigned char **out,
          size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	*out = NULL;
	*len = 0;
	rv = w->fl->C_GetAttributeValue(w->session, h, &a, 1);
	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0 ||
	    a.ulValueLen > 4096)
		return psm_ckr_to_err(rv != CKR_OK ? rv : CKR_ATTRIBUTE_TYPE_INVALID,
		                      "reading the new public key");
	if ((a.pValue = malloc(a.ulValueLen)) == NULL)
		return PSM_ERR_NOMEM;
	if ((rv = w->fl->C_GetAttributeValue(w->session, h, &a, 1)) != CKR_OK) {
		free(a.pValue);
		return psm_ckr_to_err(rv, "reading the new public key");
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

/* Give the new pair its lasting CKA_ID, the SHA-1 of its public key; it
 * was made under a random one. A token that does not let CKA_ID change
 * keeps the random ID on both halves. */
static int
settle_id(struct writer *w, int is_ec, CK_OBJECT_HANDLE hpub, CK_OBJECT_HANDLE hpriv,
          unsigned char id[SHA_DIGEST_LENGTH])
{
	unsigned char fresh[SHA_DIGEST_LENGTH];
	CK_ATTRIBUTE a = { CKA_ID, fresh, sizeof(fresh) };
	CK_ATTRIBUTE back = { CKA_ID, id, SHA_DIGEST_LENGTH };
	unsigned char *v = NULL;
	const unsigned char *p;
	size_t len = 0;
	int r;

	if ((r = read_attr(w, hpub, is_ec ? CKA_EC_POINT : CKA_MODULUS, &v, &len)) < 0)
		return r;
	p = is_ec ? psm_ec_point_unwrap(v, &len) : psm_bn_strip(v, &len);
	SHA1(p, len, fresh);
	free(v);
	if (w->fl->C_SetAttributeValue(w->session, hpub, &a, 1) != CKR_OK)
		return 0;
	if (w->fl->C_SetAttributeValue(w->session, hpriv, &a, 1) != CKR_OK) {
		if (w->fl->C_SetAttributeValue(w->session, hpub, &back, 1) != CKR_OK) {
			psm_error_set("the token took a new ID for the public key but not for the "
			              "private key; the pair was removed again");
			return PSM_ERR_TOKEN;
		}
		return 0;
	}
	memcpy(id, fresh, sizeof(fresh));
	return 0;
}

int
psm_p11_generate_keypair(psm_p11 *p11, const psm_slot_info *slot, const psm_keygen_params *kp,
                         psm_provision_result *res)
{
	static const unsigned char f4[] = { 0x01, 0x00, 0x01 };
	struct writer w;
	struct tmpl priv, pub;
	psm_key_list *list = NULL;
	unsigned char id[SHA_DIGEST_LENGTH];
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	char what[128];
	int is_ec = kp->type == PSM_KEY_EC, nid = NID_undef;
	CK_RV rv;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	tmpl_init(&priv);
	tmpl_init(&pub);
	if (is_ec) {
		nid = kp->curve != NULL ? EC_curve_nist2nid(kp->curve) : NID_undef;
		if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1 && nid != NID_secp521r1) {
			psm_error_set("the curve must be P-256, P-384 or P-521");
			return PSM_ERR_USAGE;
		}
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
	} else if (kp->type != PSM_KEY_RSA ||
	           (kp->bits != 2048 && kp->bits != 3072 && kp->bits != 4096)) {
		psm_error_set("the key must be RSA (2048, 3072 or 4096 bits) or EC");
		return PSM_ERR_USAGE;
	}
	if (kp->label == NULL || *kp->label == '\0') {
		psm_error_set("the key needs a label: give one with --label");
		return PSM_ERR_USAGE;
	}
	if (!kp->sign && !kp->decrypt) {
		psm_error_set("a key that may neither sign nor decrypt is of no use");
		return PSM_ERR_USAGE;
	}
	if (RAND_bytes(id, sizeof(id)) != 1)
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "making a key ID");
	if ((r = writer_open(p11, slot, &w)) < 0 ||
	    (r = psm_p11_list_keys(p11, slot->uri, &list)) < 0 ||
	    (r = label_taken(list, kp->label, slot->label)) < 0)
		goto out;
	tmpl_key_common(&priv, CKO_PRIVATE_KEY, is_ec, id, sizeof(id), kp->label);
	tmpl_key_common(&pub, CKO_PUBLIC_KEY, is_ec, id, sizeof(id), kp->label);
	tmpl_key_usage(&priv, 0, is_ec, kp->sign, kp->decrypt);
	tmpl_key_usage(&pub, 1, is_ec, kp->sign, kp->decrypt);
	if (kp->always_auth)
		tmpl_bool(&priv, CKA_ALWAYS_AUTHENTICATE, 1);
	if (is_ec) {
		tmpl_curve(&pub, nid);
	} else {
		tmpl_ulong(&pub, CKA_MODULUS_BITS, kp->bits);
		tmpl_add(&pub, CKA_PUBLIC_EXPONENT, f4, sizeof(f4));
	}
	if (priv.failed || pub.failed) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	rv = w.fl->C_GenerateKeyPair(w.session, &mech, pub.a, pub.n, priv.a, priv.n, &hpub, &hpriv);
	if (rv != CKR_OK) {
		snprintf(what, sizeof(what), "generating the key pair on token '%s'", slot->label);
		r = psm_ckr_to_err(rv, what);
		goto out;
	}
	w.made[w.nmade++] = hpub;
	w.made[w.nmade++] = hpriv;
	if ((r = settle_id(&w, is_ec, hpub, hpriv, id)) < 0 ||
	    (r = result_fill(res, w.s, id, sizeof(id), kp->label, 0, kp->type, kp->sign,
	                     kp->decrypt)) < 0)
		goto out;
	r = 0;
out:
	tmpl_clear(&priv);
	tmpl_clear(&pub);
	psm_key_list_free(list);
	return writer_finish(&w, res, r);
}

/* ---- the certificate for a key on the token ------------------------------ */

int
psm_p11_import_cert(psm_p11 *p11, const psm_slot_info *slot, X509 *cert, STACK_OF(X509) *cas,
                    psm_provision_result *res)
{
	struct writer w;
	psm_key_list *list = NULL;
	STACK_OF(X509) *have = NULL;
	const psm_key_info *k;
	psm_certinfo *ci = NULL;
	unsigned char *ident = NULL;
	size_t ident_len = 0;
	const char *label;
	long i;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	if (X509_get0_pubkey(cert) == NULL ||
	    (r = psm_pubkey_identity(X509_get0_pubkey(cert), &ident, &ident_len)) < 0) {
		ERR_clear_error();
		psm_error_set("the certificate's public key is neither RSA nor EC");
		return PSM_ERR_USAGE;
	}
	if ((r = psm_certinfo_new(cert, &ci)) < 0 ||
	    (r = writer_open(p11, slot, &w)) < 0 ||
	    (r = psm_p11_list_keys(p11, slot->uri, &list)) < 0)
		goto out;
	if ((i = listed_key_with(list, ident, ident_len)) < 0) {
		psm_error_set("the certificate for %s matches no private key on token '%s': it was "
		              "issued for another key (see 'p11smime keys'); nothing was written",
		              ci->subject, slot->label);
		r = PSM_ERR_NOT_FOUND;
		goto out;
	}
	k = psm_key_list_get(list, (size_t)i);
	/* the certificate takes the key's label; a key without one, the
	 * certificate's first address */
	label = *k->label != '\0' ? k->label : ci->emails[0] != NULL ? ci->emails[0] : ci->subject;
	if ((r = psm_p11_token_certs(p11, slot, &have)) < 0)
		goto out;
	if (in_stack(have, sk_X509_num(have), cert))
		res->cert_present = 1;
	else if ((r = write_cert(&w, cert, k->id, k->id_len, label, 1)) < 0)
		goto out;
	if ((r = write_cas(&w, have, cas, cert, res)) < 0 ||
	    (r = result_fill(res, w.s, k->id, k->id_len, label, 1, k->type, k->can_sign,
	                     k->can_decrypt || k->can_derive)) < 0)
		goto out;
	/* the key's own URI (its label may differ from the certificate's) */
	free(res->key_uri);
	if ((res->key_uri = strdup(k->uri)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	sk_X509_pop_free(have, X509_free);
	psm_key_list_free(list);
	psm_certinfo_free(ci);
	free(ident);
	return writer_finish(&w, res, r);
}
