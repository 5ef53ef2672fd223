/* p11smime: keys and certificates on tokens.
 *
 * Each object's attributes are read in one C_GetAttributeValue call into
 * buffers sized for the usual values (a value that does not fit is read
 * again, sized by the token), never one call per attribute. A token's
 * certificates are read once per scan (one search), and parsed only when
 * needed. A key URI's keys are found by the token itself. Private keys are
 * paired with certificates by CKA_ID, and by public key where IDs differ
 * (tokens/pair.c).
 */
#include "config.h"

#include "p11-int.h"
#include "ckr.h"
#include "certinfo.h"
#include "error.h"
#include "pair.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/objects.h>

#define MAX_OBJECTS 4096

/* One object's attributes, read in a batch. */
struct attrs {
	CK_ATTRIBUTE a[16];
	size_t n;
};

static void
attrs_init(struct attrs *t, const CK_ATTRIBUTE_TYPE *types, size_t n)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n && i < sizeof(t->a) / sizeof(t->a[0]); i++)
		t->a[i].type = types[i];
	t->n = i;
}

static void
attrs_clear(struct attrs *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->a[i].pValue);
	memset(t, 0, sizeof(*t));
}

static const CK_ATTRIBUTE *
attrs_get(const struct attrs *t, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->a[i].type == type && t->a[i].pValue != NULL)
			return &t->a[i];
	return NULL;
}

static int
attrs_bool(const struct attrs *t, CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *a = attrs_get(t, type);

	return a != NULL && a->ulValueLen == sizeof(CK_BBOOL) && *(CK_BBOOL *)a->pValue;
}

static int
attrs_ulong(const struct attrs *t, CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
	const CK_ATTRIBUTE *a = attrs_get(t, type);

	if (a == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return 0;
	memcpy(v, a->pValue, sizeof(*v));
	return 1;
}

/* Room for one value in a one-call read: enough for nearly every value a
 * token holds (a larger one is read again, sized by the token). */
static CK_ULONG
attr_room(CK_ATTRIBUTE_TYPE type)
{
	switch (type) {
	case CKA_VALUE:
		return 8192;            /* a certificate */
	case CKA_LABEL:
	case CKA_ID:
	case CKA_MODULUS:
	case CKA_PUBLIC_EXPONENT:
	case CKA_SUBJECT:
	case CKA_ISSUER:
		return 1024;
	case CKA_EC_PARAMS:
	case CKA_EC_POINT:
		return 512;
	default:
		return sizeof(CK_ULONG); /* CK_BBOOL and CK_ULONG values */
	}
}

/* Is type one that cannot exist on a key of the type the read found?
 * Then "unavailable" is the answer, not a buffer that was too small. */
static int
attr_inapplicable(const struct attrs *t, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG kt;

	if (!attrs_ulong(t, CKA_KEY_TYPE, &kt))
		return 0;
	if (kt == CKK_RSA)
		return type == CKA_EC_PARAMS || type == CKA_EC_POINT;
	if (kt == CKK_EC)
		return type == CKA_MODULUS || type == CKA_PUBLIC_EXPONENT;
	return 0;
}

/* The two-call read (lengths, then values) of the attributes in t that
 * are still unread and not marked done. */
static int
attrs_read_sized(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE obj,
                 struct attrs *t, const unsigned char *done)
{
	CK_ATTRIBUTE q[16];
	size_t map[16], n = 0, i;
	CK_RV rv;

	for (i = 0; i < t->n; i++) {
		if (done[i])
			continue;
		q[n].type = t->a[i].type;
		q[n].pValue = NULL;
		q[n].ulValueLen = 0;
		map[n++] = i;
	}
	if (n == 0)
		return 0;
	rv = fl->C_GetAttributeValue(session, obj, q, n);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return psm_ckr_to_err(rv, "reading an object's attributes");
	for (i = 0; i < n; i++) {
		if (q[i].ulValueLen == CK_UNAVAILABLE_INFORMATION || q[i].ulValueLen == 0 ||
		    q[i].ulValueLen > (1u << 20)) {
			q[i].ulValueLen = 0;
			continue;
		}
		if ((q[i].pValue = malloc(q[i].ulValueLen)) == NULL)
			goto nomem;
	}
	rv = fl->C_GetAttributeValue(session, obj, q, n);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID) {
		for (i = 0; i < n; i++)
			free(q[i].pValue);
		return psm_ckr_to_err(rv, "reading an object's attributes");
	}
	for (i = 0; i < n; i++) {
		if (q[i].ulValueLen == CK_UNAVAILABLE_INFORMATION || q[i].pValue == NULL) {
			free(q[i].pValue);
			continue;
		}
		t->a[map[i]].pValue = q[i].pValue;
		t->a[map[i]].ulValueLen = q[i].ulValueLen;
	}
	return 0;
nomem:
	for (i = 0; i < n; i++)
		free(q[i].pValue);
	return PSM_ERR_NOMEM;
}

/* Read t's attributes of obj, in one C_GetAttributeValue call when every
 * value fits the room attr_room() gives it (on SoftHSM each call re-reads
 * files: half the calls is half the cost). A value that did not fit, or
 * whose absence could hide a "buffer too small", is read again with the
 * two-call protocol. Absent values are left NULL. */
static int
attrs_read(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE obj,
           struct attrs *t)
{
	unsigned char done[16] = { 0 };
	unsigned char *room = NULL;
	size_t i, total = 0;
	CK_RV rv;
	int r = 0;

	for (i = 0; i < t->n; i++) {
		t->a[i].pValue = NULL;
		t->a[i].ulValueLen = 0;
		total += attr_room(t->a[i].type);
	}
	if ((room = malloc(total > 0 ? total : 1)) == NULL)
		return PSM_ERR_NOMEM;
	for (i = 0, total = 0; i < t->n; i++) {
		t->a[i].pValue = room + total;
		t->a[i].ulValueLen = attr_room(t->a[i].type);
		total += t->a[i].ulValueLen;
	}
	rv = fl->C_GetAttributeValue(session, obj, t->a, t->n);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_BUFFER_TOO_SMALL) {
		for (i = 0; i < t->n; i++)
			t->a[i].pValue = NULL;
		free(room);
		return psm_ckr_to_err(rv, "reading an object's attributes");
	}
	/* copy what came back out of the shared room */
	for (i = 0; i < t->n; i++) {
		CK_ULONG len = t->a[i].ulValueLen;
		void *v = t->a[i].pValue;

		t->a[i].pValue = NULL;
		if (len == CK_UNAVAILABLE_INFORMATION || len > attr_room(t->a[i].type)) {
			t->a[i].ulValueLen = 0;
			continue;
		}
		done[i] = 1;
		if (len == 0)
			continue;
		if ((t->a[i].pValue = malloc(len)) == NULL) {
			r = PSM_ERR_NOMEM;
			break;
		}
		memcpy(t->a[i].pValue, v, len);
	}
	free(room);
	if (r < 0)
		return r;
	if (rv == CKR_OK)
		return 0;
	/* unavailable: absent, sensitive, or too big for its room (the
	 * token's return value cannot tell which when several apply) */
	for (i = 0; i < t->n; i++) {
		if (!done[i] && (attr_room(t->a[i].type) == sizeof(CK_ULONG) ||
		                 attr_inapplicable(t, t->a[i].type)))
			done[i] = 1;
	}
	return attrs_read_sized(fl, session, obj, t, done);
}

