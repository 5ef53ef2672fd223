/* p11smime: private keys on a token as OpenSSL EVP_PKEYs.
 *
 * The key's private operations run on the token, on a session of its own
 * in the module we already loaded and logged in to: an RSA_METHOD and an
 * EC_KEY_METHOD whose private halves call C_Sign, C_Decrypt and
 * C_DeriveKey (the public halves stay OpenSSL's). OpenSSL 3 treats a key
 * with such a method as "foreign" and takes its legacy code paths for it,
 * as it does for libp11's keys: PKCS#1 v1.5 is CKM_RSA_PKCS, RSA-PSS and
 * OAEP are padded by OpenSSL and go through CKM_RSA_X_509, ECDSA is
 * CKM_ECDSA over the digest, ECDH is CKM_ECDH1_DERIVE.
 *
 * We log in ourselves (tokens/login.c: PIN policy, wiping). For
 * CKA_ALWAYS_AUTHENTICATE keys each operation is C_SignInit (or
 * C_DecryptInit), then C_Login(CKU_CONTEXT_SPECIFIC) with the same PIN
 * source, then C_Sign: the order cards require. The PIN policy is checked
 * before each of those logins too.
 */
#include "config.h"

#include "p11-int.h"
#include "ckr.h"
#include "error.h"
#include "certinfo.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

/* A private key object on a token, as the RSA/EC_KEY methods see it (ex
 * data). Shared by the psm_key and by every RSA or EC_KEY that holds it
 * (OpenSSL may copy an EC_KEY): counted. psm_key_free() and psm_p11_free()
 * cut it off the token (fl = NULL): a copy that outlives them fails
 * cleanly instead of calling into a finalised module. */
struct psm_tokkey {
	int refs;
	struct psm_tokkey *next;      /* in p11->tokkeys while on a token */
	psm_p11 *p11;
	CK_FUNCTION_LIST *fl;         /* NULL once cut off */
	CK_SLOT_ID slot_id;
	CK_SESSION_HANDLE session;    /* the key's own */
	CK_OBJECT_HANDLE obj;
	int always_auth, pin_pad, allow_final_try;
	psm_pin_source *pin_source;   /* borrowed: context-specific logins */
	char label[33];               /* the token's, for prompts */
};

struct psm_key {
	psm_p11 *p11;
	struct psm_tokkey *tk;
	EVP_PKEY *pkey;
	psm_key_list *list;           /* holds info and the certificate */
	const psm_key_info *info;
	psm_pin_source *own_source;   /* from the URI's pin-source */
};

/* ---- errors the methods put on OpenSSL's queue ------------------------- */

/* The methods cannot return a psm_err: they raise one of these, and the
 * caller's psm_error_from_openssl() turns its text into the detail. */
enum {
	R_TOKEN_FAILED = 1,
	R_PIN_INCORRECT,
	R_PIN_LOCKED,
	R_PIN_FINAL_TRY,
	R_PIN_SOURCE,
	R_TOKEN_ABSENT,
	R_NOT_PERMITTED,
	R_NOT_LOGGED_IN,
	R_KEY_CLOSED,
	R_PADDING
};

/* ERR_load_strings() adds our library number to each code */
static ERR_STRING_DATA err_strings[] = {
	{ R_TOKEN_FAILED, "the token failed the operation" },
	{ R_PIN_INCORRECT, "the token refused the PIN for this key's login; it was not retried: "
	                   "check the PIN before trying again" },
	{ R_PIN_LOCKED, "the token's PIN is locked or unusable; unlock it with the SO PIN or PUK" },
	{ R_PIN_FINAL_TRY, "the token has one PIN try left; p11smime will not spend it on its "
	                   "own: make sure the PIN is right, then pass --allow-last-pin-try" },
	{ R_PIN_SOURCE, "no PIN for this key's login; give one with --pin-source" },
	{ R_TOKEN_ABSENT, "the token was removed; insert it again and run the command again" },
	{ R_NOT_PERMITTED, "the token does not allow this key to do that; 'p11smime keys' shows "
	                   "what each key may do" },
	{ R_NOT_LOGGED_IN, "the token requires a login for this key; give a PIN source with "
	                   "--pin-source" },
	{ R_KEY_CLOSED, "the token key was closed" },
	{ R_PADDING, "this RSA padding cannot be done on the token" },
	{ 0, NULL }
};

static int err_lib;

