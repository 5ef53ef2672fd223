/* p11smime: internals of the PKCS#11 boundary (tokens/ only). */
#ifndef P11SMIME_P11_INT_H
#define P11SMIME_P11_INT_H

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "p11.h"

struct psm_module {
	psm_module_info info;
	CK_FUNCTION_LIST *fl;     /* NULL when loading failed */
	char *name;
	char *path;
	char description[33];
	char manufacturer[33];
	char *error;
	int from_registry;          /* released with the registry list */
	int trust_policy;           /* a trust module (CA certificates, no keys) */
};

struct psm_slot {
	psm_slot_info info;
	struct psm_module *mod;
	CK_SLOT_ID id;
	CK_SESSION_HANDLE session;  /* CK_INVALID_HANDLE when none open */
	char *uri;
	CK_FLAGS token_flags;       /* CK_TOKEN_INFO flags, as last read */
	struct psm_certidx *certidx;/* the token's certificates, once read */
	/* other modules that present this token too (their slots are
	 * duplicates): a URI's module-path may name any of them */
	const struct psm_module *also[4];
};

struct psm_tokkey;                  /* a loaded private key (tokens/key.c) */

struct psm_p11 {
	CK_FUNCTION_LIST **kit_modules; /* p11-kit registry, or NULL */
	CK_FUNCTION_LIST *explicit_fl;  /* --module, or NULL */
	struct psm_module **mods;       /* each allocated on its own: stable */
	size_t nmods;
	size_t mods_alloc;
	struct psm_slot *slots;
	size_t nslots;
	psm_pin_source *pin_source;     /* borrowed */
	int allow_final_try;
	struct psm_tokkey *tokkeys;     /* loaded keys, cut off before C_Finalize */
};

/* Trim a blank-padded PKCS#11 string field into a NUL-terminated one. */
void psm_p11_copy_padded(char *dst, size_t dstlen, const unsigned char *src, size_t srclen);

/* Open (if needed) the slot's read-only session. */
int psm_slot_session(struct psm_slot *slot, CK_SESSION_HANDLE *out);

/* Re-read the token flags of a slot. */
int psm_slot_refresh(struct psm_slot *slot);

/* Check the PIN counters before a login: locked, or final try without
 * permission. Returns 0 when a login may proceed. */
int psm_slot_check_pin_state(psm_p11 *p11, struct psm_slot *slot);

/* The same policy on CK_TOKEN_INFO flags read by the caller (label names
 * the token in the detail). */
int psm_pin_check_flags(const char *label, CK_FLAGS flags, int allow_final_try);

/* Log in to the slot with src (PIN pad when the token has one). A token
 * that needs no login, or is already logged in, returns 0 at once. */
int psm_slot_login(psm_p11 *p11, struct psm_slot *slot, psm_pin_source *src);

/* Find the slots that a parsed URI's token part matches. */
int psm_slot_matches(const struct psm_slot *slot, P11KitUri *uri);
/* Do the paths name the same module file (the same path, or a symlink to
 * it: the same device and inode)? */
int psm_same_module_file(const char *a, const char *b);

/* Parse a pkcs11: URI, refusing pin-value. *out freed with p11_kit_uri_free. */
int psm_uri_parse(const char *s, P11KitUri **out);

/* The pairs on every token, looked at without logging in, parsing only
 * the certificates whose bytes mention email (they may still not carry
 * it: compare after). */
int psm_p11_list_public_for_email(psm_p11 *p11, const char *email, psm_key_list **out);

/* The URI of an object (class + id + label) on slot's token; malloc'd. */
char *psm_uri_for_object(const struct psm_slot *slot, CK_OBJECT_CLASS cls,
                         const unsigned char *id, size_t id_len, const char *label);

/* Load a module by path (for --module and ?module-path=): appended to
 * p11->mods. Returns the index in *idx. */
int psm_p11_add_module(psm_p11 *p11, const char *path, size_t *idx);

/* psm_p11_list_keys, listing only the private keys filter names (its
 * id= and object=) on tokens where a login shows them. */
int psm_p11_list_keys_filtered(psm_p11 *p11, const char *token_uri, P11KitUri *filter,
                               psm_key_list **out);

/* 1 when uri has no attribute type, or one equal to value. */
int psm_uri_wants(P11KitUri *uri, CK_ATTRIBUTE_TYPE type, const void *value, size_t len);

/* What tokens/key.c needs of listed private key i to use it: its object
 * handle on its token and the public half the token stores (absent parts
 * are NULL). Pointers are owned by the list. PSM_ERR_NOT_FOUND when entry
 * i is not a private key. */
struct psm_key_pub {
	CK_OBJECT_HANDLE handle;
	const unsigned char *modulus, *exponent;   /* RSA, from the private key */
	const unsigned char *ec_params, *ec_point; /* EC: the point from the public key */
	size_t modulus_len, exponent_len, ec_params_len, ec_point_len;
};
int psm_key_list_pub(const psm_key_list *list, size_t i, struct psm_key_pub *out);

/* psm_p11_token_same_subject() without cert itself: certificates whose
 * DER is cert's are left out unparsed. */
int psm_p11_token_same_subject_other(psm_p11 *p11, const psm_slot_info *slot, X509 *cert,
                                     STACK_OF(X509) **out);

/* Free a slot's certificate index (tokens/object.c). NULL is allowed. */
void psm_certidx_free(struct psm_certidx *ix);

/* Cut the loaded keys off their tokens (tokens/key.c), before the
 * modules are finalised. */
void psm_tokkeys_cut_all(psm_p11 *p11);

#endif