/* The handles of the objects of class cls that also match extra (n
 * attributes; the token filters). At most MAX_OBJECTS. */
static int
find_objects(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE session, CK_OBJECT_CLASS cls,
             const CK_ATTRIBUTE *extra, size_t nextra, CK_OBJECT_HANDLE **out, size_t *nout)
{
	CK_ATTRIBUTE tmpl[4] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE *v = NULL, *grown;
	CK_ULONG got;
	size_t n = 0, i;
	CK_RV rv;
	int r = 0;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < nextra && i + 1 < sizeof(tmpl) / sizeof(tmpl[0]); i++)
		tmpl[i + 1] = extra[i];
	rv = fl->C_FindObjectsInit(session, tmpl, (CK_ULONG)(i + 1));
	if (rv != CKR_OK)
		return psm_ckr_to_err(rv, "searching the token");
	for (;;) {
		if ((grown = realloc(v, (n + 64) * sizeof(*v))) == NULL) {
			r = PSM_ERR_NOMEM;
			break;
		}
		v = grown;
		got = 0;
		rv = fl->C_FindObjects(session, v + n, 64, &got);
		if (rv != CKR_OK) {
			r = psm_ckr_to_err(rv, "searching the token");
			break;
		}
		n += got;
		if (got < 64 || n >= MAX_OBJECTS)
			break;
	}
	fl->C_FindObjectsFinal(session);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* A template attribute for the URI's value of type, if it has one. */
static size_t
uri_attr(P11KitUri *uri, CK_ATTRIBUTE_TYPE type, CK_ATTRIBUTE *out)
{
	CK_ATTRIBUTE *a = uri != NULL ? p11_kit_uri_get_attribute(uri, type) : NULL;

	if (a == NULL)
		return 0;
	*out = *a;
	return 1;
}

/* ---- the list handed to callers ---------------------------------------- */

struct entry {
	psm_key_info info;
	char *label, *cert_label, *id_hex, *uri, *cert_uri;
	unsigned char *id;
	X509 *cert;
	psm_certinfo *ci;
	/* a private key: what tokens/key.c needs to use it (the bytes are
	 * the entry's own) */
	struct psm_key_pub pub;
};

struct psm_key_list {
	struct entry *v;
	size_t n;
	int incomplete;
	int several_need_pin;   /* a fixed PIN and several tokens: no login */
};

static void
entry_clear(struct entry *e)
{
	free(e->label);
	free(e->cert_label);
	free(e->id_hex);
	free(e->uri);
	free(e->cert_uri);
	free(e->id);
	X509_free(e->cert);
	psm_certinfo_free(e->ci);
	free((void *)e->pub.modulus);
	free((void *)e->pub.exponent);
	free((void *)e->pub.ec_params);
	free((void *)e->pub.ec_point);
}

void
psm_key_list_free(psm_key_list *list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < list->n; i++)
		entry_clear(&list->v[i]);
	free(list->v);
	free(list);
}

size_t
psm_key_list_count(const psm_key_list *list)
{
	return list->n;
}

const psm_key_info *
psm_key_list_get(const psm_key_list *list, size_t i)
{
	return i < list->n ? &list->v[i].info : NULL;
}

int
psm_key_list_pub(const psm_key_list *list, size_t i, struct psm_key_pub *out)
{
	memset(out, 0, sizeof(*out));
	if (i >= list->n || !list->v[i].info.has_key)
		return PSM_ERR_NOT_FOUND;
	*out = list->v[i].pub;
	return 0;
}

int
psm_key_list_incomplete(const psm_key_list *list)
{
	if (!list->incomplete)
		return 0;
	return list->several_need_pin ? PSM_KEYS_SEVERAL_TOKENS : PSM_KEYS_NO_PIN;
}

/* ---- one token ------------------------------------------------------- */

struct tok_key {
	struct attrs t;
	CK_OBJECT_HANDLE h;
	const unsigned char *pub;   /* into t, or into pubkeys */
	size_t pub_len;
	const unsigned char *point; /* EC: into pubkeys (unwrapped) */
	size_t point_len;
};

struct tok_cert {
	const struct attrs *t;      /* borrowed from the slot's index */
	X509 *x509;
	psm_certinfo *ci;
};

/* A CA certificate that is only for certificates and CRLs: not a
 * person's, even when its key is hidden before login. (Some people's
 * self-signed certificates say CA:TRUE but allow signing or encryption,
 * or have no key usage and an e-mail address.) */
static int
pure_ca(const struct tok_cert *c)
{
	uint32_t ku = X509_get_key_usage(c->x509);

	if (!c->ci->is_ca)
		return 0;
	if (ku != UINT32_MAX)
		return !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION | KU_KEY_ENCIPHERMENT |
		               KU_KEY_AGREEMENT | KU_DATA_ENCIPHERMENT));
	/* no key usage: a person's when it carries an e-mail address */
	return c->ci->emails == NULL || c->ci->emails[0] == NULL;
}

static char *
label_dup(const struct attrs *t)
{
	const CK_ATTRIBUTE *a = attrs_get(t, CKA_LABEL);
	char *s;

	if (a == NULL)
		return strdup("");
	if ((s = malloc(a->ulValueLen + 1)) == NULL)
		return NULL;
	memcpy(s, a->pValue, a->ulValueLen);
	s[a->ulValueLen] = '\0';
	return s;
}

static const char *
curve_of(const struct attrs *t)
{
	const CK_ATTRIBUTE *a = attrs_get(t, CKA_EC_PARAMS);
	const unsigned char *p;
	ASN1_OBJECT *oid;
	const char *name = NULL;

	if (a == NULL)
		return NULL;
	p = a->pValue;
	oid = d2i_ASN1_OBJECT(NULL, &p, (long)a->ulValueLen);
	if (oid != NULL)
		name = EC_curve_nid2nist(OBJ_obj2nid(oid));
	ASN1_OBJECT_free(oid);
	return name;
}

static unsigned
curve_bits(const char *curve)
{
	if (curve == NULL)
		return 0;
	if (strcmp(curve, "P-256") == 0)
		return 256;
	if (strcmp(curve, "P-384") == 0)
		return 384;
	if (strcmp(curve, "P-521") == 0)
		return 521;
	if (strcmp(curve, "P-224") == 0)
		return 224;
	return 0;
}