/* What each reason is as a psm_err (psm_error_from_openssl returns it). */
static int
reason_to_err(int reason)
{
	switch (reason) {
	case R_PIN_INCORRECT:
		return PSM_ERR_PIN_INCORRECT;
	case R_PIN_LOCKED:
		return PSM_ERR_PIN_LOCKED;
	case R_PIN_FINAL_TRY:
		return PSM_ERR_PIN_FINAL_TRY;
	case R_PIN_SOURCE:
		return PSM_ERR_PIN_SOURCE;
	case R_TOKEN_ABSENT:
		return PSM_ERR_TOKEN_ABSENT;
	case R_NOT_PERMITTED:
	case R_PADDING:
		return PSM_ERR_KEY_USAGE;
	default:
		return PSM_ERR_TOKEN;
	}
}

/* The reason, with the token's label and the CK_RV as its data. */
static void
raise_reason(const struct psm_tokkey *tk, int reason, CK_RV rv)
{
	const char *label = tk != NULL && tk->label[0] != '\0' ? tk->label : NULL;

	if (label != NULL && rv != CKR_OK)
		ERR_raise_data(err_lib, reason, "token '%s', %s", label, psm_ckr_name(rv));
	else if (label != NULL)
		ERR_raise_data(err_lib, reason, "token '%s'", label);
	else
		ERR_raise_data(err_lib, reason, "%s", rv != CKR_OK ? psm_ckr_name(rv) : "");
}

static void
raise_ckr(const struct psm_tokkey *tk, CK_RV rv)
{
	int reason;

	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		reason = R_PIN_INCORRECT;
		break;
	case CKR_PIN_LOCKED:
	case CKR_PIN_EXPIRED:
	case CKR_USER_PIN_NOT_INITIALIZED:
		reason = R_PIN_LOCKED;
		break;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
		reason = R_TOKEN_ABSENT;
		break;
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_MECHANISM_INVALID:
		reason = R_NOT_PERMITTED;
		break;
	case CKR_USER_NOT_LOGGED_IN:
		reason = R_NOT_LOGGED_IN;
		break;
	default:
		reason = R_TOKEN_FAILED;
		break;
	}
	raise_reason(tk, reason, rv);
}

/* ---- the methods -------------------------------------------------------- */

static CRYPTO_ONCE methods_once = CRYPTO_ONCE_STATIC_INIT;
static int methods_ok;
static int rsa_idx = -1, ec_idx = -1;
static RSA_METHOD *rsa_meth;
static EC_KEY_METHOD *ec_meth;
static int (*ossl_rsa_finish)(RSA *);
static void (*ossl_ec_finish)(EC_KEY *);
static int (*ossl_ec_copy)(EC_KEY *, const EC_KEY *);

static void
tokkey_unref(struct psm_tokkey *tk)
{
	if (tk == NULL || --tk->refs > 0)
		return;
	free(tk);
}

/* Cut tk off its token: close its session, forget the module. */
static void
tokkey_cut(struct psm_tokkey *tk)
{
	struct psm_tokkey **pp;

	if (tk->p11 != NULL) {
		for (pp = &tk->p11->tokkeys; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == tk) {
				*pp = tk->next;
				break;
			}
		}
		tk->p11 = NULL;
	}
	if (tk->fl != NULL && tk->session != CK_INVALID_HANDLE)
		tk->fl->C_CloseSession(tk->session);
	tk->fl = NULL;
	tk->session = CK_INVALID_HANDLE;
	tk->pin_source = NULL;
}

void
psm_tokkeys_cut_all(psm_p11 *p11)
{
	while (p11->tokkeys != NULL)
		tokkey_cut(p11->tokkeys);
}

enum { OP_SIGN, OP_DECRYPT };

/* Before each operation of an always-authenticate key: the PIN policy
 * (locked, final try) on the token's current flags, and the PIN. */
