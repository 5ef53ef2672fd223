/* p11smime: HTTP GET and POST for OCSP, CRLs and issuers (see http.h). */
#include "config.h"

#include "http.h"
#include "certinfo.h"
#include "error.h"
#include "tmpfile.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/sha.h>

/* The reason on OpenSSL's error queue for a person: the system's (e.g.
 * "Connection refused") when there is one, else the last. Clears the
 * queue. */
static const char *
ossl_reason(char *buf, size_t len)
{
	unsigned long e, last = 0, sys = 0;
	const char *s;

	while ((e = ERR_get_error()) != 0) {
		if (ERR_SYSTEM_ERROR(e) && sys == 0)
			sys = e;
		last = e;
	}
	if (sys != 0)
		s = strerror(ERR_GET_REASON(sys));
	else
		s = last != 0 ? ERR_reason_error_string(last) : NULL;
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

/* src for a person in buf (of size len): printable ASCII, anything else
 * as "?", cut with "..." when longer. */
static const char *
shown(char *buf, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < len; i++)
		buf[i] = src[i] >= ' ' && src[i] <= '~' ? src[i] : '?';
	buf[i] = '\0';
	if (src[i] != '\0' && len >= 4)
		memcpy(buf + len - 4, "...", 4);
	return buf;
}

/* ---- time and waiting ---- */

/* Milliseconds on a clock that does not jump. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the socket of b can be read (out 0) or written (out 1), at
 * most until deadline: 1 ready, 0 the deadline passed, -1 failed. */
static int
wait_for(BIO *b, int out, long long deadline)
{
	struct pollfd p;
	long long left;
	int fd = -1, r;

	if (BIO_get_fd(b, &fd) < 0 || fd < 0)
		return -1;
	p.fd = fd;
	p.events = out ? POLLOUT : POLLIN;
	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return 0;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* ---- connecting and sending ---- */

/* A connection to host:port within the deadline. OpenSSL's own connect
 * (BIO_do_connect_retry) tries a refused connection again until its
 * timeout, which would make every server that is down cost the whole
 * timeout; here a refusal ends at once. what: "" or " to the proxy ...",
 * for the reason. */
static BIO *
connect_to(const char *host, const char *port, long long deadline, const char *what,
           char *why, size_t whylen)
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
			snprintf(why, whylen, "cannot connect%s: %s", what,
			         ossl_reason(reason, sizeof(reason)));
			goto fail;
		}
		if (wait_for(b, 1, deadline) <= 0) {
			snprintf(why, whylen, "cannot connect%s: no answer within the timeout", what);
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

/* Write len bytes to the socket of b within the deadline: send() with
 * MSG_NOSIGNAL, so that a server that has closed the connection is an
 * error here, not a SIGPIPE for the whole program. */
static int
send_all(BIO *b, const void *data, size_t len, long long deadline, char *why, size_t whylen)
{
	const char *p = data;
	ssize_t n;
	int fd = -1;

	if (BIO_get_fd(b, &fd) < 0 || fd < 0) {
		snprintf(why, whylen, "sending the request failed: no connection");
		return -1;
	}
	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			snprintf(why, whylen, "sending the request failed: %s",
			         n == 0 ? "the connection was closed" : strerror(errno));
			return -1;
		}
		if (wait_for(b, 1, deadline) <= 0) {
			snprintf(why, whylen, "the request could not be sent within the timeout");
			return -1;
		}
	}
	return 0;
}

/* ---- reading the answer ---- */

#define LINE_MAX_LEN 8192           /* a status, header or chunk-size line */
#define HEAD_MAX_LEN 65536          /* all the header lines of one answer */
#define HEAD_MAX_LINES 100

struct conn {
	BIO *bio;
	long long deadline;
	size_t pos, len;            /* buf[pos..len) is read, not yet used */
	size_t head;                /* bytes of header lines so far */
	size_t total;               /* bytes read */
	unsigned char buf[2 * LINE_MAX_LEN];
};

/* More bytes into c->buf: 1, 0 at the end of the stream (the server
 * closed the connection), -1 with why. */
