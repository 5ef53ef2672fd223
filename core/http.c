/* p11smime: HTTP GET and POST for OCSP, CRLs and issuers (see http.h). */
#include "config.h"

#include "http.h"
#include "certinfo.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/sha.h>

/* The reason on OpenSSL's error queue for a person: the system's (e.g.
 * "Connection refused") when there is one, else the last; or, when
 * detailed, the first with its data ("received error (code=404,
 * reason=File not found)"). Clears the queue. */
static const char *
ossl_reason(char *buf, size_t len, int detailed)
{
	unsigned long e, first = 0, last = 0, sys = 0;
	const char *s, *data = NULL;
	char first_data[160] = "";
	int flags = 0;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		if (ERR_SYSTEM_ERROR(e) && sys == 0)
			sys = e;
		if (first == 0) {
			first = e;
			if ((flags & ERR_TXT_STRING) && data != NULL)
				snprintf(first_data, sizeof(first_data), "%s", data);
		}
		last = e;
	}
	if (sys != 0) {
		s = strerror(ERR_GET_REASON(sys));
	} else if (detailed && first != 0) {
		s = ERR_reason_error_string(first);
		if (first_data[0] != '\0') {
			snprintf(buf, len, "%s (%s)", s != NULL ? s : "failed", first_data);
			return buf;
		}
	} else {
		s = last != 0 ? ERR_reason_error_string(last) : NULL;
	}
	snprintf(buf, len, "%s", s != NULL ? s : "failed");
	return buf;
}

/* 127.0.0.0/8, ::1 and localhost never go through a proxy. */
static int
is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "[::1]") == 0 || strcasecmp(host, "localhost") == 0;
}

/* A connection to host:port within the deadline. OpenSSL's own connect
 * (BIO_do_connect_retry) tries a refused connection again until its
 * timeout, which would make every server that is down cost the whole
 * timeout; here a refusal ends at once. */
static BIO *
connect_direct(const char *host, const char *port, time_t deadline, char *why, size_t whylen)
{
	BIO *b = BIO_new(BIO_s_connect());
	char name[300], reason[160];

	/* an IPv6 literal needs its brackets back for BIO_parse_hostserv() */
	snprintf(name, sizeof(name), strchr(host, ':') != NULL ? "[%s]" : "%s", host);
	if (b == NULL || !BIO_set_conn_hostname(b, name) || !BIO_set_conn_port(b, port) ||
	    !BIO_set_nbio(b, 1)) {
		snprintf(why, whylen, "cannot make a connection");
		goto fail;
	}
	while (BIO_do_connect(b) <= 0) {
		if (!BIO_should_retry(b)) {
			snprintf(why, whylen, "cannot connect: %s", ossl_reason(reason, sizeof(reason), 0));
			goto fail;
		}
		if (BIO_wait(b, deadline, 100) <= 0) {
			snprintf(why, whylen, "cannot connect: no answer within the timeout");
			goto fail;
		}
	}
	ERR_clear_error();
	return b;
fail:
	ERR_clear_error();
	BIO_free_all(b);
	return NULL;
}

/* The rest of a response streaming in on in (the server closes the
 * connection after it: OpenSSL asks with HTTP/1.0, no keep-alive), at
 * most max bytes, within the deadline; a memory BIO or NULL with why. */
static BIO *
slurp(BIO *in, size_t max, time_t deadline, char *why, size_t whylen)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char buf[4096], reason[160];
	size_t total = 0;
	int n;

	if (mem == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	for (;;) {
		n = BIO_read(in, buf, sizeof(buf));
		if (n > 0) {
			total += (size_t)n;
			if (total > max) {
				snprintf(why, whylen, "the answer is larger than %zu bytes", max);
				goto fail;
			}
			if (BIO_write(mem, buf, n) != n) {
				snprintf(why, whylen, "out of memory");
				goto fail;
			}
			continue;
		}
		if (!BIO_should_retry(in)) {
			if (n == 0)
				break;  /* the end */
			snprintf(why, whylen, "reading the answer failed: %s",
			    ossl_reason(reason, sizeof(reason), 0));
			goto fail;
		}
		if (BIO_wait(in, deadline, 100) <= 0) {
			snprintf(why, whylen, "the answer did not arrive within the timeout");
			goto fail;
		}
	}
	ERR_clear_error();
	return mem;
fail:
	ERR_clear_error();
	BIO_free(mem);
	return NULL;
}

/* GET url (req NULL) or POST req to it; the response body as a memory
 * BIO, or NULL with the reason in why. asn1: the answer is DER/BER, and
 * OpenSSL reads it by its length; else it is read to the end. */