static int
context_pin(struct psm_tokkey *tk, int op, char **pin, size_t *len)
{
	CK_TOKEN_INFO ti;
	char desc[96];
	CK_RV rv;
	int r;

	*pin = NULL;
	*len = 0;
	memset(&ti, 0, sizeof(ti));
	if ((rv = tk->fl->C_GetTokenInfo(tk->slot_id, &ti)) != CKR_OK) {
		raise_ckr(tk, rv);
		return 0;
	}
	r = psm_pin_check_flags(tk->label, ti.flags, tk->allow_final_try);
	if (r == PSM_ERR_PIN_FINAL_TRY || r == PSM_ERR_PIN_LOCKED) {
		raise_reason(tk, r == PSM_ERR_PIN_FINAL_TRY ? R_PIN_FINAL_TRY : R_PIN_LOCKED, CKR_OK);
		return 0;
	}
	if (tk->pin_pad)
		return 1;   /* the reader asks; we pass no PIN */
	if (tk->pin_source == NULL) {
		raise_reason(tk, R_PIN_SOURCE, CKR_OK);
		return 0;
	}
	snprintf(desc, sizeof(desc), "PIN for this %s with token '%s'",
	         op == OP_SIGN ? "signature" : "decryption", tk->label);
	if (psm_pin_source_get(tk->pin_source, desc, pin, len) < 0) {
		raise_reason(tk, R_PIN_SOURCE, CKR_OK);
		return 0;
	}
	return 1;
}

/* The operation was initialised but will not be finished: a session
 * cannot start another one while it is pending, so replace the session
 * (the token stays logged in through the slot's session). */
static void
abandon_session(struct psm_tokkey *tk)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;

	tk->fl->C_CloseSession(tk->session);
	if (tk->fl->C_OpenSession(tk->slot_id, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
		s = CK_INVALID_HANDLE;
	tk->session = s;
}

/* One single-part operation with the key: Init, the context-specific
 * login when the key needs one, then the operation. *outlen is the
 * buffer's size on entry. Returns 1, or 0 with an error raised. */
static int
token_op(struct psm_tokkey *tk, int op, CK_MECHANISM *mech, const unsigned char *in,
         size_t inlen, unsigned char *out, CK_ULONG *outlen)
{
	char *pin = NULL;
	size_t pin_len = 0;
	CK_RV rv;

	if (tk == NULL || tk->fl == NULL || tk->session == CK_INVALID_HANDLE) {
		raise_reason(tk, R_KEY_CLOSED, CKR_OK);
		return 0;
	}
	/* the PIN is read before the operation starts: a PIN source that
	 * fails then leaves nothing pending on the token */
	if (tk->always_auth && !context_pin(tk, op, &pin, &pin_len))
		return 0;
	rv = op == OP_SIGN ? tk->fl->C_SignInit(tk->session, mech, tk->obj)
	                   : tk->fl->C_DecryptInit(tk->session, mech, tk->obj);
	if (rv != CKR_OK) {
		psm_pin_free(pin);
		raise_ckr(tk, rv);
		return 0;
	}
	if (tk->always_auth) {
		rv = tk->fl->C_Login(tk->session, CKU_CONTEXT_SPECIFIC,
		                     (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pin_len);
		psm_pin_free(pin);
		pin = NULL;
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
			/* never retried: the operation is dropped with the session */
			abandon_session(tk);
			raise_ckr(tk, rv);
			return 0;
		}
	}
	rv = op == OP_SIGN ? tk->fl->C_Sign(tk->session, (CK_BYTE_PTR)in, (CK_ULONG)inlen, out, outlen)
	                   : tk->fl->C_Decrypt(tk->session, (CK_BYTE_PTR)in, (CK_ULONG)inlen, out,
	                                       outlen);
	if (rv != CKR_OK) {
		if (rv == CKR_BUFFER_TOO_SMALL)
			abandon_session(tk);
		raise_ckr(tk, rv);
		return 0;
	}
	return 1;
}

static int
rsa_mechanism(int padding, CK_MECHANISM *mech)
{
	memset(mech, 0, sizeof(*mech));
	switch (padding) {
	case RSA_PKCS1_PADDING:
		mech->mechanism = CKM_RSA_PKCS;
		return 1;
	case RSA_NO_PADDING:
		/* PSS and OAEP: OpenSSL pads, the token does the raw operation */
		mech->mechanism = CKM_RSA_X_509;
		return 1;
	default:
		raise_reason(NULL, R_PADDING, CKR_OK);
		return 0;
	}
}

/* RSA on the token: a signature (RSA_size bytes) or a decryption. */
static int
rsa_token_op(int op, int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
             int padding)
{
	struct psm_tokkey *tk = RSA_get_ex_data(rsa, rsa_idx);
	int size = RSA_size(rsa);
	CK_MECHANISM mech;
	CK_ULONG len = (CK_ULONG)size;

	if (flen < 0 || size <= 0 || !rsa_mechanism(padding, &mech) ||
	    !token_op(tk, op, &mech, from, (size_t)flen, to, &len) || len > (CK_ULONG)size)
		return -1;
	if (op == OP_SIGN && len < (CK_ULONG)size) {
		/* a fixed-length octet string (RFC 8017 I2OSP): pad on the left */
		memmove(to + (size - (int)len), to, len);
		memset(to, 0, (size_t)size - len);
		len = (CK_ULONG)size;
	}
	return (int)len;
}

static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	return rsa_token_op(OP_SIGN, flen, from, to, rsa, padding);
}