static int
fill(struct conn *c, char *why, size_t whylen)
{
	int n, e;

	if (c->pos > 0) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	if (c->len == sizeof(c->buf))
		return 1;
	for (;;) {
		/* also for a server that never makes us wait: the deadline holds */
		if (now_ms() >= c->deadline)
			goto late;
		errno = 0;
		n = BIO_read(c->bio, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
		e = errno;
		if (n > 0) {
			c->len += (size_t)n;
			c->total += (size_t)n;
			return 1;
		}
		if (!BIO_should_retry(c->bio)) {
			if (n == 0)
				return 0;
			snprintf(why, whylen, "reading the answer failed: %s",
			         e != 0 ? strerror(e) : "the connection failed");
			return -1;
		}
		if (wait_for(c->bio, 0, c->deadline) <= 0)
			goto late;
	}
late:
	snprintf(why, whylen, c->total == 0 ? "no answer within the timeout" :
	         "the answer was not complete within the timeout");
	return -1;
}

/* One line, without its CR LF (or LF), NUL-terminated in line (of size
 * at least LINE_MAX_LEN + 1): its length, or -1 with why. what names
 * where it is, for the reason ("the status line", "the header", ...). */
static int
read_line(struct conn *c, char *line, const char *what, char *why, size_t whylen)
{
	unsigned char *nl;
	size_t n;
	int r;

	for (;;) {
		nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
		if (nl != NULL)
			break;
		if (c->len - c->pos > LINE_MAX_LEN)
			goto long_line;
		if ((r = fill(c, why, whylen)) < 0)
			return -1;
		if (r == 0) {
			if (c->total == 0)
				snprintf(why, whylen, "the server closed the connection without answering");
			else
				snprintf(why, whylen, "the server closed the connection in the middle of %s",
				         what);
			return -1;
		}
	}
	n = (size_t)(nl - (c->buf + c->pos));
	if (n > LINE_MAX_LEN)
		goto long_line;
	memcpy(line, c->buf + c->pos, n);
	c->pos += n + 1;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	if (memchr(line, '\0', n) != NULL) {
		snprintf(why, whylen, "the answer is malformed (a NUL byte in %s)", what);
		return -1;
	}
	return (int)n;
long_line:
	snprintf(why, whylen, "the answer is malformed (a line longer than %d bytes in %s)",
	         LINE_MAX_LEN, what);
	return -1;
}

/* n bytes of the body (or, n SIZE_MAX, all up to the end of the stream)
 * appended to mem, which may hold at most max bytes in all; chunk: they
 * are a chunk's, for the reason. */
static int
read_body(struct conn *c, BIO *mem, size_t n, size_t max, int chunk, char *why, size_t whylen)
{
	size_t got = 0, take;
	int r;

	for (;;) {
		take = c->len - c->pos;
		if (n != SIZE_MAX && take > n - got)
			take = n - got;
		if (take > 0) {
			if ((size_t)BIO_pending(mem) + take > max) {
				snprintf(why, whylen, "the answer is larger than %zu bytes", max);
				return -1;
			}
			if (BIO_write(mem, c->buf + c->pos, (int)take) != (int)take) {
				snprintf(why, whylen, "out of memory");
				return -1;
			}
			c->pos += take;
			got += take;
		}
		if (n != SIZE_MAX && got == n)
			return 0;
		if ((r = fill(c, why, whylen)) < 0)
			return -1;
		if (r == 0) {
			if (n == SIZE_MAX)
				return 0;
			if (chunk)
				snprintf(why, whylen, "the server closed the connection in the middle "
				         "of a chunk");
			else
				snprintf(why, whylen, "the server closed the connection after %zu of "
				         "the %zu bytes it announced", got, n);
			return -1;
		}
	}
}

/* A chunked body (RFC 9112 7.1) into mem, at most max bytes. */
static int
read_chunked(struct conn *c, BIO *mem, size_t max, char *why, size_t whylen)
{
	char line[LINE_MAX_LEN + 1], text[24], *p;
	size_t size, total;
	int digit, lines = 0;

	for (;;) {
		if (read_line(c, line, "a chunk-size line", why, whylen) < 0)
			return -1;
		size = 0;
		for (p = line; isxdigit((unsigned char)*p); p++) {
			digit = isdigit((unsigned char)*p) ? *p - '0' : tolower((unsigned char)*p) - 'a' + 10;
			if (size > (SIZE_MAX - (size_t)digit) / 16) {
				snprintf(why, whylen, "the answer is larger than %zu bytes", max);
				return -1;
			}
			size = size * 16 + (size_t)digit;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (p == line || (*p != '\0' && *p != ';')) {
			snprintf(why, whylen, "the chunked answer is malformed (a chunk size \"%s\")",
			         shown(text, sizeof(text), line));
			return -1;
		}
		if (size == 0)
			break;
		total = (size_t)BIO_pending(mem);
		if (size > max - total) {
			snprintf(why, whylen, "the answer is larger than %zu bytes", max);
			return -1;
		}
		if (read_body(c, mem, size, max, 1, why, whylen) < 0 ||
		    read_line(c, line, "a chunk", why, whylen) < 0)
			return -1;
		if (line[0] != '\0') {
			snprintf(why, whylen, "the chunked answer is malformed (no CR LF after a chunk)");
			return -1;
		}
	}
	/* the trailer section, up to an empty line */
	for (;;) {
		if (read_line(c, line, "the trailer", why, whylen) < 0)
			return -1;
		if (line[0] == '\0')
			return 0;
		if (++lines > HEAD_MAX_LINES) {
			snprintf(why, whylen, "the answer has more than %d trailer lines", HEAD_MAX_LINES);
			return -1;
		}
	}
}

/* ---- the answer's head ---- */

struct answer {
	int status;
	char reason[64];            /* shown */
	int chunked;                /* Transfer-Encoding: ..., chunked */
	long long length;           /* Content-Length, -1 without */
	char type[80];              /* the media type of Content-Type, lower case */
	char coding[80];            /* a coding not understood, for the reason */
	char location[PSM_HTTP_URL_MAX + 1];
	int has_location;           /* 1, or -1: too long */
};

/* The status line "HTTP/1.x NNN reason". */
static int
parse_status(const char *line, struct answer *a, char *why, size_t whylen)
{
	char text[48];
	const char *p = line + 9;

	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) || line[8] != ' ' ||
	    !isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
	    !isdigit((unsigned char)p[2]) || (p[3] != '\0' && p[3] != ' ')) {
		snprintf(why, whylen, "the answer is not HTTP/1.x (it begins \"%s\")",
		         shown(text, sizeof(text), line));
		return -1;
	}
	a->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	while (*p == ' ')
		p++;
	shown(a->reason, sizeof(a->reason), p);
	return 0;
}

