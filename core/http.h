/* p11smime: fetching over plain HTTP, for OCSP, CRLs and issuers' certificates.
 *
 * http:// only (RFC 5280 4.2.1.13, 4.2.2.1 and RFC 6960 use plain HTTP:
 * what is fetched is signed, and fetching over TLS would need TLS to check
 * the TLS server's certificate in turn). Through OpenSSL's HTTP client,
 * with a deadline for the whole request (timeout seconds, 0: 5). The
 * http_proxy / no_proxy environment is honoured, except for loopback
 * addresses (127.0.0.0/8, ::1, localhost), which are always reached
 * directly. A direct connection is made here, not by OpenSSL, so that a
 * refused connection fails at once instead of being retried until the
 * deadline.
 */
#ifndef P11SMIME_HTTP_H
#define P11SMIME_HTTP_H

#include <stddef.h>

#include <openssl/bio.h>

#define PSM_HTTP_TIMEOUT 5          /* seconds, when 0 is given */

/* GET url (req NULL) or POST req (of type req_type) to it, expecting a
 * DER/BER answer of resp_type (NULL: any type) of at most max bytes. The
 * body as a memory BIO (free with BIO_free), or NULL with the reason for
 * a person in why ("cannot connect: Connection refused", "only http://
 * URLs are fetched", ...). Never touches the error detail. */
BIO *psm_http_exchange(const char *url, BIO *req, const char *req_type,
                       const char *resp_type, size_t max, int timeout, char *why,
                       size_t whylen);

/* GET url: any content (DER, PEM, ...) of at most max bytes. 0 with
 * *body (malloc'd, free with free()) and *len; PSM_ERR_IO with the reason
 * as the detail (psm_error_detail(), without the URL) when the fetch
 * failed; PSM_ERR_NOMEM. */
int psm_http_get(const char *url, size_t max, int timeout, unsigned char **body, size_t *len);

/* Fetched answers are kept one file per URL: dir/<SHA-256 of url, in
 * lower-case hex>.ext. The path (free with free()), NULL when out of
 * memory. */
char *psm_http_cache_path(const char *dir, const char *url, const char *ext);

/* Write the len bytes of data to path (in dir, created 0700 when
 * missing) through a temporary file that is synced and renamed over it,
 * so that a reader never sees half an entry. Failures are silent: they
 * only cost a later fetch. */
void psm_http_cache_write(const char *dir, const char *path, const void *data, size_t len);

#endif