static void
key_identity(struct tok_key *k, struct attrs *pubkeys, size_t npub)
{
	const CK_ATTRIBUTE *a = attrs_get(&k->t, CKA_MODULUS);
	const CK_ATTRIBUTE *kid = attrs_get(&k->t, CKA_ID);
	size_t i, len;

	if (a != NULL) {
		len = a->ulValueLen;
		k->pub = psm_bn_strip(a->pValue, &len);
		k->pub_len = len;
		return;
	}
	/* EC private keys carry no point: use the public key with the same ID */
	for (i = 0; kid != NULL && i < npub; i++) {
		const CK_ATTRIBUTE *pid = attrs_get(&pubkeys[i], CKA_ID);
		const CK_ATTRIBUTE *pt = attrs_get(&pubkeys[i], CKA_EC_POINT);

		if (pid == NULL || pt == NULL || pid->ulValueLen != kid->ulValueLen ||
		    memcmp(pid->pValue, kid->pValue, kid->ulValueLen) != 0)
			continue;
		len = pt->ulValueLen;
		k->pub = psm_ec_point_unwrap(pt->pValue, &len);
		k->pub_len = len;
		k->point = k->pub;
		k->point_len = len;
		return;
	}
}

static int
list_grow(psm_key_list *list, struct entry **e)
{
	struct entry *grown = realloc(list->v, (list->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return PSM_ERR_NOMEM;
	list->v = grown;
	*e = &list->v[list->n++];
	memset(*e, 0, sizeof(**e));
	return 0;
}

static int
entry_set_cert(struct entry *e, const struct psm_slot *s, struct tok_cert *c)
{
	const CK_ATTRIBUTE *cid = attrs_get(c->t, CKA_ID);

	if ((e->cert_label = label_dup(c->t)) == NULL)
		return PSM_ERR_NOMEM;
	e->cert = c->x509;
	c->x509 = NULL; /* transferred */
	e->ci = c->ci;
	c->ci = NULL; /* transferred */
	e->cert_uri = psm_uri_for_object(s, CKO_CERTIFICATE, cid ? cid->pValue : NULL,
	                                 cid ? cid->ulValueLen : 0, e->cert_label);
	return e->cert_uri != NULL ? 0 : PSM_ERR_NOMEM;
}

static int
entry_set_id(struct entry *e, const struct attrs *t)
{
	const CK_ATTRIBUTE *id = attrs_get(t, CKA_ID);
	size_t len = id != NULL ? id->ulValueLen : 0;

	if ((e->id = malloc(len > 0 ? len : 1)) == NULL)
		return PSM_ERR_NOMEM;
	if (len > 0)
		memcpy(e->id, id->pValue, len);
	e->info.id_len = len;
	e->id_hex = psm_hex_encode(e->id, len);
	return e->id_hex != NULL ? 0 : PSM_ERR_NOMEM;
}

/* A copy of bytes (len > 0) into *out; 0, or PSM_ERR_NOMEM. */
static int
bytes_dup(const void *p, size_t len, const unsigned char **out, size_t *out_len)
{
	unsigned char *c;

	if (p == NULL || len == 0)
		return 0;
	if ((c = malloc(len)) == NULL)
		return PSM_ERR_NOMEM;
	memcpy(c, p, len);
	*out = c;
	*out_len = len;
	return 0;
}

/* The private key's handle and public half, for using it (tokens/key.c). */
static int
entry_set_pub(struct entry *e, const struct tok_key *k)
{
	const CK_ATTRIBUTE *mod = attrs_get(&k->t, CKA_MODULUS);
	const CK_ATTRIBUTE *exp = attrs_get(&k->t, CKA_PUBLIC_EXPONENT);
	const CK_ATTRIBUTE *par = attrs_get(&k->t, CKA_EC_PARAMS);
	int r = 0;

	e->pub.handle = k->h;
	if ((mod != NULL && (r = bytes_dup(mod->pValue, mod->ulValueLen, &e->pub.modulus,
	                                   &e->pub.modulus_len)) < 0) ||
	    (exp != NULL && (r = bytes_dup(exp->pValue, exp->ulValueLen, &e->pub.exponent,
	                                   &e->pub.exponent_len)) < 0) ||
	    (par != NULL && (r = bytes_dup(par->pValue, par->ulValueLen, &e->pub.ec_params,
	                                   &e->pub.ec_params_len)) < 0) ||
	    (r = bytes_dup(k->point, k->point_len, &e->pub.ec_point, &e->pub.ec_point_len)) < 0)
		return r;
	return 0;
}

static int
add_key_entry(psm_key_list *list, const struct psm_slot *s, struct tok_key *k,
              struct tok_cert *cert, int how)
{
	struct entry *e;
	CK_ULONG type = (CK_ULONG)-1;
	const CK_ATTRIBUTE *mod;
	int r;

	if ((r = list_grow(list, &e)) < 0)
		return r;
	e->info.has_key = 1;
	e->info.paired_by = how;
	if ((e->label = label_dup(&k->t)) == NULL || (r = entry_set_id(e, &k->t)) < 0 ||
	    (r = entry_set_pub(e, k)) < 0)
		return r < 0 ? r : PSM_ERR_NOMEM;
	attrs_ulong(&k->t, CKA_KEY_TYPE, &type);
	if (type == CKK_RSA) {
		e->info.type = PSM_KEY_RSA;
		if ((mod = attrs_get(&k->t, CKA_MODULUS)) != NULL) {
			size_t len = mod->ulValueLen;
			const unsigned char *p = psm_bn_strip(mod->pValue, &len);
			unsigned bits = (unsigned)len * 8, top = p[0];

			while (bits > 0 && !(top & 0x80)) {
				top <<= 1;
				bits--;
			}
			e->info.bits = bits;
		}
	} else if (type == CKK_EC) {
		e->info.type = PSM_KEY_EC;
		e->info.curve = curve_of(&k->t);
		e->info.bits = curve_bits(e->info.curve);
	} else {
		e->info.type = PSM_KEY_OTHER;
	}
	e->info.can_sign = attrs_bool(&k->t, CKA_SIGN);
	e->info.can_decrypt = attrs_bool(&k->t, CKA_DECRYPT);
	e->info.can_derive = attrs_bool(&k->t, CKA_DERIVE);
	e->info.can_unwrap = attrs_bool(&k->t, CKA_UNWRAP);
	e->info.always_authenticate = attrs_bool(&k->t, CKA_ALWAYS_AUTHENTICATE);
	e->info.sensitive = attrs_bool(&k->t, CKA_SENSITIVE);
	e->info.extractable = attrs_bool(&k->t, CKA_EXTRACTABLE);
	e->uri = psm_uri_for_object(s, CKO_PRIVATE_KEY, e->id, e->info.id_len, e->label);
	if (e->uri == NULL)
		return PSM_ERR_NOMEM;
	if (cert != NULL)
		return entry_set_cert(e, s, cert);
	return 0;
}

/* Without a login, private keys may be hidden: show each end-entity
 * certificate (with its public key's details) so the user sees what is
 * there, and mark the list incomplete. */
static int
add_cert_entry(psm_key_list *list, const struct psm_slot *s, struct tok_cert *c)
{
	struct entry *e;
	int r;

	if ((r = list_grow(list, &e)) < 0)
		return r;
	if ((r = entry_set_id(e, c->t)) < 0 || (r = entry_set_cert(e, s, c)) < 0)
		return r;
	e->info.has_cert = 1;
	if ((e->label = strdup(e->cert_label)) == NULL ||
	    (e->uri = strdup(e->cert_uri)) == NULL)
		return PSM_ERR_NOMEM;
	return 0;
}

static void
tok_certs_free(struct tok_cert *certs, size_t n)
{
	size_t i;

	for (i = 0; certs != NULL && i < n; i++) {
		X509_free(certs[i].x509);
		psm_certinfo_free(certs[i].ci);
	}
	free(certs);
}
/* Does the DER certificate (len bytes) contain the ASCII e-mail address,
 * in any case? A certificate that does not cannot carry it: rfc822Name
 * and emailAddress are IA5Strings, kept as they are (core/certinfo.c). */
static int
der_mentions(const unsigned char *der, size_t len, const char *email)
{
	size_t n = strlen(email), i, k;

	for (i = 0; n > 0 && i + n <= len; i++) {
		for (k = 0; k < n && tolower(der[i + k]) == tolower((unsigned char)email[k]); k++)
			;
		if (k == n)
			return 1;
	}
	return 0;
}

/* What a listing is after: everything (both NULL); the private keys a URI
 * names (uri; used once logged in) and their certificates; or only the
 * certificates that may carry one e-mail address (email, ASCII). */
struct want {
	P11KitUri *uri;
	const char *email;
};

/* ---- the token's certificates, read once ------------------------------ */

/* One certificate object of the slot's index. */
struct idx_cert {
	struct attrs t;             /* CKA_ID, CKA_LABEL, CKA_CERTIFICATE_TYPE, CKA_VALUE */
	X509 *x509;                 /* parsed on first use */
	int unparsable;
};

/* A token's certificates: one search and one read each per scan (on
 * SoftHSM every search re-reads every object file), parsed only when
 * someone needs them (parsing is the costly part of a small signature). */
struct psm_certidx {
	struct idx_cert *v;
	size_t n;
};

void
psm_certidx_free(struct psm_certidx *ix)
{
	size_t i;

	if (ix == NULL)
		return;
	for (i = 0; i < ix->n; i++) {
		attrs_clear(&ix->v[i].t);
		X509_free(ix->v[i].x509);
	}
	free(ix->v);
	free(ix);
}

/* The DER of an X.509 certificate object, or NULL. */
static const CK_ATTRIBUTE *
idx_value(const struct idx_cert *c)
{
	CK_ULONG ctype = CKC_X_509;

	attrs_ulong(&c->t, CKA_CERTIFICATE_TYPE, &ctype);
	return ctype == CKC_X_509 ? attrs_get(&c->t, CKA_VALUE) : NULL;
}

/* The parsed certificate (borrowed from the index), or NULL. */
static X509 *
idx_x509(struct idx_cert *c)
{
	const CK_ATTRIBUTE *v = idx_value(c);
	const unsigned char *p;

	if (c->x509 == NULL && !c->unparsable && v != NULL) {
		p = v->pValue;
		if ((c->x509 = d2i_X509(NULL, &p, (long)v->ulValueLen)) == NULL)
			c->unparsable = 1;
		ERR_clear_error();
	}
	return c->x509;
}

static int
certidx_of(struct psm_slot *s, struct psm_certidx **out)
{
	static const CK_ATTRIBUTE_TYPE types[] = { CKA_ID, CKA_LABEL, CKA_CERTIFICATE_TYPE, CKA_VALUE };
	CK_FUNCTION_LIST *fl = s->mod->fl;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE *h = NULL;
	struct psm_certidx *ix = NULL;
	size_t n = 0, i;
	int r;

	*out = NULL;
	if (s->certidx != NULL) {
		*out = s->certidx;
		return 0;
	}
	if ((r = psm_slot_session(s, &session)) < 0 ||
	    (r = find_objects(fl, session, CKO_CERTIFICATE, NULL, 0, &h, &n)) < 0)
		return r;
	if ((ix = calloc(1, sizeof(*ix))) == NULL || (ix->v = calloc(n + 1, sizeof(*ix->v))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct idx_cert *c = &ix->v[ix->n];

		attrs_init(&c->t, types, sizeof(types) / sizeof(types[0]));
		if ((r = attrs_read(fl, session, h[i], &c->t)) < 0) {
			attrs_clear(&c->t);
			goto out;
		}
		ix->n++;
	}
	s->certidx = ix;
	ix = NULL; /* transferred */
	*out = s->certidx;
	r = 0;
out:
	free(h);
	psm_certidx_free(ix);
	return r;
}

/* Append to *certs (parsed, described) the certificates of the slot's
 * index with CKA_ID id (any, when id is NULL) and, with email, only those
 * whose bytes mention it. */
static int
collect_certs(struct psm_slot *s, const CK_ATTRIBUTE *id, const char *email,
              struct tok_cert **certs, size_t *ncerts)
{
	struct psm_certidx *ix;
	struct tok_cert *grown;
	size_t i;
	int r;

	if ((r = certidx_of(s, &ix)) < 0)
		return r;
	if ((grown = realloc(*certs, (*ncerts + ix->n + 1) * sizeof(*grown))) == NULL)
		return PSM_ERR_NOMEM;
	*certs = grown;
	for (i = 0; i < ix->n; i++) {
		struct idx_cert *ic = &ix->v[i];
		const CK_ATTRIBUTE *v = idx_value(ic), *cid = attrs_get(&ic->t, CKA_ID);
		struct tok_cert *c = &grown[*ncerts];
		size_t id_len = id != NULL && id->pValue != NULL ? id->ulValueLen : 0;
		size_t cid_len = cid != NULL ? cid->ulValueLen : 0;

		if (v == NULL)
			continue;
		if (id != NULL && (id_len != cid_len ||
		                   (id_len > 0 && memcmp(id->pValue, cid->pValue, id_len) != 0)))
			continue;
		if (email != NULL && !der_mentions(v->pValue, v->ulValueLen, email))
			continue;
		if (idx_x509(ic) == NULL)
			continue;       /* an unparsable certificate pairs with nothing */
		memset(c, 0, sizeof(*c));
		c->t = &ic->t;
		if (psm_certinfo_new(ic->x509, &c->ci) < 0 || !X509_up_ref(ic->x509)) {
			psm_certinfo_free(c->ci);
			c->ci = NULL;
			ERR_clear_error();
			continue;
		}
		c->x509 = ic->x509;
		(*ncerts)++;
	}
	return 0;
}

/* Append to *keys the keys of class cls matching extra (see find_objects),
 * with their attributes. */
static int
read_keys(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE session, CK_OBJECT_CLASS cls,
          const CK_ATTRIBUTE *extra, size_t nextra, struct tok_key **keys, size_t *nkeys)
{
	static const CK_ATTRIBUTE_TYPE priv_types[] = {
		CKA_ID, CKA_LABEL, CKA_KEY_TYPE, CKA_SIGN, CKA_DECRYPT, CKA_DERIVE, CKA_UNWRAP,
		CKA_ALWAYS_AUTHENTICATE, CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_MODULUS,
		CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS
	};
	static const CK_ATTRIBUTE_TYPE pub_types[] = {
		CKA_ID, CKA_LABEL, CKA_KEY_TYPE, CKA_MODULUS, CKA_EC_POINT, CKA_EC_PARAMS
	};
	const CK_ATTRIBUTE_TYPE *types = cls == CKO_PRIVATE_KEY ? priv_types : pub_types;
	size_t ntypes = cls == CKO_PRIVATE_KEY ? sizeof(priv_types) / sizeof(priv_types[0])
	                                       : sizeof(pub_types) / sizeof(pub_types[0]);
	CK_OBJECT_HANDLE *h = NULL;
	struct tok_key *grown;
	size_t n = 0, i;
	int r;

	if ((r = find_objects(fl, session, cls, extra, nextra, &h, &n)) < 0)
		return r;
	if ((grown = realloc(*keys, (*nkeys + n + 1) * sizeof(*grown))) == NULL) {
		free(h);
		return PSM_ERR_NOMEM;
	}
	*keys = grown;
	for (i = 0; i < n; i++) {
		struct tok_key *k = &grown[*nkeys];

		memset(k, 0, sizeof(*k));
		k->h = h[i];
		attrs_init(&k->t, types, ntypes);
		r = attrs_read(fl, session, h[i], &k->t);
		(*nkeys)++;     /* freed with the others even when reading failed */
		if (r < 0) {
			free(h);
			return r;
		}
	}
	free(h);
	return 0;
}

static void
tok_keys_free(struct tok_key *keys, size_t n)
{
	size_t i;

	for (i = 0; keys != NULL && i < n; i++)
		attrs_clear(&keys[i].t);
	free(keys);
}

int
psm_uri_wants(P11KitUri *uri, CK_ATTRIBUTE_TYPE type, const void *value, size_t len)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, type);

	if (a == NULL)
		return 1;
	return a->ulValueLen == len && (len == 0 || memcmp(a->pValue, value, len) == 0);
}

/* Keep only the private keys the URI names (by CKA_ID and label). */
static void
filter_keys(struct tok_key *keys, size_t *nkeys, P11KitUri *filter)
{
	size_t i, kept = 0;

	for (i = 0; i < *nkeys; i++) {
		const CK_ATTRIBUTE *id = attrs_get(&keys[i].t, CKA_ID);
		const CK_ATTRIBUTE *label = attrs_get(&keys[i].t, CKA_LABEL);

		if (psm_uri_wants(filter, CKA_ID, id ? id->pValue : NULL, id ? id->ulValueLen : 0) &&
		    psm_uri_wants(filter, CKA_LABEL, label ? label->pValue : NULL,
		                  label ? label->ulValueLen : 0))
			keys[kept++] = keys[i];
		else
			attrs_clear(&keys[i].t);
	}
	*nkeys = kept;
}

/* Did an earlier key of keys[0..i) have the same CKA_ID as keys[i]? */
static int
id_seen(const struct tok_key *keys, size_t i)
{
	const CK_ATTRIBUTE *id = attrs_get(&keys[i].t, CKA_ID);
	size_t k;

	for (k = 0; k < i; k++) {
		const CK_ATTRIBUTE *o = attrs_get(&keys[k].t, CKA_ID);

		if ((o == NULL) == (id == NULL) &&
		    (id == NULL || (o->ulValueLen == id->ulValueLen &&
		                    memcmp(o->pValue, id->pValue, id->ulValueLen) == 0)))
			return 1;
	}
	return 0;
}

/* For the private keys a URI named: the public keys (EC keys need their
 * point; found by the token) and certificates filed under their CKA_IDs. */
static int
read_for_keys(struct psm_slot *s, CK_SESSION_HANDLE session, const struct tok_key *keys,
              size_t nkeys, struct tok_key **pubs, size_t *npubs, struct tok_cert **certs,
              size_t *ncerts)
{
	size_t i;
	int r;

	for (i = 0; i < nkeys; i++) {
		const CK_ATTRIBUTE *id = attrs_get(&keys[i].t, CKA_ID);
		CK_ATTRIBUTE a = { CKA_ID, NULL, 0 };

		if (id_seen(keys, i))
			continue;
		if (id != NULL)
			a = *id;
		if (attrs_get(&keys[i].t, CKA_MODULUS) == NULL &&
		    (r = read_keys(s->mod->fl, session, CKO_PUBLIC_KEY, &a, 1, pubs, npubs)) < 0)
			return r;
		if ((r = collect_certs(s, &a, NULL, certs, ncerts)) < 0)
			return r;
	}
	return 0;
}

static int
list_token(psm_p11 *p11, struct psm_slot *s, psm_key_list *list, const struct want *want)
{
	CK_FUNCTION_LIST *fl = s->mod->fl;
	CK_SESSION_HANDLE session;
	struct tok_key *keys = NULL, *pubs = NULL;
	struct tok_cert *certs = NULL;
	size_t nkeys = 0, npubs = 0, ncerts = 0, i;
	psm_pair_obj *kp = NULL, *cp = NULL;
	struct attrs *pubattrs = NULL;
	P11KitUri *filter = want->uri;
	CK_ATTRIBUTE named[2];
	size_t nnamed = 0;
	long *cert_of = NULL;
	int *how = NULL;
	unsigned char *used = NULL;
	int r, logged = 0;

	if ((r = psm_slot_session(s, &session)) < 0)
		return r;
	if (s->info.login_required && !s->info.protected_auth_path && p11->pin_source == NULL) {
		list->incomplete = 1;
	} else if (s->info.login_required) {
		if ((r = psm_slot_login(p11, s, p11->pin_source)) < 0)
			return r;
		logged = 1;
	}
	if (filter != NULL && !logged)
		filter = NULL;  /* the keys may be hidden: look at everything */
	if (filter != NULL) {
		/* the token finds the keys the URI names, then what goes with them */
		nnamed += uri_attr(filter, CKA_ID, &named[nnamed]);
		nnamed += uri_attr(filter, CKA_LABEL, &named[nnamed]);
		if ((r = read_keys(fl, session, CKO_PRIVATE_KEY, named, nnamed, &keys, &nkeys)) < 0)
			goto out;
		filter_keys(keys, &nkeys, filter);
		if ((r = read_for_keys(s, session, keys, nkeys, &pubs, &npubs, &certs, &ncerts)) < 0)
			goto out;
	} else if ((r = read_keys(fl, session, CKO_PRIVATE_KEY, NULL, 0, &keys, &nkeys)) < 0 ||
	           (r = read_keys(fl, session, CKO_PUBLIC_KEY, NULL, 0, &pubs, &npubs)) < 0 ||
	           (r = collect_certs(s, NULL, want->email, &certs, &ncerts)) < 0) {
		goto out;
	}
again:
	if ((pubattrs = calloc(npubs + 1, sizeof(*pubattrs))) == NULL)
		goto nomem;
	for (i = 0; i < npubs; i++)
		pubattrs[i] = pubs[i].t;   /* shallow: pubs keeps ownership */
	kp = calloc(nkeys + 1, sizeof(*kp));
	cp = calloc(ncerts + 1, sizeof(*cp));
	cert_of = calloc(nkeys + 1, sizeof(*cert_of));
	how = calloc(nkeys + 1, sizeof(*how));
	used = calloc(ncerts + 1, 1);
	if (kp == NULL || cp == NULL || cert_of == NULL || how == NULL || used == NULL)
		goto nomem;
	for (i = 0; i < nkeys; i++) {
		const CK_ATTRIBUTE *id = attrs_get(&keys[i].t, CKA_ID);

		key_identity(&keys[i], pubattrs, npubs);
		kp[i].id = id ? id->pValue : NULL;
		kp[i].id_len = id ? id->ulValueLen : 0;
		kp[i].pub = keys[i].pub;
		kp[i].pub_len = keys[i].pub_len;
	}
	for (i = 0; i < ncerts; i++) {
		const CK_ATTRIBUTE *id = attrs_get(certs[i].t, CKA_ID);

		cp[i].id = id ? id->pValue : NULL;
		cp[i].id_len = id ? id->ulValueLen : 0;
		cp[i].pub = certs[i].ci->pub;
		cp[i].pub_len = certs[i].ci->pub_len;
	}
	psm_pair_keys(kp, nkeys, cp, ncerts, cert_of, how);
	if (filter != NULL) {
		/* a key whose certificate is filed under another ID: read all */
		for (i = 0; i < nkeys && cert_of[i] >= 0; i++)
			;
		if (i < nkeys) {
			filter = NULL;
			tok_certs_free(certs, ncerts);
			certs = NULL;
			ncerts = 0;
			free(kp);
			free(cp);
			free(cert_of);
			free(how);
			free(used);
			free(pubattrs);
			kp = cp = NULL;
			cert_of = NULL;
			how = NULL;
			used = NULL;
			pubattrs = NULL;
			if ((r = collect_certs(s, NULL, NULL, &certs, &ncerts)) < 0)
				goto out;
			goto again;
		}
	}
	for (i = 0; i < nkeys; i++) {
		struct tok_cert *c = cert_of[i] >= 0 ? &certs[cert_of[i]] : NULL;

		if (c != NULL)
			used[cert_of[i]] = 1;
		if ((r = add_key_entry(list, s, &keys[i], c, how[i])) < 0)
			goto out;
	}
	if (!logged && s->info.login_required) {
		for (i = 0; i < ncerts; i++)
			if (!used[i] && !pure_ca(&certs[i]) &&
			    (r = add_cert_entry(list, s, &certs[i])) < 0)
				goto out;
	}
	r = 0;
	goto out;
nomem:
	r = PSM_ERR_NOMEM;
out:
	free(pubattrs);
	free(kp);
	free(cp);
	free(cert_of);
	free(how);
	free(used);
	tok_keys_free(keys, nkeys);
	tok_keys_free(pubs, npubs);
	tok_certs_free(certs, ncerts);
	return r;
}

/* Within a token, list keys in CKA_ID order (then by label). */
static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->info.id_len < y->info.id_len ? x->info.id_len : y->info.id_len;
	int c = n > 0 ? memcmp(x->id, y->id, n) : 0;

	if (c != 0)
		return c;
	if (x->info.id_len != y->info.id_len)
		return x->info.id_len < y->info.id_len ? -1 : 1;
	return strcmp(x->label, y->label);
}