static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	return rsa_token_op(OP_DECRYPT, flen, from, to, rsa, padding);
}

static int
rsa_finish(RSA *rsa)
{
	tokkey_unref(RSA_get_ex_data(rsa, rsa_idx));
	RSA_set_ex_data(rsa, rsa_idx, NULL);
	return ossl_rsa_finish != NULL ? ossl_rsa_finish(rsa) : 1;
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *rp,
            EC_KEY *ec)
{
	struct psm_tokkey *tk = EC_KEY_get_ex_data(ec, ec_idx);
	const EC_GROUP *group = EC_KEY_get0_group(ec);
	unsigned char sig[2 * 66 + 2];
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_ULONG len = sizeof(sig);
	ECDSA_SIG *s = NULL;
	BIGNUM *r = NULL, *ss = NULL;
	int obytes;

	(void)kinv;   /* the token makes its own nonce */
	(void)rp;
	if (group == NULL || dlen < 0)
		return NULL;
	/* the digest is cut to the order's size (SEC 1 4.1.3 step 5) */
	obytes = (EC_GROUP_order_bits(group) + 7) / 8;
	if (dlen > obytes)
		dlen = obytes;
	if (!token_op(tk, OP_SIGN, &mech, dgst, (size_t)dlen, sig, &len))
		return NULL;
	if (len == 0 || len % 2 != 0) {
		raise_reason(tk, R_TOKEN_FAILED, CKR_OK);
		return NULL;
	}
	r = BN_bin2bn(sig, (int)(len / 2), NULL);
	ss = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	if (r == NULL || ss == NULL || (s = ECDSA_SIG_new()) == NULL || !ECDSA_SIG_set0(s, r, ss)) {
		BN_free(r);
		BN_free(ss);
		ECDSA_SIG_free(s);
		return NULL;
	}
	return s;
}

/* ECDH: the shared secret (the x coordinate) as a session object whose
 * value is read and then destroyed. */
static int
ec_compute_key(unsigned char **out, size_t *outlen, const EC_POINT *peer, const EC_KEY *ec)
{
	struct psm_tokkey *tk = EC_KEY_get_ex_data(ec, ec_idx);
	const EC_GROUP *group = EC_KEY_get0_group(ec);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG key_len;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &key_len, sizeof(key_len) },
		{ CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_DERIVE, &yes, sizeof(yes) },
	};
	CK_ECDH1_DERIVE_PARAMS params;
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &params, sizeof(params) };
	CK_OBJECT_HANDLE secret = CK_INVALID_HANDLE;
	CK_ATTRIBUTE val = { CKA_VALUE, NULL, 0 };
	unsigned char *point = NULL, *buf = NULL;
	size_t plen;
	CK_RV rv;
	int ok = 0;

	*out = NULL;
	*outlen = 0;
	if (tk == NULL || tk->fl == NULL || tk->session == CK_INVALID_HANDLE) {
		raise_reason(tk, R_KEY_CLOSED, CKR_OK);
		return 0;
	}
	if (group == NULL || peer == NULL)
		return 0;
	key_len = (CK_ULONG)(EC_GROUP_get_degree(group) + 7) / 8;
	plen = EC_POINT_point2buf(group, peer, POINT_CONVERSION_UNCOMPRESSED, &point, NULL);
	if (plen == 0)
		return 0;
	memset(&params, 0, sizeof(params));
	params.kdf = CKD_NULL;
	params.pPublicData = point;
	params.ulPublicDataLen = (CK_ULONG)plen;
	rv = tk->fl->C_DeriveKey(tk->session, &mech, tk->obj, tmpl, sizeof(tmpl) / sizeof(tmpl[0]),
	                         &secret);
	if (rv != CKR_OK) {
		raise_ckr(tk, rv);
		goto out;
	}
	if ((buf = OPENSSL_malloc(key_len)) == NULL)
		goto out;
	val.pValue = buf;
	val.ulValueLen = key_len;
	if ((rv = tk->fl->C_GetAttributeValue(tk->session, secret, &val, 1)) != CKR_OK ||
	    val.ulValueLen == CK_UNAVAILABLE_INFORMATION || val.ulValueLen > key_len) {
		raise_ckr(tk, rv != CKR_OK ? rv : CKR_FUNCTION_FAILED);
		goto out;
	}
	*out = buf;
	*outlen = val.ulValueLen;
	buf = NULL; /* transferred */
	ok = 1;
