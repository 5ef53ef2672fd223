/* p11smime: fetching over plain HTTP, for OCSP, CRLs and issuers' certificates.
 *
 * http:// only (RFC 5280 4.2.1.13, 4.2.2.1 and RFC 6960 use plain HTTP:
 * what is fetched is signed, and fetching over TLS would need TLS to check
 * the TLS server's certificate in turn). An HTTP/1.1 client of its own
 * (RFC 9112): the request asks for "Connection: close"; the answer is
 * read as its head says, by Content-Length, chunked, or up to the end of
 * the connection (HTTP/1.0 without a length), never more than the bytes
 * allowed, and all within a deadline for the whole fetch (timeout seconds,
 * 0: 5), redirections included. A GET follows redirections (301, 302,
 * 303, 307, 308) to http:// URLs, at most PSM_HTTP_MAX_REDIRECTS; a POST
 * is not redirected. The body is returned as it came: what it holds (DER,
 * PEM, ...) is for the caller to judge. The http_proxy / no_proxy
 * environment is honoured, except for loopback addresses (127.0.0.0/8,
 * ::1, localhost), which are always reached directly. A refused
 * connection fails at once instead of being retried until the deadline.
 */
#ifndef P11SMIME_HTTP_H
#define P11SMIME_HTTP_H

#include <stddef.h>

#include <openssl/bio.h>

#define PSM_HTTP_TIMEOUT 5          /* seconds, when 0 is given */
#define PSM_HTTP_MAX_REDIRECTS 3    /* redirections followed by one GET */
#define PSM_HTTP_URL_MAX 2048       /* characters in a URL fetched */

/* GET url (req NULL) or POST req (a memory BIO, of type req_type) to it,
 * expecting an answer of Content-Type resp_type (its parameters aside; NULL:
 * any type) of at most max bytes. The body as a memory BIO (free with
 * BIO_free), or NULL with the reason for a person in why, one line
 * without the URL ("cannot connect: Connection refused", "HTTP status 404
 * (Not Found)", "the answer is larger than 1048576 bytes", "redirected
 * (HTTP 301) to https://...: only http:// URLs are followed", ...). Never
 * touches the error detail. */
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
