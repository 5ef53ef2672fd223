/* p11smime: the project's one error enum.
 *
 * Every library function that can fail returns 0 on success or one of the
 * negative PSM_ERR_* values below; never a CK_RV, never an OpenSSL code.
 * Those are translated where they arise (tokens/ckr.c, core/error.c) and a
 * one-sentence detail naming the object that failed may be attached with
 * psm_error_set() for the command line to print.
 */
#ifndef P11SMIME_ERROR_H
#define P11SMIME_ERROR_H

#include <stddef.h>

typedef enum psm_err {
	PSM_OK = 0,
	PSM_ERR_INTERNAL = -1,        /* a bug or an unexpected library failure */
	PSM_ERR_NOMEM = -2,
	PSM_ERR_USAGE = -3,           /* bad option or argument */
	PSM_ERR_MALFORMED = -4,       /* input that does not parse */
	PSM_ERR_IO = -5,              /* reading or writing a file failed */
	PSM_ERR_URI = -6,             /* a pkcs11: URI that does not parse */
	PSM_ERR_MODULE = -7,          /* a PKCS#11 module cannot be loaded */
	PSM_ERR_TOKEN = -8,           /* the token failed or refused an operation */
	PSM_ERR_TOKEN_ABSENT = -9,    /* no token / token removed */
	PSM_ERR_NOT_FOUND = -10,      /* no token, key or certificate matches */
	PSM_ERR_AMBIGUOUS = -11,      /* more than one object matches */
	PSM_ERR_PIN_SOURCE = -12,     /* the PIN source is unusable */
	PSM_ERR_PIN_UNSAFE = -13,     /* a PIN file others can read */
	PSM_ERR_PIN_INCORRECT = -14,
	PSM_ERR_PIN_LOCKED = -15,
	PSM_ERR_PIN_FINAL_TRY = -16,  /* refusing to spend the last try */
	PSM_ERR_PIN_CANCELLED = -17,  /* the user cancelled the PIN prompt */
	PSM_ERR_KEY_USAGE = -18,      /* the key cannot do this operation */
	PSM_ERR_CRYPTO = -19,         /* a cryptographic operation failed */
	PSM_ERR_VERIFY = -20,         /* a signature or decryption check failed */
	PSM_ERR__LAST = -21
} psm_err;

/* The fixed sentence for an error code (static storage, never NULL). */
const char *psm_strerror(int err);

/* Attach a detail to the error about to be returned (printf-style).
 * Thread-local; overwritten by the next call. Never put a secret in it. */
void psm_error_set(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* The end of a detail about a received message that does not parse: what
 * the reader can do about it. */
#define PSM_HINT_DAMAGED "; the message is damaged: ask the sender to send it again"

/* Clear the detail. */
void psm_error_clear(void);

/* The detail set by the last psm_error_set() on this thread, or "" when
 * none. Static per-thread storage, valid until the next psm_error_set(). */
const char *psm_error_detail(void);

/* Set the detail to "what: " and the OpenSSL error queue's first reason
 * (and clear the queue). Returns err so it can be used in a return
 * statement; but when the queue holds a reason of the library given to
 * psm_error_map_openssl_lib (a token failing inside an OpenSSL call), that
 * reason, with its data, is the detail and its mapped error is returned. */
int psm_error_from_openssl(int err, const char *what);

/* OpenSSL error library lib holds reasons that stand for our errors:
 * map(reason) gives the PSM_ERR_* of each. One library; call once. */
void psm_error_map_openssl_lib(int lib, int (*map)(int reason));

#endif
