/* p11smime: the PKCS#11 boundary, seen from above.
 *
 * A psm_p11 holds the PKCS#11 modules of one run (every module registered
 * with p11-kit, or one explicit module), the PIN source and the PIN policy.
 * Callers above tokens/ see slots, tokens and key/certificate pairs as plain
 * records; they never see a CK_* type.
 */
#ifndef P11SMIME_P11_H
#define P11SMIME_P11_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pin.h"

typedef struct psm_p11 psm_p11;

/* One PKCS#11 module. Strings are owned by the psm_p11. */
typedef struct psm_module_info {
	const char *name;         /* p11-kit name, or the file's base name */
	const char *path;         /* the shared object */
	const char *description;  /* CK_INFO libraryDescription */
	const char *manufacturer; /* CK_INFO manufacturerID */
	int version_major, version_minor;
	const char *error;        /* non-NULL when the module failed to load */
} psm_module_info;

/* One slot, and the token in it. Owned by the psm_p11; valid until the
 * next psm_p11_scan() or psm_p11_free(). */
typedef struct psm_slot_info {
	const psm_module_info *module;
	unsigned long slot_id;
	char description[65];
	char manufacturer[33];
	int hardware, removable;
	int token_present;
	/* the token; meaningful when token_present */
	char label[33];
	char token_manufacturer[33];
	char model[17];
	char serial[17];
	int initialized, write_protected;
	int login_required, protected_auth_path, user_pin_initialized;
	int pin_count_low, pin_final_try, pin_locked, pin_to_be_changed;
	const char *uri;          /* the token's pkcs11: URI */
	int duplicate;            /* same token already seen through another module */
} psm_slot_info;

typedef enum psm_key_type {
	PSM_KEY_NONE = 0,         /* a certificate without a private key */
	PSM_KEY_RSA,
	PSM_KEY_EC,
	PSM_KEY_OTHER
} psm_key_type;

/* A private key and the certificate paired with it (either may be missing).
 * Owned by the psm_key_list it came in. */
typedef struct psm_key_info {
	const psm_slot_info *slot;
	const char *label;        /* the private key's label (or the certificate's) */
	const char *cert_label;
	const unsigned char *id;  /* CKA_ID of the private key (or the certificate) */
	size_t id_len;
	const char *id_hex;
	const char *uri;          /* pkcs11: URI of the private key (or certificate) */
	const char *cert_uri;
	int has_key, has_cert;
	int paired_by;            /* PSM_PAIR_ID or PSM_PAIR_PUBKEY */
	psm_key_type type;
	unsigned bits;            /* RSA modulus or EC field size */
	const char *curve;        /* "P-256", ... or NULL */
	int can_sign, can_decrypt, can_derive, can_unwrap;
	int always_authenticate, sensitive, extractable;
	X509 *cert;               /* borrowed; NULL without a certificate */
	const char *subject;      /* one-line RFC 2253 subject */
	const char *const *emails;/* NULL-terminated: rfc822Name and emailAddress */
	time_t not_before, not_after;
} psm_key_info;

enum { PSM_PAIR_NONE = 0, PSM_PAIR_ID = 1, PSM_PAIR_PUBKEY = 2 };

typedef struct psm_key_list psm_key_list;

/* Open modules: module_path, or every module registered with p11-kit when
 * NULL. Modules that fail to load are kept with their error (shown by
 * `tokens`); it is an error only when module_path itself fails.
 * *out is freed with psm_p11_free(). */
int psm_p11_open(const char *module_path, psm_p11 **out);

/* Load one more module by path (a repeated --module). */
int psm_p11_load_module(psm_p11 *p11, const char *module_path);

/* Finalize the modules and free everything. NULL is allowed. */
void psm_p11_free(psm_p11 *p11);

/* The PIN source for logins (borrowed: it must outlive p11). NULL means
 * "no PIN available": private objects stay invisible, and operations that
 * need a login fail with PSM_ERR_PIN_SOURCE. */
void psm_p11_set_pin_source(psm_p11 *p11, psm_pin_source *src);

/* Allow spending the token's final PIN try (off by default). */
void psm_p11_set_allow_final_try(psm_p11 *p11, int allow);

size_t psm_p11_module_count(const psm_p11 *p11);
const psm_module_info *psm_p11_module(const psm_p11 *p11, size_t i);