static void
publish(psm_key_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		struct entry *e = &list->v[i];
		psm_key_info *in = &e->info;

		in->label = e->label;
		in->cert_label = e->cert_label;
		in->id = e->id;
		in->id_hex = e->id_hex;
		in->uri = e->uri;
		in->cert_uri = e->cert_uri;
		in->has_cert = e->cert != NULL;
		in->cert = e->cert;
		if (e->ci != NULL) {
			in->subject = e->ci->subject;
			in->emails = (const char *const *)e->ci->emails;
			in->not_before = e->ci->not_before;
			in->not_after = e->ci->not_after;
			if (!in->has_key) {
				in->type = e->ci->key_type == EVP_PKEY_RSA ? PSM_KEY_RSA
				         : e->ci->key_type == EVP_PKEY_EC ? PSM_KEY_EC : PSM_KEY_OTHER;
				in->bits = e->ci->bits;
				in->curve = e->ci->curve;
			}
		}
	}
}

static int list_keys(psm_p11 *p11, const char *token_uri, const struct want *want,
                     psm_key_list **out);

int
psm_p11_list_keys(psm_p11 *p11, const char *token_uri, psm_key_list **out)
{
	struct want want = { NULL, NULL };

	return list_keys(p11, token_uri, &want, out);
}

int
psm_p11_list_keys_filtered(psm_p11 *p11, const char *token_uri, P11KitUri *filter,
                           psm_key_list **out)
{
	struct want want = { filter, NULL };

	return list_keys(p11, token_uri, &want, out);
}