/* value, without the spaces around it, lower case, in out; how long it was. */
static size_t
token_lower(const char *value, size_t n, char *out, size_t outlen)
{
	size_t i, j = 0;

	while (n > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		n--;
	}
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	for (i = 0; i < n && j + 1 < outlen; i++)
		out[j++] = (char)tolower((unsigned char)value[i]);
	out[j] = '\0';
	return n;
}

/* One header line: the fields that matter here into a. */
static int
parse_header(char *line, struct answer *a, char *why, size_t whylen)
{
	char *colon, *value, *end, *p, coding[40], text[48];
	unsigned long long n;
	size_t len;
	int i;

	if (line[0] == ' ' || line[0] == '\t') {
		snprintf(why, whylen, "the answer has a folded header line");
		return -1;
	}
	if ((colon = strchr(line, ':')) == NULL || colon == line) {
		snprintf(why, whylen, "the answer has a malformed header line (\"%s\")",
		         shown(text, sizeof(text), line));
		return -1;
	}
	for (p = line; p < colon; p++)
		if (*p <= ' ' || *p > '~') {
			snprintf(why, whylen, "the answer has a malformed header line (\"%s\")",
			         shown(text, sizeof(text), line));
			return -1;
		}
	*colon = '\0';
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	end = value + strlen(value);
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	if (strcasecmp(line, "Content-Length") == 0) {
		n = 0;
		for (p = value; isdigit((unsigned char)*p); p++)   /* huge: LLONG_MAX */
			n = n > (unsigned long long)LLONG_MAX / 10 ? (unsigned long long)LLONG_MAX :
			    n * 10 + (unsigned long long)(*p - '0');
		if (n > (unsigned long long)LLONG_MAX)
			n = (unsigned long long)LLONG_MAX;
		if (p == value || *p != '\0' || (a->length >= 0 && (unsigned long long)a->length != n)) {
			snprintf(why, whylen, "the answer has a malformed or conflicting Content-Length "
			         "(\"%s\")", shown(text, sizeof(text), value));
			return -1;
		}
		a->length = (long long)n;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0 ||
	           strcasecmp(line, "Content-Encoding") == 0) {
		i = strcasecmp(line, "Transfer-Encoding") == 0;
		for (p = value; *p != '\0'; p = *end == ',' ? end + 1 : end) {
			end = p + strcspn(p, ",");
			len = token_lower(p, (size_t)(end - p), coding, sizeof(coding));
			if (len == 0 || strcmp(coding, "identity") == 0)
				continue;
			if (i && a->chunked) {
				snprintf(why, whylen, "the answer is malformed (Transfer-Encoding: "
				         "chunked is not the last coding)");
				return -1;
			}
			if (i && strcmp(coding, "chunked") == 0)
				a->chunked = 1;
			else if (a->coding[0] == '\0')
				snprintf(a->coding, sizeof(a->coding), "%s: %s",
				         i ? "Transfer-Encoding" : "Content-Encoding",
				         shown(text, sizeof(text), coding));
		}
	} else if (strcasecmp(line, "Content-Type") == 0) {
		token_lower(value, strcspn(value, ";"), a->type, sizeof(a->type));
	} else if (strcasecmp(line, "Location") == 0) {
		if (strlen(value) > PSM_HTTP_URL_MAX) {
			a->has_location = -1;
		} else {
			snprintf(a->location, sizeof(a->location), "%s", value);
			a->has_location = 1;
		}
	}
	return 0;
}