/* (Re)read slots and tokens of every module. */
int psm_p11_scan(psm_p11 *p11);
size_t psm_p11_slot_count(const psm_p11 *p11);
const psm_slot_info *psm_p11_slot(const psm_p11 *p11, size_t i);

/* Check a pkcs11: URI: it parses, and it carries no pin-value.
 * Returns PSM_ERR_URI with a detail otherwise. */
int psm_p11_check_uri(const char *uri);

/* The private-key/certificate pairs on every present token matching
 * token_uri (NULL: all tokens). Logs in where a PIN source is set and the
 * token needs it; without one, lists what the token shows without a
 * login. Returns PSM_ERR_NOT_FOUND when token_uri matches no token.
 * Free *out with psm_key_list_free(). */
int psm_p11_list_keys(psm_p11 *p11, const char *token_uri, psm_key_list **out);
size_t psm_key_list_count(const psm_key_list *list);
const psm_key_info *psm_key_list_get(const psm_key_list *list, size_t i);
/* 0 when every token showed its private keys; otherwise why not:
 * PSM_KEYS_NO_PIN (a token needs a login and there is no PIN source) or
 * PSM_KEYS_SEVERAL_TOKENS (a fixed PIN, file: or fd:, and several tokens
 * that need one: the PIN is not tried on each; choose one with a URI). */
enum { PSM_KEYS_NO_PIN = 1, PSM_KEYS_SEVERAL_TOKENS = 2 };
int psm_key_list_incomplete(const psm_key_list *list);
void psm_key_list_free(psm_key_list *list);

/* Every X.509 certificate on slot's token (CA certificates included), for
 * building chains. Free *out with sk_X509_pop_free(*out, X509_free). */
int psm_p11_token_certs(psm_p11 *p11, const psm_slot_info *slot, STACK_OF(X509) **out);

/* The pkcs11: URI of the one private key whose valid certificate carries
 * email and allows signing (for_signing) or decryption. Looks at the
 * certificates without logging in. PSM_ERR_NOT_FOUND or PSM_ERR_AMBIGUOUS
 * with a detail otherwise. *uri_out is malloc'd. */
int psm_p11_find_key_for_email(psm_p11 *p11, const char *email, int for_signing,
                               char **uri_out);

/* Append to *pool (created when NULL) the issuers of cert found on slot's
 * token by their subject name, walking up to the root: only those
 * certificates are parsed. Self-issued ones (roots, RFC 5280 section 3.2)
 * end the walk unparsed and are not added: a chain is sent without its
 * root (core/chain.h). */
int psm_p11_token_issuers(psm_p11 *p11, const psm_slot_info *slot, X509 *cert,
                          STACK_OF(X509) **pool);

/* The certificates on slot's token with cert's subject (cert included):
 * the same person's other certificates. Free with sk_X509_pop_free. */
int psm_p11_token_same_subject(psm_p11 *p11, const psm_slot_info *slot, X509 *cert,
                               STACK_OF(X509) **out);

/* A private key on a token, usable as an EVP_PKEY whose private operations
 * (RSA PKCS#1 v1.5 and raw for PSS and OAEP, ECDSA, ECDH) run on the token,
 * on a session of the key's own (tokens/key.c). */
typedef struct psm_key psm_key;

/* Find the one private key matching key_uri (its ?pin-source= and
 * ?module-path= are honoured), log in, and make it usable. Keys with
 * CKA_ALWAYS_AUTHENTICATE log in again for each operation with the same
 * PIN source. Free with psm_key_free(). */
int psm_p11_load_key(psm_p11 *p11, const char *key_uri, psm_key **out);

/* Borrowed from key; valid until psm_key_free(). */
EVP_PKEY *psm_key_pkey(const psm_key *key);
/* The certificate paired with the key, or NULL (borrowed). */
X509 *psm_key_cert(const psm_key *key);
const psm_key_info *psm_key_get_info(const psm_key *key);
/* A separate, valid key-management certificate of the same person (same
 * subject, a shared e-mail address) on the key's token, for the S/MIME
 * encryption key preference; NULL when there is none. The reference is
 * the caller's: X509_free() it. */
X509 *psm_p11_key_enc_cert(psm_p11 *p11, const psm_key *key);
void psm_key_free(psm_key *key);

#endif