static BIO *
transfer(const char *url, BIO *req, const char *req_type, const char *resp_type, int asn1,
         size_t max, int timeout, char *why, size_t whylen)
{
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL, *frag = NULL;
	char full[1024], reason[160];
	time_t deadline;
	int ssl = 0, left;
	BIO *conn = NULL, *resp = NULL, *body = NULL;

	if (timeout <= 0)
		timeout = PSM_HTTP_TIMEOUT;
	deadline = time(NULL) + timeout;
	if (!OSSL_HTTP_parse_url(url, &ssl, NULL, &host, &port, NULL, &path, &query, &frag)) {
		snprintf(why, whylen, "the URL does not parse");
		goto out;
	}
	if (ssl) {
		/* RFC 5280 4.2.1.13 and RFC 6960 use plain HTTP: the answers are
		 * signed; fetching over TLS would need TLS to check the TLS
		 * server's revocation in turn */
		snprintf(why, whylen, "only http:// URLs are fetched");
		goto out;
	}
	/* no "?" without a query: OpenSSL gives an empty one */
	snprintf(full, sizeof(full), "%s%s%s", path, query != NULL && *query != '\0' ? "?" : "",
	         query != NULL ? query : "");
	if (!is_loopback(host) && OSSL_HTTP_adapt_proxy(NULL, NULL, host, 0) != NULL) {
		/* through the proxy of http_proxy / no_proxy, OpenSSL connecting */
		if (req == NULL)    /* GET, following redirections */
			resp = OSSL_HTTP_get(url, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL,
			                     resp_type, asn1, max, timeout);
		else
			resp = OSSL_HTTP_transfer(NULL, host, port, full, 0, NULL, NULL, NULL, NULL,
			                          NULL, NULL, 0, NULL, req_type, req, resp_type, asn1,
			                          max, timeout, 0);
	} else {
		if ((conn = connect_direct(host, port, deadline, why, whylen)) == NULL)
			goto out;
		left = (int)(deadline - time(NULL));
		resp = OSSL_HTTP_transfer(NULL, host, port, full, 0, NULL, NULL, conn, conn, NULL,
		                          NULL, 0, NULL, req_type, req, resp_type, asn1, max,
		                          left > 0 ? left : 1, 0);
	}
	if (resp == NULL) {
		snprintf(why, whylen, "%s", ossl_reason(reason, sizeof(reason), !asn1));
		goto out;
	}
	if (asn1) {
		body = resp;
		resp = NULL;    /* transferred */
	} else {
		/* resp is the connection, positioned after the headers */
		body = slurp(resp, max, deadline, why, whylen);
	}
out:
	ERR_clear_error();
	BIO_free_all(resp);
	BIO_free_all(conn);
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	OPENSSL_free(query);
	OPENSSL_free(frag);
	return body;
}

BIO *
psm_http_exchange(const char *url, BIO *req, const char *req_type, const char *resp_type,
                  size_t max, int timeout, char *why, size_t whylen)
{
	return transfer(url, req, req_type, resp_type, 1, max, timeout, why, whylen);
}

int
psm_http_get(const char *url, size_t max, int timeout, unsigned char **body, size_t *len)
{
	char why[300] = "";
	BIO *b;
	char *data;
	long n;

	*body = NULL;
	*len = 0;
	if ((b = transfer(url, NULL, NULL, NULL, 0, max, timeout, why, sizeof(why))) == NULL) {
		if (strcmp(why, "out of memory") == 0)
			return PSM_ERR_NOMEM;
		psm_error_set("%s", why);
		return PSM_ERR_IO;
	}
	n = BIO_get_mem_data(b, &data);
	if (n < 0 || (*body = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
		BIO_free(b);
		return PSM_ERR_NOMEM;
	}
	if (n > 0)
		memcpy(*body, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(b);
	return 0;
}

char *
psm_http_cache_path(const char *dir, const char *url, const char *ext)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *hex, *path = NULL;
	size_t len;

	SHA256((const unsigned char *)url, strlen(url), md);
	if ((hex = psm_hex_encode(md, sizeof(md))) == NULL)
		return NULL;
	len = strlen(dir) + strlen(hex) + strlen(ext) + 3;
	if ((path = malloc(len)) != NULL)
		snprintf(path, len, "%s/%s.%s", dir, hex, ext);
	free(hex);
	return path;
}

void
psm_http_cache_write(const char *dir, const char *path, const void *data, size_t len)
{
	const unsigned char *p = data;
	char tmp[4096];
	ssize_t n;
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp) ||
	    (fd = mkstemp(tmp)) < 0)
		return;
	while (len > 0) {
		if ((n = write(fd, p, len)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	if (len > 0 || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0)
		unlink(tmp);
}