static int
list_keys(psm_p11 *p11, const char *token_uri, const struct want *want, psm_key_list **out)
{
	psm_key_list *list = NULL;
	psm_pin_source *saved = NULL;
	P11KitUri *uri = NULL;
	size_t i, matched = 0, first, needs_pin = 0;
	int r = PSM_ERR_INTERNAL;

	*out = NULL;
	if (token_uri != NULL && (r = psm_uri_parse(token_uri, &uri)) < 0)
		return r;
	if (p11->nslots == 0 && (r = psm_p11_scan(p11)) < 0)
		goto out;
	if ((list = calloc(1, sizeof(*list))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	/* One fixed PIN (file:, fd:) belongs to one token: trying it on every
	 * token that needs a login would spend tries on a guess. */
	for (i = 0; i < p11->nslots; i++) {
		struct psm_slot *s = &p11->slots[i];

		if (s->info.token_present && !s->info.duplicate && s->info.initialized &&
		    s->info.login_required && !s->info.protected_auth_path &&
		    (uri == NULL || psm_slot_matches(s, uri)))
			needs_pin++;
	}
	if (needs_pin > 1 && p11->pin_source != NULL &&
	    !psm_pin_source_is_interactive(p11->pin_source)) {
		saved = p11->pin_source;
		p11->pin_source = NULL;
		list->several_need_pin = 1;
	}
	for (i = 0; i < p11->nslots; i++) {
		struct psm_slot *s = &p11->slots[i];

		if (!s->info.token_present || s->info.duplicate || !s->info.initialized)
			continue;
		if (uri != NULL && !psm_slot_matches(s, uri))
			continue;
		/* a trust module (p11-kit's CA store) holds no keys: skip its
		 * hundreds of certificates unless it was asked for */
		if (uri == NULL && s->mod->trust_policy)
			continue;
		matched++;
		first = list->n;
		if ((r = list_token(p11, s, list, want)) < 0)
			goto out;
		if (list->n > first)
			qsort(list->v + first, list->n - first, sizeof(*list->v), entry_cmp);
		/* entries point at their slot's info; slots do not move now */
		for (; first < list->n; first++)
			list->v[first].info.slot = &s->info;
	}
	if (uri != NULL && matched == 0) {
		psm_error_set("no token matches %s; run 'p11smime tokens' to see the tokens", token_uri);
		r = PSM_ERR_NOT_FOUND;
		goto out;
	}
	publish(list);
	*out = list;
	list = NULL; /* transferred */
	r = 0;
out:
	if (saved != NULL)
		p11->pin_source = saved;
	p11_kit_uri_free(uri);
	psm_key_list_free(list);
	return r;
}

int
psm_p11_token_certs(psm_p11 *p11, const psm_slot_info *slot, STACK_OF(X509) **out)
{
	struct psm_slot *s = NULL;
	struct psm_certidx *ix;
	STACK_OF(X509) *sk = NULL;
	size_t i;
	int r;

	*out = NULL;
	for (i = 0; i < p11->nslots; i++)
		if (&p11->slots[i].info == slot)
			s = &p11->slots[i];
	if (s == NULL) {
		psm_error_set("that token is no longer known");
		return PSM_ERR_NOT_FOUND;
	}
	if ((r = certidx_of(s, &ix)) < 0)
		return r;
	if ((sk = sk_X509_new_null()) == NULL)
		return PSM_ERR_NOMEM;
	for (i = 0; i < ix->n; i++) {
		X509 *x = idx_x509(&ix->v[i]);

		if (x == NULL)
			continue;
		if (!X509_up_ref(x))
			goto nomem;
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			goto nomem;
		}
	}
	*out = sk;
	return 0;
nomem:
	sk_X509_pop_free(sk, X509_free);
	return PSM_ERR_NOMEM;
}

int
psm_p11_list_public_for_email(psm_p11 *p11, const char *email, psm_key_list **out)
{
	psm_pin_source *saved = p11->pin_source;
	struct want want = { NULL, NULL };
	size_t i;
	int r;

	/* certificates are public: look without logging in anywhere, parsing
	 * only those whose bytes mention the address (an ASCII one: others
	 * are compared after parsing) */
	for (i = 0; email[i] != '\0' && (unsigned char)email[i] < 0x80; i++)
		;
	want.email = email[i] == '\0' ? email : NULL;
	p11->pin_source = NULL;
	r = list_keys(p11, NULL, &want, out);
	p11->pin_source = saved;
	return r;
}

int
psm_p11_find_key_for_email(psm_p11 *p11, const char *email, int for_signing, char **uri_out)
{
	psm_key_list *list = NULL;
	const psm_key_info *best = NULL;
	size_t i, e;
	int r;

	*uri_out = NULL;
	if ((r = psm_p11_list_public_for_email(p11, email, &list)) < 0)
		return r;
	for (i = 0; i < psm_key_list_count(list); i++) {
		const psm_key_info *k = psm_key_list_get(list, i);
		uint32_t ku;
		int match = 0;

		if (k->cert == NULL)
			continue;
		for (e = 0; k->emails != NULL && k->emails[e] != NULL; e++)
			if (strcasecmp(k->emails[e], email) == 0)
				match = 1;
		if (!match || X509_cmp_current_time(X509_get0_notAfter(k->cert)) < 0)
			continue;
		ku = X509_get_key_usage(k->cert);
		if (for_signing ? !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))
		                : !(ku & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)))
			continue;
		if (k->has_key && (for_signing ? !k->can_sign : !(k->can_decrypt || k->can_derive)))
			continue;
		if (best == NULL) {
			best = k;
		} else if (best->slot != k->slot || best->id_len != k->id_len ||
		           memcmp(best->id, k->id, k->id_len) != 0) {
			psm_error_set("several keys have a certificate for %s; choose one with --key "
			              "(see 'p11smime keys')", email);
			psm_key_list_free(list);
			return PSM_ERR_AMBIGUOUS;
		}
	}
	if (best == NULL) {
		psm_error_set("no token key has a valid certificate for %s that allows %s; "
		              "choose one with --key (see 'p11smime keys')", email,
		              for_signing ? "signing" : "decryption");
		psm_key_list_free(list);
		return PSM_ERR_NOT_FOUND;
	}
	for (i = 0; i < p11->nslots; i++) {
		if (&p11->slots[i].info == best->slot) {
			*uri_out = psm_uri_for_object(&p11->slots[i], CKO_PRIVATE_KEY, best->id,
			                              best->id_len, NULL);
			break;
		}
	}
	psm_key_list_free(list);
	return *uri_out != NULL ? 0 : PSM_ERR_NOMEM;
}