out:
	if (secret != CK_INVALID_HANDLE)
		tk->fl->C_DestroyObject(tk->session, secret);
	OPENSSL_clear_free(buf, key_len);
	OPENSSL_free(point);
	return ok;
}

static void
ec_finish(EC_KEY *ec)
{
	tokkey_unref(EC_KEY_get_ex_data(ec, ec_idx));
	EC_KEY_set_ex_data(ec, ec_idx, NULL);
	if (ossl_ec_finish != NULL)
		ossl_ec_finish(ec);
}

/* OpenSSL copies EC keys (cofactor ECDH, parameter checks): the copy
 * holds the token key too. */
static int
ec_copy(EC_KEY *dest, const EC_KEY *src)
{
	struct psm_tokkey *tk = EC_KEY_get_ex_data(src, ec_idx);

	if (tk != NULL) {
		tk->refs++;
		EC_KEY_set_ex_data(dest, ec_idx, tk);
	}
	return ossl_ec_copy != NULL ? ossl_ec_copy(dest, src) : 1;
}

static void
methods_init(void)
{
	int (*init)(EC_KEY *);
	int (*set_group)(EC_KEY *, const EC_GROUP *);
	int (*set_private)(EC_KEY *, const BIGNUM *);
	int (*set_public)(EC_KEY *, const EC_POINT *);
	int (*sign)(int, const unsigned char *, int, unsigned char *, unsigned int *,
	            const BIGNUM *, const BIGNUM *, EC_KEY *) = NULL;

	if ((err_lib = ERR_get_next_error_library()) > 0) {
		ERR_load_strings(err_lib, err_strings);
		psm_error_map_openssl_lib(err_lib, reason_to_err);
	}
	rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (rsa_idx < 0 || ec_idx < 0 || rsa_meth == NULL || ec_meth == NULL)
		return;
	ossl_rsa_finish = RSA_meth_get_finish(rsa_meth);
	if (!RSA_meth_set1_name(rsa_meth, "p11smime token RSA") ||
	    !RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc) ||
	    !RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec) ||
	    !RSA_meth_set_finish(rsa_meth, rsa_finish))
		return;
	EC_KEY_METHOD_get_init(ec_meth, &init, &ossl_ec_finish, &ossl_ec_copy, &set_group,
	                       &set_private, &set_public);
	EC_KEY_METHOD_set_init(ec_meth, init, ec_finish, ec_copy, set_group, set_private,
	                       set_public);
	EC_KEY_METHOD_get_sign(ec_meth, &sign, NULL, NULL);
	EC_KEY_METHOD_set_sign(ec_meth, sign, NULL, ec_sign_sig);
	EC_KEY_METHOD_set_compute_key(ec_meth, ec_compute_key);
	methods_ok = 1;
}

/* ---- the EVP_PKEY ------------------------------------------------------- */

/* RSA: the modulus and exponent the token stores with the private key,
 * else the certificate's. */