/* The head of the answer (interim 1xx answers skipped) into a. */
static int
read_head(struct conn *c, struct answer *a, char *why, size_t whylen)
{
	char line[LINE_MAX_LEN + 1];
	int n, lines;

	for (;;) {
		memset(a, 0, sizeof(*a));
		a->length = -1;
		if (read_line(c, line, "the status line", why, whylen) < 0 ||
		    parse_status(line, a, why, whylen) < 0)
			return -1;
		for (lines = 0;; lines++) {
			if ((n = read_line(c, line, "the header", why, whylen)) < 0)
				return -1;
			if (n == 0)
				break;
			c->head += (size_t)n;
			if (lines >= HEAD_MAX_LINES || c->head > HEAD_MAX_LEN) {
				snprintf(why, whylen, "the answer's header is longer than %d lines or %d "
				         "bytes", HEAD_MAX_LINES, HEAD_MAX_LEN);
				return -1;
			}
			if (parse_header(line, a, why, whylen) < 0)
				return -1;
		}
		if (a->status < 100 || a->status >= 200 || a->status == 101)
			return 0;
	}
}

/* ---- URLs ---- */

struct url {
	char host[256];             /* without the brackets of an IPv6 literal */
	char port[6];
	char target[PSM_HTTP_URL_MAX + 2];  /* path and query: at least "/" */
};

/* Printable ASCII without spaces, at most PSM_HTTP_URL_MAX long. */
static int
url_printable(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] <= ' ' || s[i] > '~' || i >= PSM_HTTP_URL_MAX)
			return 0;
	return i > 0;
}

/* http://[userinfo@]host[:port][/path][?query][#fragment] into u. */
static int
parse_url(const char *s, struct url *u)
{
	const char *auth, *auth_end, *h, *h_end, *p;
	unsigned long port = 80;
	size_t n;

	if (strncasecmp(s, "http://", 7) != 0 || !url_printable(s))
		return -1;
	auth = s + 7;
	auth_end = auth + strcspn(auth, "/?#");
	for (h = auth, p = auth; p < auth_end; p++)
		if (*p == '@')
			h = p + 1;
	if (*h == '[') {
		if ((h_end = memchr(h, ']', (size_t)(auth_end - h))) == NULL)
			return -1;
		h++;
		p = h_end + 1;
	} else {
		h_end = memchr(h, ':', (size_t)(auth_end - h));
		if (h_end == NULL)
			h_end = auth_end;
		p = h_end;
	}
	n = (size_t)(h_end - h);
	if (n == 0 || n >= sizeof(u->host))
		return -1;
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	for (h = u->host; *h != '\0'; h++)
		if (!isalnum((unsigned char)*h) && strchr(".-_:%", *h) == NULL)
			return -1;
	if (p < auth_end) {
		if (*p++ != ':')
			return -1;
		if (p < auth_end) {
			port = 0;
			for (; p < auth_end; p++) {
				if (!isdigit((unsigned char)*p) || port > 65535)
					return -1;
				port = port * 10 + (unsigned long)(*p - '0');
			}
			if (port == 0 || port > 65535)
				return -1;
		}
	}
	snprintf(u->port, sizeof(u->port), "%lu", port);
	n = strcspn(auth_end, "#");
	snprintf(u->target, sizeof(u->target), "%s%.*s", *auth_end == '/' ? "" : "/", (int)n,
	         auth_end);
	return 0;
}