/* The next DER element in [*p, end): its tag, and its contents. */
static int
der_next(const unsigned char **p, const unsigned char *end, unsigned *tag,
         const unsigned char **body, size_t *body_len)
{
	const unsigned char *q = *p;
	size_t len, n;

	if (end - q < 2 || (q[0] & 0x1f) == 0x1f)
		return 0;
	*tag = *q++;
	len = *q++;
	if (len & 0x80) {
		n = len & 0x7f;
		if (n == 0 || n > sizeof(size_t) || (size_t)(end - q) < n)
			return 0;
		for (len = 0; n > 0; n--)
			len = (len << 8) | *q++;
	}
	if ((size_t)(end - q) < len)
		return 0;
	*body = q;
	*body_len = len;
	*p = q + len;
	return 1;
}

/* The issuer and subject Names (whole DER elements) of a DER
 * certificate, found without parsing it. 0 when it cannot be read so. */
static int
der_names(const unsigned char *der, size_t len, const unsigned char **issuer, size_t *issuer_len,
          const unsigned char **subject, size_t *subject_len)
{
	const unsigned char *p = der, *end = der + len, *body;
	size_t blen;
	unsigned tag;

	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
	 * OPTIONAL, serialNumber, signature, issuer, validity, subject, ... */
	if (!der_next(&p, end, &tag, &body, &blen) || tag != 0x30)
		return 0;
	p = body;
	end = body + blen;
	if (!der_next(&p, end, &tag, &body, &blen) || tag != 0x30)
		return 0;
	p = body;
	end = body + blen;
	if (!der_next(&p, end, &tag, &body, &blen))
		return 0;
	if (tag == 0xa0 && !der_next(&p, end, &tag, &body, &blen))     /* version */
		return 0;
	if (tag != 0x02 || !der_next(&p, end, &tag, &body, &blen) || tag != 0x30)
		return 0;      /* serialNumber, signature */
	*issuer = p;
	if (!der_next(&p, end, &tag, &body, &blen) || tag != 0x30)
		return 0;
	*issuer_len = (size_t)(p - *issuer);
	if (!der_next(&p, end, &tag, &body, &blen) || tag != 0x30)     /* validity */
		return 0;
	*subject = p;
	if (!der_next(&p, end, &tag, &body, &blen) || tag != 0x30)
		return 0;
	*subject_len = (size_t)(p - *subject);
	return 1;
}

