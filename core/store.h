/* p11smime: the user's certificate store under $P11SMIME_HOME.
 *
 * Layout (one file per certificate, named by its SHA-256 fingerprint, so
 * that two processes writing at once lose nothing: each file is written
 * to a temporary name and renamed):
 *   $P11SMIME_HOME/certs/<fp>.pem     certificates of people we heard from
 *   $P11SMIME_HOME/certs/<fp>.caps    their SMIMECapabilities (DER), if any
 *   $P11SMIME_HOME/trusted/<fp>.pem   certificates the user trusts as anchors
 * $P11SMIME_HOME defaults to $XDG_DATA_HOME/p11smime, then
 * ~/.local/share/p11smime.
 */
#ifndef P11SMIME_STORE_H
#define P11SMIME_STORE_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

typedef struct psm_store psm_store;

/* Open (creating the folders, mode 0700) the store. home NULL: from the
 * environment. Free with psm_store_free(). */
int psm_store_open(const char *home, psm_store **out);
void psm_store_free(psm_store *st);
const char *psm_store_path(const psm_store *st);

/* Remember a certificate and its capabilities (caps may be NULL). */
int psm_store_remember(psm_store *st, X509 *cert, const unsigned char *caps, size_t caps_len);

/* Remember a signer whose signature verified, its capabilities, and the
 * CA certificates on its path to the anchor (cas, may be NULL), as a
 * mail client does: a later encryption to that person then finds the
 * chain. Stops at the first failure. */
int psm_store_remember_signer(psm_store *st, X509 *signer, const unsigned char *caps,
                              size_t caps_len, STACK_OF(X509) *cas);

/* Add the user's trusted certificates to anchors. A damaged entry is
 * skipped (counted in *skipped when not NULL), never fatal. */
int psm_store_add_trusted(psm_store *st, X509_STORE *anchors, int *skipped);

/* Build the anchor store for verification: each PEM file in files (n of
 * them; a missing or empty file is an error), the user's trusted
 * certificates, and, when use_system, the system CA bundle. Free with
 * X509_STORE_free(). */
int psm_anchors_load(psm_store *st, const char *const *files, size_t n, int use_system,
                     X509_STORE **out);

/* The remembered certificates that carry email (rfc822Name or
 * emailAddress), whatever their validity. Free with sk_X509_pop_free. */
int psm_store_find_email(psm_store *st, const char *email, STACK_OF(X509) **out);

/* The SMIMECapabilities remembered with cert (DER, malloc'd), or
 * *caps = NULL when none are known. */
int psm_store_caps(psm_store *st, X509 *cert, unsigned char **caps, size_t *len);

/* Every readable certificate remembered (trusted = 0) or trusted (1);
 * damaged entries are counted in *skipped (may be NULL) and passed over. */
int psm_store_list(psm_store *st, int trusted, STACK_OF(X509) **out, int *skipped);

/* Forget cert (and its capabilities, and trust in it). PSM_ERR_NOT_FOUND
 * when the store does not have it. */
int psm_store_forget(psm_store *st, X509 *cert);

/* Trust cert as an anchor for this user ("always trust"), or stop. */
int psm_store_trust(psm_store *st, X509 *cert);
int psm_store_untrust(psm_store *st, X509 *cert);

/* The SHA-256 fingerprint of cert in lower-case hex (the entry's name). */
int psm_store_fingerprint(X509 *cert, char out[80]);

/* Directory answers (directory.h), cached one file per address:
 *   $P11SMIME_HOME/directory/<SHA-256 of the lower-cased address, hex>
 * A text file, written atomically:
 *   p11smime-directory-cache 1
 *   address ADDR
 *   expires EPOCH-SECONDS
 *   source URL            (one line per directory that answered)
 *   -----BEGIN CERTIFICATE-----   (zero or more PEM certificates)
 * An entry with no certificate is a negative answer. */

/* The cached answer for addr if it is still fresh at now: *hit = 1,
 * *certs (maybe empty; free with sk_X509_pop_free) and *sources (the
 * directories that answered, NULL-terminated; free with
 * psm_store_dircache_sources_free). No entry, an expired or a damaged
 * one: *hit = 0, *certs = NULL, *sources = NULL and 0 is returned. */
int psm_store_dircache_get(psm_store *st, const char *addr, time_t now, int *hit,
                           STACK_OF(X509) **certs, char ***sources);

/* Cache certs (may be empty: a negative answer) for addr until expires,
 * as answered by sources[0..nsources-1] (URLs without line breaks). */
int psm_store_dircache_put(psm_store *st, const char *addr, time_t expires,
                           const char *const *sources, size_t nsources, STACK_OF(X509) *certs);

void psm_store_dircache_sources_free(char **sources);

#endif