/* host as in a URL or a Host header: an IPv6 literal in brackets, the
 * port unless it is 80. */
static const char *
authority(const struct url *u, char *buf, size_t len)
{
	int v6 = strchr(u->host, ':') != NULL;

	snprintf(buf, len, "%s%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "",
	         strcmp(u->port, "80") != 0 ? ":" : "", strcmp(u->port, "80") != 0 ? u->port : "");
	return buf;
}

/* path (absolute, without a query) without its "." and ".." segments
 * (RFC 3986 5.2.4) in out, of size at least strlen(path) + 2. */
static void
remove_dots(const char *path, char *out)
{
	const char *seg = path;
	size_t o = 0, n;
	int last;

	while (*seg == '/') {
		seg++;
		n = strcspn(seg, "/");
		last = seg[n] == '\0';
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			if (last)
				out[o++] = '/';
		} else if (n == 1 && seg[0] == '.') {
			if (last)
				out[o++] = '/';
		} else {
			out[o++] = '/';
			memcpy(out + o, seg, n);
			o += n;
		}
		seg += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
}

/* The URL of a redirection's Location, resolved against the URL asked
 * (RFC 3986 5.2), in out (of size PSM_HTTP_URL_MAX + 1). A URL of another
 * scheme is given as it is, for the caller to refuse. */