/* The certificates on slot's token with the subject name (DER, len
 * bytes), parsed and appended to *pool. Left out unparsed: the certificate
 * whose DER is skip (skip_len bytes; none when NULL) and, with
 * no_self_issued, self-issued ones (roots: RFC 5280 section 3.2). A
 * certificate whose names cannot be read without parsing is parsed and
 * compared as before, by its CKA_SUBJECT's equivalent. */
static int
certs_by_subject(struct psm_slot *s, const unsigned char *name, size_t len,
                 const unsigned char *skip, size_t skip_len, int no_self_issued,
                 STACK_OF(X509) **pool)
{
	struct psm_certidx *ix;
	size_t i, il, sl;
	int r;

	if ((r = certidx_of(s, &ix)) < 0)
		return r;
	if (*pool == NULL && (*pool = sk_X509_new_null()) == NULL)
		return PSM_ERR_NOMEM;
	for (i = 0; i < ix->n; i++) {
		struct idx_cert *c = &ix->v[i];
		const CK_ATTRIBUTE *v = idx_value(c);
		const unsigned char *is, *su;
		X509 *x;

		if (v == NULL)
			continue;
		if (skip != NULL && v->ulValueLen == skip_len && memcmp(v->pValue, skip, skip_len) == 0)
			continue;
		if (der_names(v->pValue, v->ulValueLen, &is, &il, &su, &sl)) {
			if (sl != len || memcmp(su, name, len) != 0)
				continue;
			if (no_self_issued && il == sl && memcmp(is, su, sl) == 0)
				continue;
			if ((x = idx_x509(c)) == NULL)
				continue;
		} else {
			unsigned char *der = NULL;
			int dl;

			if ((x = idx_x509(c)) == NULL)
				continue;
			dl = i2d_X509_NAME(X509_get_subject_name(x), &der);
			r = dl > 0 && (size_t)dl == len && memcmp(der, name, len) == 0;
			OPENSSL_free(der);
			if (!r)
				continue;
		}
		if (!X509_up_ref(x))
			return PSM_ERR_NOMEM;
		if (!sk_X509_push(*pool, x)) {
			X509_free(x);
			return PSM_ERR_NOMEM;
		}
	}
	ERR_clear_error();
	return 0;
}

