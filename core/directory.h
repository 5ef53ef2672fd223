/* p11smime: finding people's certificates in LDAP directories.
 *
 * When an address has no usable certificate on the tokens or in the
 * user's store, encrypt asks the directories the user named, in order:
 *
 *   ldap://HOST[:PORT]/BASE-DN[?[ATTRS][?[SCOPE][?[FILTER][?EXTENSIONS]]]]
 *   ldaps://HOST[:PORT]/BASE-DN[...]
 *
 * (RFC 4516). The base DN is required; ATTRS and FILTER must be empty
 * (p11smime asks for userCertificate;binary and userCertificate with the
 * filter (mail=ADDR), the address escaped as RFC 4515 says); SCOPE is
 * base, one or sub (default sub). ldap:// upgrades the connection with
 * StartTLS when the server offers it, and goes on in the clear when the
 * server says no; the extension "!starttls" makes StartTLS mandatory
 * (plain "starttls" is the default behaviour). Any other critical
 * extension is refused, others are ignored. ldaps:// is TLS from the
 * start. The server's certificate is always verified: against the
 * params' ca_file when given, else against OpenLDAP's own configuration
 * (ldap.conf TLS_CACERT, or $LDAPTLS_CACERT).
 *
 * An optional simple bind (DN and password) applies to every directory;
 * the password is never sent over an unencrypted connection.
 *
 * Only certificates that carry the address (rfc822Name or emailAddress)
 * are returned; whether one may be encrypted to (validity, usage, trust)
 * is the caller's business, as for store certificates.
 *
 * Answers are cached in the store (psm_store_dircache_*): 24 hours when
 * they hold a usable certificate, 10 minutes otherwise (nothing found, or
 * only expired or unusable certificates).
 *
 * Timeouts: PSM_DIRECTORY_CONNECT_TIMEOUT seconds to connect (TCP and
 * TLS), PSM_DIRECTORY_SEARCH_TIMEOUT for each operation (StartTLS, bind,
 * search).
 */
#ifndef P11SMIME_DIRECTORY_H
#define P11SMIME_DIRECTORY_H

#include <stddef.h>

#include <openssl/x509.h>

#include "store.h"

#define PSM_DIRECTORY_CONNECT_TIMEOUT 5
#define PSM_DIRECTORY_SEARCH_TIMEOUT 10
#define PSM_DIRECTORY_CACHE_TTL (24 * 60 * 60)  /* a usable certificate found */
#define PSM_DIRECTORY_NEGATIVE_TTL (10 * 60)    /* nothing usable found */
#define PSM_DIRECTORY_MAX_CERTS 64              /* per address and directory */

enum psm_directory_tls {
	PSM_DIRECTORY_STARTTLS_TRY = 0,  /* ldap://: StartTLS when offered */
	PSM_DIRECTORY_STARTTLS_MUST,     /* ldap://...?!starttls */
	PSM_DIRECTORY_LDAPS              /* ldaps:// */
};

enum psm_directory_scope {
	PSM_DIRECTORY_SCOPE_SUB = 0,
	PSM_DIRECTORY_SCOPE_ONE,
	PSM_DIRECTORY_SCOPE_BASE
};

/* A parsed directory URL. */
typedef struct psm_directory_url {
	char *url;              /* as given */
	char *server;           /* "ldap://host:port" or "ldaps://[v6]:port" */
	char *host;             /* without brackets */
	int port;
	char *base;             /* base DN, percent-decoded */
	int scope;              /* enum psm_directory_scope */
	int tls;                /* enum psm_directory_tls */
} psm_directory_url;

/* Parse url (see above). On success *out is owned by the caller (free
 * with psm_directory_url_free()); on failure *out is NULL and
 * PSM_ERR_USAGE is returned with a detail naming the URL and the fault,
 * or PSM_ERR_NOMEM. */
int psm_directory_url_parse(const char *url, psm_directory_url **out);
void psm_directory_url_free(psm_directory_url *u);

/* The search filter "(mail=ADDR)" with ADDR escaped as RFC 4515 section 3
 * says ('*', '(', ')', '\' and every byte outside printable ASCII as \XX).
 * *out is malloc'd, owned by the caller. PSM_ERR_USAGE (with a detail)
 * for an empty address or one with control characters. */
int psm_directory_filter(const char *addr, char **out);

/* How to talk to the directories. Every field may be zero/NULL. */
typedef struct psm_directory_params {
	const char *bind_dn;            /* NULL: anonymous */
	const char *password;           /* with bind_dn: password bytes (copied) */
	size_t password_len;
	const char *ca_file;            /* PEM trust anchors for the servers' TLS */
	int connect_timeout;            /* seconds; 0: PSM_DIRECTORY_CONNECT_TIMEOUT */
	int search_timeout;             /* seconds; 0: PSM_DIRECTORY_SEARCH_TIMEOUT */
} psm_directory_params;

/* Called with a one-sentence warning (a directory that is down, refuses,
 * or whose answer could not be cached); never holds a secret. */
typedef void (*psm_directory_warn_fn)(void *userdata, const char *sentence);

typedef struct psm_directories psm_directories;

/* The directories urls[0..n-1] (n may be 0), asked in that order. params
 * may be NULL; the password is copied into secure memory and wiped by
 * psm_directories_free(), so the caller can wipe its own copy at once.
 * A bind DN without a password (or the reverse) is PSM_ERR_USAGE. Nothing
 * is contacted here. On success *out is owned by the caller. */
int psm_directories_new(const char *const *urls, size_t n, const psm_directory_params *params,
                        psm_directories **out);

/* Close the connections, wipe the password, free. NULL is allowed. */
void psm_directories_free(psm_directories *d);

/* Where warnings go (default: nowhere). userdata stays the caller's. */
void psm_directories_set_warn(psm_directories *d, psm_directory_warn_fn fn, void *userdata);

/* How many directories there are, and the URL of the i-th as given
 * (owned by d). */
size_t psm_directories_count(const psm_directories *d);
const char *psm_directories_url(const psm_directories *d, size_t i);

/* The URLs joined by ", " for messages ("" when none). Owned by d; valid
 * until psm_directories_free(). */
const char *psm_directories_names(psm_directories *d);

/* Ask the i-th directory alone, now (no cache), for the certificates
 * that carry addr. On success *out (owned by the caller, free with
 * sk_X509_pop_free) may be empty. A directory that cannot be reached,
 * refuses the bind or the search: PSM_ERR_IO with a detail naming it;
 * after one such failure the directory is not contacted again by d. */
int psm_directories_search(psm_directories *d, size_t i, const char *addr, STACK_OF(X509) **out);

/* Everything the directories know about addr: a fresh answer cached in
 * cache (when not NULL) if there is one, else each directory in turn
 * until one has certificates for addr; a directory that fails is warned
 * about (once per d) and passed over. The answer is cached (a failure to
 * cache is a warning). On success *out (owned by the caller) may be
 * empty; errors are only PSM_ERR_NOMEM and PSM_ERR_USAGE (a bad address). */
int psm_directories_find(psm_directories *d, psm_store *cache, const char *addr,
                         STACK_OF(X509) **out);

#endif