static int
resolve(const struct url *base, const char *loc, char *out, char *why, size_t whylen)
{
	char l[PSM_HTTP_URL_MAX + 1], auth[300], text[64];
	char merged[2 * PSM_HTTP_URL_MAX + 4], path[2 * PSM_HTTP_URL_MAX + 4];
	char dots[2 * PSM_HTTP_URL_MAX + 4];
	const char *p;
	size_t n, q;

	if (!url_printable(loc)) {
		snprintf(why, whylen, "a redirection to a Location that is not a URL (\"%s\")",
		         shown(text, sizeof(text), loc));
		return -1;
	}
	snprintf(l, sizeof(l), "%.*s", (int)strcspn(loc, "#"), loc);
	for (p = l; isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'; p++)
		continue;
	if (*p == ':' && p > l && isalpha((unsigned char)l[0]) &&
	    (p - l != 4 || strncasecmp(l, "http", 4) != 0 || strncmp(p, "://", 3) != 0)) {
		snprintf(out, PSM_HTTP_URL_MAX + 1, "%s", l);  /* another scheme */
		return 0;
	}
	if (*p == ':' || (l[0] == '/' && l[1] == '/')) {
		/* http://authority/... or //authority/... */
		p = *p == ':' ? p + 3 : l + 2;
		n = strcspn(p, "/?");
		snprintf(auth, sizeof(auth), "%.*s", (int)n, p);
		snprintf(merged, sizeof(merged), "%s", p + n);
	} else {
		authority(base, auth, sizeof(auth));
		q = strcspn(base->target, "?");
		if (l[0] == '/') {
			snprintf(merged, sizeof(merged), "%s", l);
		} else if (l[0] == '?') {
			snprintf(merged, sizeof(merged), "%.*s%s", (int)q, base->target, l);
		} else {
			while (q > 0 && base->target[q - 1] != '/')
				q--;
			snprintf(merged, sizeof(merged), "%.*s%s", (int)q, base->target, l);
		}
	}
	q = strcspn(merged, "?");
	/* "/" for a Location without a path ("http://host?x") */
	snprintf(path, sizeof(path), "%s%.*s", merged[0] == '/' ? "" : "/", (int)q, merged);
	remove_dots(path, dots);
	n = (size_t)snprintf(out, PSM_HTTP_URL_MAX + 1, "http://%s%s%s", auth, dots, merged + q);
	if (n >= PSM_HTTP_URL_MAX) {
		snprintf(why, whylen, "a redirection to a URL longer than %d characters",
		         PSM_HTTP_URL_MAX);
		return -1;
	}
	return 0;
}

/* ---- one request ---- */

enum { DONE, FAILED, REDIRECTED };

/* The body of a 200 answer whose head is a, framed as it says. */
static BIO *
read_answer(struct conn *c, const struct answer *a, const char *resp_type, size_t max,
            char *why, size_t whylen)
{
	BIO *mem = NULL;
	int r;

	if (a->coding[0] != '\0') {
		snprintf(why, whylen, "the answer is sent with %s, which is not supported", a->coding);
		return NULL;
	}
	if (resp_type != NULL && strcasecmp(a->type, resp_type) != 0) {
		if (a->type[0] == '\0')
			snprintf(why, whylen, "the answer has no Content-Type (%s expected)", resp_type);
		else
			snprintf(why, whylen, "the answer is of type %s, not %s", a->type, resp_type);
		return NULL;
	}
	if (!a->chunked && a->length >= 0 && (unsigned long long)a->length > max) {
		snprintf(why, whylen, "the answer is larger than %zu bytes (Content-Length: %lld)",
		         max, a->length);
		return NULL;
	}
	if ((mem = BIO_new(BIO_s_mem())) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (a->chunked)
		r = read_chunked(c, mem, max, why, whylen);
	else if (a->length >= 0)
		r = read_body(c, mem, (size_t)a->length, max, 0, why, whylen);
	else                /* up to the end of the connection */
		r = read_body(c, mem, SIZE_MAX, max, 0, why, whylen);
	if (r < 0) {
		BIO_free(mem);
		return NULL;
	}
	return mem;
}

/* GET url (req NULL) or POST req, once: DONE with the body in *body,
 * FAILED with why, or REDIRECTED with *status and the URL to go to in
 * next (of size PSM_HTTP_URL_MAX + 1), which may be of any scheme. */
static int
exchange(const char *url, BIO *req, const char *req_type, const char *resp_type, size_t max,
         long long deadline, BIO **body, int *status, char *next, char *why, size_t whylen)
{
	struct url u, proxy;
	struct answer a;
	struct conn *c = NULL;
	char auth[300], what[320], text[64], head[PSM_HTTP_URL_MAX + 1024];
	const char *via = NULL;
	char *data = NULL;
	long n = 0;
	BIO *conn = NULL;
	int r = FAILED, len;

	*body = NULL;
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(why, whylen, "only http:// URLs are fetched");
		goto out;
	}
	if (parse_url(url, &u) < 0) {
		snprintf(why, whylen, "the URL does not parse");
		goto out;
	}
	authority(&u, auth, sizeof(auth));
	if (!is_loopback(u.host))
		via = OSSL_HTTP_adapt_proxy(NULL, NULL, u.host, 0);
	if (via != NULL) {
		/* through the proxy of http_proxy / no_proxy, asking for the URL */
		snprintf(what, sizeof(what), "%s%s", strstr(via, "://") == NULL ? "http://" : "", via);
		if (parse_url(what, &proxy) < 0) {
			snprintf(why, whylen, "the proxy %s (http_proxy) is not an http:// URL",
			         shown(text, sizeof(text), via));
			goto out;
		}
		snprintf(what, sizeof(what), " to the proxy %s", authority(&proxy, text, sizeof(text)));
		conn = connect_to(proxy.host, proxy.port, deadline, what, why, whylen);
	} else {
		conn = connect_to(u.host, u.port, deadline, "", why, whylen);
	}
	if (conn == NULL)
		goto out;

	if (req != NULL && (n = BIO_get_mem_data(req, &data)) < 0) {
		snprintf(why, whylen, "cannot make the request");
		goto out;
	}
	len = snprintf(head, sizeof(head),
	               "%s %s%s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s/%s\r\nAccept: %s\r\n"
	               "Accept-Encoding: identity\r\nConnection: close\r\n",
	               req != NULL ? "POST" : "GET", via != NULL ? "http://" : "",
	               via != NULL ? auth : "", u.target, auth, PACKAGE_NAME, PACKAGE_VERSION,
	               resp_type != NULL ? resp_type : "*/*");
	if (len > 0 && (size_t)len < sizeof(head) && req != NULL)
		len += snprintf(head + len, sizeof(head) - (size_t)len,
		                "Content-Type: %s\r\nContent-Length: %ld\r\n",
		                req_type != NULL ? req_type : "application/octet-stream", n);
	if (len > 0 && (size_t)len < sizeof(head))
		len += snprintf(head + len, sizeof(head) - (size_t)len, "\r\n");
	if (len <= 0 || (size_t)len >= sizeof(head)) {
		snprintf(why, whylen, "the URL is too long");
		goto out;
	}
	if (send_all(conn, head, (size_t)len, deadline, why, whylen) < 0 ||
	    (n > 0 && send_all(conn, data, (size_t)n, deadline, why, whylen) < 0))
		goto out;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	c->bio = conn;
	c->deadline = deadline;
	if (read_head(c, &a, why, whylen) < 0)
		goto out;
	*status = a.status;
	switch (a.status) {
	case 200:
		if ((*body = read_answer(c, &a, resp_type, max, why, whylen)) != NULL)
			r = DONE;
		break;
	case 301: case 302: case 303: case 307: case 308:
		if (a.has_location == 0)
			snprintf(why, whylen, "a redirection (HTTP %d) without a Location", a.status);
		else if (a.has_location < 0)
			snprintf(why, whylen, "a redirection (HTTP %d) to a URL longer than %d "
			         "characters", a.status, PSM_HTTP_URL_MAX);
		else if (resolve(&u, a.location, next, why, whylen) == 0)
			r = REDIRECTED;
		break;
	default:
		snprintf(why, whylen, "HTTP status %d%s%s%s", a.status, a.reason[0] != '\0' ? " (" : "",
		         a.reason, a.reason[0] != '\0' ? ")" : "");
		break;
	}
out:
	ERR_clear_error();
	free(c);
	BIO_free_all(conn);
	return r;
}

/* GET url (req NULL), following up to PSM_HTTP_MAX_REDIRECTS redirections
 * to http:// URLs, or POST req to it (not redirected); the body as a
 * memory BIO, or NULL with the reason in why. */
static BIO *
transfer(const char *url, BIO *req, const char *req_type, const char *resp_type, size_t max,
         int timeout, char *why, size_t whylen)
{
	char cur[PSM_HTTP_URL_MAX + 1], next[PSM_HTTP_URL_MAX + 1], reason[300], text[160];
	long long deadline = now_ms() + 1000LL * (timeout > 0 ? timeout : PSM_HTTP_TIMEOUT);
	BIO *body = NULL;
	int hops, status = 0;

	if (!url_printable(url)) {
		snprintf(why, whylen, "the URL is not printable ASCII or longer than %d characters",
		         PSM_HTTP_URL_MAX);
		return NULL;
	}
	snprintf(cur, sizeof(cur), "%s", url);
	for (hops = 0;; hops++) {
		next[0] = '\0';
		switch (exchange(cur, req, req_type, resp_type, max, deadline, &body, &status, next,
		                 reason, sizeof(reason))) {
		case DONE:
			return body;
		case FAILED:
			if (hops == 0)
				snprintf(why, whylen, "%s", reason);
			else
				snprintf(why, whylen, "redirected to %s: %s", shown(text, sizeof(text), cur),
				         reason);
			return NULL;
		default:
			break;
		}
		shown(text, sizeof(text), next);
		if (req != NULL) {
			snprintf(why, whylen, "the answer is a redirection (HTTP %d) to %s, which is "
			         "not followed for a POST", status, text);
			return NULL;
		}
		if (strncasecmp(next, "http://", 7) != 0) {
			snprintf(why, whylen, "redirected (HTTP %d) to %s: only http:// URLs are "
			         "followed", status, text);
			return NULL;
		}
		if (hops == PSM_HTTP_MAX_REDIRECTS) {
			snprintf(why, whylen, "more than %d redirections (the last, HTTP %d, to %s)",
			         PSM_HTTP_MAX_REDIRECTS, status, text);
			return NULL;
		}
		memcpy(cur, next, sizeof(cur));
	}
}

BIO *
psm_http_exchange(const char *url, BIO *req, const char *req_type, const char *resp_type,
                  size_t max, int timeout, char *why, size_t whylen)
{
	return transfer(url, req, req_type, resp_type, max, timeout, why, whylen);
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
	if ((b = transfer(url, NULL, NULL, NULL, max, timeout, why, sizeof(why))) == NULL) {
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
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return;
	/* failures only cost a later fetch; they leave no detail behind */
	if (psm_tmpfile_write_file(path, 0600, data, len) < 0)
		psm_error_clear();
}