static EVP_PKEY *
rsa_pkey(struct psm_tokkey *tk, const struct psm_key_pub *pub, X509 *cert)
{
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pk = NULL;
	RSA *rsa = NULL;

	if (pub->modulus != NULL && pub->exponent != NULL) {
		n = BN_bin2bn(pub->modulus, (int)pub->modulus_len, NULL);
		e = BN_bin2bn(pub->exponent, (int)pub->exponent_len, NULL);
	} else if (cert != NULL && X509_get0_pubkey(cert) != NULL) {
		EVP_PKEY_get_bn_param(X509_get0_pubkey(cert), OSSL_PKEY_PARAM_RSA_N, &n);
		EVP_PKEY_get_bn_param(X509_get0_pubkey(cert), OSSL_PKEY_PARAM_RSA_E, &e);
	}
	if (n == NULL || e == NULL || (rsa = RSA_new()) == NULL || !RSA_set0_key(rsa, n, e, NULL)) {
		BN_free(n);
		BN_free(e);
		RSA_free(rsa);
		return NULL;
	}
	/* n and e belong to rsa now */
	RSA_set_flags(rsa, RSA_FLAG_EXT_PKEY);
	if (!RSA_set_method(rsa, rsa_meth) || !RSA_set_ex_data(rsa, rsa_idx, tk)) {
		RSA_free(rsa);
		return NULL;
	}
	tk->refs++;     /* dropped by rsa_finish */
	if ((pk = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_RSA(pk, rsa)) {
		EVP_PKEY_free(pk);
		RSA_free(rsa);
		return NULL;
	}
	return pk;
}

/* EC: the curve from the private key, the point from the public key
 * object with the same CKA_ID, else both from the certificate. The
 * private scalar stays on the token; OpenSSL gets a zero in its place so
 * that it treats the key as a private one. */
static EVP_PKEY *
ec_pkey(struct psm_tokkey *tk, const struct psm_key_pub *pub, X509 *cert)
{
	EC_KEY *ec = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *zero = NULL;
	const unsigned char *p;
	int have_pub = 0;

	if (pub->ec_params != NULL && pub->ec_point != NULL) {
		p = pub->ec_params;
		if (d2i_ECParameters(&ec, &p, (long)pub->ec_params_len) != NULL) {
			p = pub->ec_point;
			have_pub = o2i_ECPublicKey(&ec, &p, (long)pub->ec_point_len) != NULL;
		}
	}
	if (!have_pub && cert != NULL && X509_get0_pubkey(cert) != NULL) {
		/* get1 hands out the certificate key's own cached copy: dup it
		 * before it gets our method */
		EC_KEY *certs = EVP_PKEY_get1_EC_KEY(X509_get0_pubkey(cert));

		EC_KEY_free(ec);
		ec = certs != NULL ? EC_KEY_dup(certs) : NULL;
		EC_KEY_free(certs);
		have_pub = ec != NULL;
	}
	if (!have_pub) {
		EC_KEY_free(ec);
		ERR_clear_error();
		return NULL;
	}
	if (!EC_KEY_set_method(ec, ec_meth) || !EC_KEY_set_ex_data(ec, ec_idx, tk)) {
		EC_KEY_free(ec);
		return NULL;
	}
	tk->refs++;     /* dropped by ec_finish */
	if ((zero = BN_new()) != NULL)
		EC_KEY_set_private_key(ec, zero);
	BN_free(zero);
	ERR_clear_error();
	if ((pk = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_EC_KEY(pk, ec)) {
		EVP_PKEY_free(pk);
		EC_KEY_free(ec);
		return NULL;
	}
	return pk;
}

/* ---- finding and loading ------------------------------------------------ */

/* Find the private key in our listing of slot s that the URI names. */
static int
match_listed_key(psm_key_list *list, const struct psm_slot *s, P11KitUri *uri,
                 const psm_key_info **out, int *count)
{
	size_t i;

	for (i = 0; i < psm_key_list_count(list); i++) {
		const psm_key_info *k = psm_key_list_get(list, i);

		if (!k->has_key || k->slot != &s->info)
			continue;
		if (!psm_uri_wants(uri, CKA_ID, k->id, k->id_len) ||
		    !psm_uri_wants(uri, CKA_LABEL, k->label, strlen(k->label)))
			continue;
		if (++*count == 1)
			*out = k;
	}
	return 0;
}

static int
check_class(P11KitUri *uri)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	CK_OBJECT_CLASS cls;

	if (a == NULL || a->ulValueLen != sizeof(cls))
		return 0;
	memcpy(&cls, a->pValue, sizeof(cls));
	if (cls == CKO_PRIVATE_KEY || cls == CKO_CERTIFICATE || cls == CKO_PUBLIC_KEY)
		return 0;
	psm_error_set("the key URI names an object that is not a key (type=); use type=private, "
	              "or copy the URI from 'p11smime keys'");
	return PSM_ERR_URI;
}

static int
find_key(psm_p11 *p11, P11KitUri *uri, const char *key_uri, struct psm_slot **slot_out,
         psm_key_list **list_out, const psm_key_info **info_out)
{
	size_t i, need_pin = 0;
	int r, count = 0;

	*slot_out = NULL;
	for (i = 0; i < p11->nslots; i++) {
		struct psm_slot *s = &p11->slots[i];

		if (s->info.token_present && !s->info.duplicate && psm_slot_matches(s, uri) &&
		    s->info.login_required && !s->info.protected_auth_path)
			need_pin++;
	}
	if (need_pin > 1 && p11->pin_source != NULL &&
	    !psm_pin_source_is_interactive(p11->pin_source)) {
		psm_error_set("%s matches keys on %zu tokens that need a PIN, and one PIN cannot "
		              "be tried on each; add token= to the URI", key_uri, need_pin);
		return PSM_ERR_AMBIGUOUS;
	}
	for (i = 0; i < p11->nslots; i++) {
		struct psm_slot *s = &p11->slots[i];
		psm_key_list *list = NULL;
		const psm_key_info *k = NULL;
		int before = count;

		if (!s->info.token_present || s->info.duplicate || !psm_slot_matches(s, uri))
			continue;
		/* list this one token, logging in as needed; the listing asks
		 * the token for the objects the URI names only */
		if ((r = psm_p11_list_keys_filtered(p11, s->info.uri, uri, &list)) < 0)
			return r;
		match_listed_key(list, s, uri, &k, &count);
		if (count > before && before == 0) {
			*slot_out = s;
			*list_out = list;
			*info_out = k;
		} else {
			psm_key_list_free(list);
		}
	}
	if (count == 0 && p11->pin_source == NULL) {
		/* the key may be there, hidden until a login nobody can make */
		for (i = 0; i < p11->nslots; i++) {
			struct psm_slot *s = &p11->slots[i];

			if (s->info.token_present && !s->info.duplicate && psm_slot_matches(s, uri) &&
			    s->info.login_required && !s->info.protected_auth_path) {
				psm_error_set("token '%s' shows its private keys only after a login, and "
				              "no PIN source was given: give one with --pin-source "
				              "(file:PATH, fd:N, tty or pinentry) to use %s",
				              s->info.label, key_uri);
				return PSM_ERR_PIN_SOURCE;
			}
		}
	}
	if (count == 0) {
		psm_error_set("no private key matches %s; run 'p11smime keys' to see the keys",
		              key_uri);
		return PSM_ERR_NOT_FOUND;
	}
	if (count > 1) {
		psm_key_list_free(*list_out);
		*list_out = NULL;
		psm_error_set("%d private keys match %s; add id= or object= to the URI",
		              count, key_uri);
		return PSM_ERR_AMBIGUOUS;
	}
	return 0;
}

/* The token key behind the EVP_PKEY: its own session on slot s. */
static int
tokkey_new(psm_p11 *p11, struct psm_slot *s, const psm_key_info *info,
           const struct psm_key_pub *pub, struct psm_tokkey **out)
{
	struct psm_tokkey *tk;
	char what[96];
	CK_RV rv;

	*out = NULL;
	if ((tk = calloc(1, sizeof(*tk))) == NULL)
		return PSM_ERR_NOMEM;
	tk->refs = 1;
	tk->fl = s->mod->fl;
	tk->slot_id = s->id;
	tk->obj = pub->handle;
	tk->always_auth = info->always_authenticate;
	tk->pin_pad = s->info.protected_auth_path;
	tk->allow_final_try = p11->allow_final_try;
	tk->pin_source = p11->pin_source;
	snprintf(tk->label, sizeof(tk->label), "%s", s->info.label);
	rv = tk->fl->C_OpenSession(s->id, CKF_SERIAL_SESSION, NULL, NULL, &tk->session);
	if (rv != CKR_OK) {
		free(tk);
		snprintf(what, sizeof(what), "opening a session on token '%s'", s->info.label);
		return psm_ckr_to_err(rv, what);
	}
	tk->p11 = p11;
	tk->next = p11->tokkeys;
	p11->tokkeys = tk;
	*out = tk;
	return 0;
}

int
psm_p11_load_key(psm_p11 *p11, const char *key_uri, psm_key **out)
{
	psm_key *key = NULL;
	P11KitUri *uri = NULL;
	struct psm_slot *s = NULL;
	struct psm_key_pub pub;
	psm_pin_source *saved = p11->pin_source;
	const char *v;
	size_t idx, before, i;
	int r = PSM_ERR_INTERNAL;

	*out = NULL;
	if ((r = psm_uri_parse(key_uri, &uri)) < 0)
		return r;
	if ((r = check_class(uri)) < 0)
		goto out;
	if (!CRYPTO_THREAD_run_once(&methods_once, methods_init) || !methods_ok) {
		r = psm_error_from_openssl(PSM_ERR_INTERNAL, "setting up the token key methods");
		goto out;
	}
	if ((key = calloc(1, sizeof(*key))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	key->p11 = p11;
	if ((v = p11_kit_uri_get_pin_source(uri)) != NULL) {
		if ((r = psm_pin_source_parse(v, &key->own_source)) < 0)
			goto out;
		p11->pin_source = key->own_source;
	}
	before = p11->nmods;
	if ((v = p11_kit_uri_get_module_path(uri)) != NULL &&
	    (r = psm_p11_add_module(p11, v, &idx)) < 0)
		goto out;
	if ((p11->nslots == 0 || p11->nmods != before) && (r = psm_p11_scan(p11)) < 0)
		goto out;
	if ((r = find_key(p11, uri, key_uri, &s, &key->list, &key->info)) < 0)
		goto out;
	/* logged in by the listing; this only checks */
	if ((r = psm_slot_login(p11, s, p11->pin_source)) < 0)
		goto out;
	for (i = 0; i < psm_key_list_count(key->list); i++)
		if (psm_key_list_get(key->list, i) == key->info)
			break;
	if (psm_key_list_pub(key->list, i, &pub) < 0) {
		psm_error_set("the token no longer shows key %s; run 'p11smime keys' to see the keys",
		              key->info->uri);
		r = PSM_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = tokkey_new(p11, s, key->info, &pub, &key->tk)) < 0)
		goto out;
	if (key->info->type == PSM_KEY_RSA)
		key->pkey = rsa_pkey(key->tk, &pub, key->info->cert);
	else if (key->info->type == PSM_KEY_EC)
		key->pkey = ec_pkey(key->tk, &pub, key->info->cert);
	else {
		psm_error_set("key %s is neither RSA nor EC; p11smime cannot use it", key->info->uri);
		r = PSM_ERR_KEY_USAGE;
		goto out;
	}
	if (key->pkey == NULL) {
		psm_error_set("the public half of key %s is unknown (no modulus, curve point or "
		              "certificate on the token)", key->info->uri);
		r = PSM_ERR_TOKEN;
		goto out;
	}
	*out = key;
	key = NULL; /* transferred */
	r = 0;
out:
	/* the URI's pin source stays with the key (context logins) */
	p11->pin_source = saved;
	p11_kit_uri_free(uri);
	psm_key_free(key);
	ERR_clear_error();
	return r;
}

EVP_PKEY *
psm_key_pkey(const psm_key *key)
{
	return key->pkey;
}

X509 *
psm_key_cert(const psm_key *key)
{
	return key->info != NULL ? key->info->cert : NULL;
}

X509 *
psm_p11_key_enc_cert(psm_p11 *p11, const psm_key *key)
{
	const psm_key_info *me = key->info;
	STACK_OF(X509) *same = NULL;
	X509 *found = NULL;
	int i;

	if (me == NULL || me->cert == NULL ||
	    psm_p11_token_same_subject_other(p11, me->slot, me->cert, &same) < 0)
		return NULL;
	for (i = 0; found == NULL && i < sk_X509_num(same); i++) {
		X509 *c = sk_X509_value(same, i);
		psm_certinfo *ci = NULL;
		uint32_t ku = X509_get_key_usage(c);
		size_t a, b;

		if (X509_cmp(c, me->cert) == 0 || !(ku & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)) ||
		    X509_cmp_current_time(X509_get0_notAfter(c)) < 0)
			continue;   /* the signer itself, not for encryption, or retired */
		if (psm_certinfo_new(c, &ci) < 0)
			continue;
		for (a = 0; found == NULL && ci->emails[a] != NULL; a++)
			for (b = 0; found == NULL && me->emails != NULL && me->emails[b] != NULL; b++)
				if (strcasecmp(ci->emails[a], me->emails[b]) == 0 && X509_up_ref(c))
					found = c;
		psm_certinfo_free(ci);
	}
	sk_X509_pop_free(same, X509_free);
	ERR_clear_error();
	return found;
}

const psm_key_info *
psm_key_get_info(const psm_key *key)
{
	return key->info;
}

void
psm_key_free(psm_key *key)
{
	if (key == NULL)
		return;
	if (key->tk != NULL) {
		tokkey_cut(key->tk);
		tokkey_unref(key->tk);
	}
	EVP_PKEY_free(key->pkey);
	psm_pin_source_free(key->own_source);
	psm_key_list_free(key->list);
	free(key);
}