static struct psm_slot *
slot_of(psm_p11 *p11, const psm_slot_info *info)
{
	size_t i;

	for (i = 0; i < p11->nslots; i++)
		if (&p11->slots[i].info == info)
			return &p11->slots[i];
	psm_error_set("that token is no longer known");
	return NULL;
}

int
psm_p11_token_issuers(psm_p11 *p11, const psm_slot_info *slot, X509 *cert, STACK_OF(X509) **pool)
{
	struct psm_slot *s = slot_of(p11, slot);
	X509 *cur = cert;
	int depth, i, r;

	if (s == NULL)
		return PSM_ERR_NOT_FOUND;
	for (depth = 0; depth < 8; depth++) {
		unsigned char *der = NULL;
		int len = i2d_X509_NAME(X509_get_issuer_name(cur), &der);
		int before = *pool != NULL ? sk_X509_num(*pool) : 0;
		X509 *next = NULL;

		if (len <= 0)
			return PSM_ERR_CRYPTO;
		/* a root (self-issued) ends a chain and is never sent with it
		 * (core/chain.c): it is not parsed */
		r = certs_by_subject(s, der, (size_t)len, NULL, 0, 1, pool);
		OPENSSL_free(der);
		if (r < 0)
			return r;
		for (i = before; i < sk_X509_num(*pool); i++)
			if (X509_check_issued(sk_X509_value(*pool, i), cur) == X509_V_OK)
				next = sk_X509_value(*pool, i);
		ERR_clear_error();
		if (next == NULL || X509_check_issued(next, next) == X509_V_OK)
			break;      /* no issuer here, or the root */
		cur = next;
	}
	return 0;
}

int
psm_p11_token_same_subject(psm_p11 *p11, const psm_slot_info *slot, X509 *cert,
                           STACK_OF(X509) **out)
{
	struct psm_slot *s = slot_of(p11, slot);
	unsigned char *der = NULL;
	int len, r;

	*out = NULL;
	if (s == NULL)
		return PSM_ERR_NOT_FOUND;
	if ((len = i2d_X509_NAME(X509_get_subject_name(cert), &der)) <= 0)
		return PSM_ERR_CRYPTO;
	r = certs_by_subject(s, der, (size_t)len, NULL, 0, 0, out);
	OPENSSL_free(der);
	return r;
}

int
psm_p11_token_same_subject_other(psm_p11 *p11, const psm_slot_info *slot, X509 *cert,
                                 STACK_OF(X509) **out)
{
	struct psm_slot *s = slot_of(p11, slot);
	unsigned char *name = NULL, *mine = NULL;
	int len, mine_len, r = PSM_ERR_CRYPTO;

	*out = NULL;
	if (s == NULL)
		return PSM_ERR_NOT_FOUND;
	if ((len = i2d_X509_NAME(X509_get_subject_name(cert), &name)) > 0 &&
	    (mine_len = i2d_X509(cert, &mine)) > 0)
		r = certs_by_subject(s, name, (size_t)len, mine, (size_t)mine_len, 0, out);
	OPENSSL_free(name);
	OPENSSL_free(mine);
	return r;
}
