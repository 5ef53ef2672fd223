/* p11smime: signing and verifying RFC 5322 messages as streams.
 *
 * The top-level header block is read into memory (capped); the body is
 * never held whole: it streams from the input through canonicalisation
 * (RFC 8551 section 3.1) into the CMS digest and the output.
 */
#include "config.h"

#include "message.h"
#include "message-int.h"
#include "mime_header.h"
#include "mime_reader.h"
#include "cms_stream.h"
#include "encode.h"
#include "error.h"
#include "tmpfile.h"

#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define MAX_HEADER_BLOCK (256 * 1024)
#define MAX_FIELDS 2000
#define MAX_SIG_PART (8 * 1024 * 1024)

/* What to give instead of input that is not a mail at all. */
#define HINT_WHOLE_MAIL "; give a whole mail: header fields (From:, To:, ...), an empty line, " \
	"then the body"


int
psm_rd_fill(struct rd *r)
{
	ssize_t n;

	if (r->pos < r->len || r->eof)
		return 0;
	for (;;) {
		n = read(r->fd, r->buf, sizeof(r->buf));
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n < 0) {
		psm_error_set("cannot read the message: %s", strerror(errno));
		return PSM_ERR_IO;
	}
	r->pos = 0;
	r->len = (size_t)n;
	if (n == 0)
		r->eof = 1;
	r->nread += (unsigned long long)n;
	if (r->progress != NULL)
		r->progress(r->progress_ud, r->fd, r->nread);
	return 0;
}

void
psm_msg_set_progress(psm_msg *m, psm_progress_fn fn, void *ud)
{
	m->in.progress = fn;
	m->in.progress_ud = ud;
}

static void
fields_free(struct field *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].value);
		free(f[i].raw);
	}
	free(f);
}

void
psm_msg_free(psm_msg *m)
{
	if (m == NULL)
		return;
	fields_free(m->f, m->nf);
	free(m->from);
	free(m);
}

const char *
psm_msg_header(const psm_msg *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nf; i++)
		if (strcasecmp(m->f[i].name, name) == 0)
			return m->f[i].value;
	return NULL;
}

/* Read one line (without its end) into a growing buffer, capped. Returns
 * 1 for a line, 0 at EOF, or a psm_err. */
static int
read_line(struct rd *r, char **line, size_t *len, size_t *cap, size_t max, int *had_cr)
{
	int rv;

	*len = 0;
	*had_cr = 0;
	for (;;) {
		unsigned char *nl;
		size_t avail;

		if ((rv = psm_rd_fill(r)) < 0)
			return rv;
		if (r->pos >= r->len)
			return *len > 0 ? 1 : 0;
		avail = r->len - r->pos;
		nl = memchr(r->buf + r->pos, '\n', avail);
		size_t take = nl != NULL ? (size_t)(nl - (r->buf + r->pos)) : avail;

		if (*len + take + 1 > max) {
			psm_error_set("the message's header block is longer than %zu bytes", max);
			return PSM_ERR_MALFORMED;
		}
		if (*len + take + 1 > *cap) {
			size_t ncap = (*len + take + 1) * 2;
			char *g = realloc(*line, ncap);

			if (g == NULL)
				return PSM_ERR_NOMEM;
			*line = g;
			*cap = ncap;
		}
		memcpy(*line + *len, r->buf + r->pos, take);
		*len += take;
		r->pos += take;
		if (nl != NULL) {
			r->pos++;  /* the LF */
			if (*len > 0 && (*line)[*len - 1] == '\r') {
				(*len)--;
				*had_cr = 1;
			}
			(*line)[*len] = '\0';
			return 1;
		}
	}
}

/* The addr-spec of the first mailbox in an address list, lower-cased. */
static char *
first_address(const char *v)
{
	char **list = NULL, *s = NULL;

	if (psm_mime_addr_list(v, &list) == 0 && list[0] != NULL)
		s = strdup(list[0]);
	psm_mime_addr_list_free(list);
	return s;
}

static int
add_field(psm_msg *m, const char *raw, size_t rawlen)
{
	struct field *g, *f;
	const char *colon = memchr(raw, ':', rawlen);
	size_t nlen, i, k;

	if (colon == NULL || colon == raw) {
		psm_error_set("the input is not an RFC 5322 message (a header line has no field "
		              "name)" HINT_WHOLE_MAIL);
		return PSM_ERR_MALFORMED;
	}
	if (m->nf >= MAX_FIELDS) {
		psm_error_set("the message has more than %d header fields", MAX_FIELDS);
		return PSM_ERR_MALFORMED;
	}
	if ((g = realloc(m->f, (m->nf + 1) * sizeof(*g))) == NULL)
		return PSM_ERR_NOMEM;
	m->f = g;
	f = &m->f[m->nf];
	memset(f, 0, sizeof(*f));
	nlen = (size_t)(colon - raw);
	while (nlen > 0 && (raw[nlen - 1] == ' ' || raw[nlen - 1] == '\t'))
		nlen--;
	f->name = strndup(raw, nlen);
	f->raw = strndup(raw, rawlen);
	f->value = malloc(rawlen + 1);
	if (f->name == NULL || f->raw == NULL || f->value == NULL) {
		free(f->name);
		free(f->raw);
		free(f->value);
		return PSM_ERR_NOMEM;
	}
	/* unfold (RFC 5322 section 2.2.3): drop the line breaks */
	for (i = (size_t)(colon - raw) + 1, k = 0; i < rawlen; i++)
		if (raw[i] != '\n')
			f->value[k++] = raw[i];
	f->value[k] = '\0';
	for (i = 0; f->value[i] == ' ' || f->value[i] == '\t'; i++)
		;
	memmove(f->value, f->value + i, k - i + 1);
	while (k > i && (f->value[k - i - 1] == ' ' || f->value[k - i - 1] == '\t'))
		f->value[--k - i] = '\0';
	m->nf++;
	return 0;
}

int
psm_msg_open(int fd, psm_msg **out)
{
	psm_msg *m;
	char *line = NULL, *field = NULL;
	size_t len = 0, cap = 0, flen = 0, total = 0;
	int rv, had_cr, first = 1, r = PSM_ERR_INTERNAL;
	const char *from;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return PSM_ERR_NOMEM;
	m->in.fd = fd;
	for (;;) {
		rv = read_line(&m->in, &line, &len, &cap, MAX_HEADER_BLOCK, &had_cr);
		if (rv < 0) {
			r = rv;
			goto out;
		}
		if (rv == 1 && memchr(line, '\0', len) != NULL) {
			psm_error_set("the message's header block holds a NUL byte (RFC 5322 allows "
			              "none)");
			r = PSM_ERR_MALFORMED;
			goto out;
		}
		if (first) {
			m->crlf = had_cr;
			/* an mbox "From " separator line is not a header */
			if (rv == 1 && strncmp(line, "From ", 5) == 0) {
				first = 0;
				continue;
			}
		}
		first = 0;
		total += len + 1;
		if (total > MAX_HEADER_BLOCK) {
			psm_error_set("the message's header block is longer than %d bytes",
			              MAX_HEADER_BLOCK);
			r = PSM_ERR_MALFORMED;
			goto out;
		}
		if (rv == 1 && len > 0 && (line[0] == ' ' || line[0] == '\t') && field != NULL) {
			char *g = realloc(field, flen + len + 2);

			if (g == NULL) {
				r = PSM_ERR_NOMEM;
				goto out;
			}
			field = g;
			field[flen++] = '\n';
			memcpy(field + flen, line, len);
			flen += len;
			field[flen] = '\0';
			continue;
		}
		if (field != NULL) {
			if ((r = add_field(m, field, flen)) < 0)
				goto out;
			free(field);
			field = NULL;
		}
		if (rv == 0 || len == 0)
			break;      /* EOF or the empty line ending the header block */
		if ((field = strndup(line, len)) == NULL) {
			r = PSM_ERR_NOMEM;
			goto out;
		}
		flen = len;
	}
	if (m->nf == 0) {
		psm_error_set("the input is not an RFC 5322 message (no header fields)"
		              HINT_WHOLE_MAIL);
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	if ((from = psm_msg_header(m, "From")) != NULL)
		m->from = first_address(from);
	*out = m;
	m = NULL; /* transferred */
	r = 0;
out:
	free(line);
	free(field);
	psm_msg_free(m);
	return r;
}

const char *
psm_msg_from(const psm_msg *m)
{
	return m->from;
}

/* ---- Content-Type parameters (RFC 2045 section 5.1) ----------------------- */

/* "type/subtype" lower-cased into buf (RFC 2045 section 5.2 default). */
void
psm_msg_media_type(const char *v, char *buf, size_t len)
{
	psm_mime_ctype *ct = NULL;

	if (v != NULL && psm_mime_ctype_parse(v, &ct) == 0 && !ct->defaulted)
		snprintf(buf, len, "%s/%s", ct->type, ct->subtype);
	else
		snprintf(buf, len, "text/plain");
	psm_mime_ctype_free(ct);
}

/* The value of Content-Type parameter name (RFC 2231 decoded), malloc'd. */
char *
psm_msg_param(const char *v, const char *name)
{
	psm_mime_ctype *ct = NULL;
	const char *val;
	char *s = NULL;

	if (v != NULL && psm_mime_ctype_parse(v, &ct) == 0 &&
	    (val = psm_mime_ctype_param(ct, name)) != NULL)
		s = strdup(val);
	psm_mime_ctype_free(ct);
	return s;
}

/* ---- sinks -------------------------------------------------------------- */

/* Where the signed entity goes: the CMS content BIO (canonical CRLF) and,
 * for a detached signature, the output with the output's line ends. */
struct entity_sink {
	BIO *cms;
	int detached;             /* also to the output */
	psm_crlf out_eol;         /* CRLF -> output line ends */
};

static int
entity_write(void *ud, const void *buf, size_t len)
{
	struct entity_sink *e = ud;

	if (len == 0)
		return 0;
	if (BIO_write(e->cms, buf, (int)len) != (int)len)
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "processing the content");
	if (e->detached)
		return psm_crlf_update(&e->out_eol, buf, len);
	return 0;
}

static int
entity_puts(struct entity_sink *e, const char *s)
{
	return entity_write(e, s, strlen(s));
}

/* A BIO whose writes go to a psm_b64enc (for the DER/BER signature). */
static int
b64_bio_write(BIO *b, const char *buf, int len)
{
	psm_b64enc *enc = BIO_get_data(b);

	return psm_b64enc_update(enc, buf, (size_t)len) == 0 ? len : -1;
}

static long
b64_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *
b64_bio_method(void)
{
	static BIO_METHOD *meth;

	if (meth == NULL && (meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "p11smime base64")) != NULL) {
		BIO_meth_set_write(meth, b64_bio_write);
		BIO_meth_set_ctrl(meth, b64_bio_ctrl);
	}
	return meth;
}

BIO *
psm_msg_b64_bio_new(psm_b64enc *enc)
{
	BIO *b = BIO_new(b64_bio_method());

	if (b != NULL) {
		BIO_set_data(b, enc);
		BIO_set_init(b, 1);
	}
	return b;
}

/* ---- body classification ------------------------------------------------ */

enum body_mode { BODY_PASS, BODY_QP, BODY_B64 };

/* Scan state for a body declared 7bit: can it travel as it is? */
struct scan {
	int eight_bit;      /* a byte >= 0x80 or NUL */
	int risky;          /* long line, trailing white space, "From " line, lone CR */
	size_t col;
	int prev_ws;
	int at_start;
	char start[5];
	size_t nstart;
	int prev_cr;
};

/* One (part of a) line, without its LF: update the line state. */
static void
scan_line_part(struct scan *s, const unsigned char *p, size_t n)
{
	const unsigned char *cr;
	size_t i;

	if (n == 0)
		return;
	if (s->prev_cr)
		s->risky = 1;           /* a CR not followed by LF */
	/* a CR inside the line, other than one right before its LF */
	cr = memchr(p, '\r', n);
	if (cr != NULL && cr != p + n - 1)
		s->risky = 1;
	s->prev_cr = p[n - 1] == '\r';
	s->col += n;
	if (s->col > 998 + 1)
		s->risky = 1;
	if (s->at_start) {
		for (i = 0; i < n && s->nstart < 5; i++)
			s->start[s->nstart++] = (char)p[i];
		if (s->nstart == 5) {
			if (memcmp(s->start, "From ", 5) == 0)
				s->risky = 1;
			s->at_start = 0;
		}
	}
	/* the last character before the line end (or the CR) */
	if (n >= 2 || !s->prev_cr) {
		unsigned char last = s->prev_cr ? p[n - 2] : p[n - 1];

		s->prev_ws = last == ' ' || last == '\t';
	}
}

static void
scan_bytes(struct scan *s, const unsigned char *p, size_t n)
{
	const unsigned char *end = p + n, *lf;
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t acc = 0, w;
	size_t i;

	/* 8-bit data or NUL anywhere, eight bytes at a time: a byte with its
	 * high bit set, or a zero byte ((w - 1s) & ~w & highs) */
	for (i = 0; !s->eight_bit && i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= (w | ((w - ones) & ~w)) & highs;
		if ((i & 4095) == 4088 && acc != 0)
			s->eight_bit = 1;
	}
	for (; i < n; i++)
		acc |= (p[i] & 0x80) | (p[i] == 0 ? 0x80 : 0);
	if (acc != 0)
		s->eight_bit = 1;
	while (!s->risky && p < end) {
		lf = memchr(p, '\n', (size_t)(end - p));
		scan_line_part(s, p, (size_t)((lf != NULL ? lf : end) - p));
		if (lf == NULL)
			break;
		if (s->prev_ws)
			s->risky = 1;       /* trailing white space */
		s->col = 0;
		s->prev_ws = 0;
		s->prev_cr = 0;
		s->nstart = 0;
		s->at_start = 1;
		p = lf + 1;
	}
}

/* ---- signing -------------------------------------------------------------- */

int
psm_msg_is_content_field(const char *name)
{
	return strncasecmp(name, "Content-", 8) == 0;
}

/* Write a header field's raw text with the output line ends. */
static int
put_raw_field(const psm_msg_sink *o, const char *raw)
{
	const char *p = raw, *nl;
	int r;

	while ((nl = strchr(p, '\n')) != NULL) {
		if ((r = o->fn(o->ud, p, (size_t)(nl - p))) < 0 ||
		    (r = o->fn(o->ud, o->eol, strlen(o->eol))) < 0)
			return r;
		p = nl + 1;
	}
	if ((r = o->fn(o->ud, p, strlen(p))) < 0)
		return r;
	return o->fn(o->ud, o->eol, strlen(o->eol));
}

static int
puts_out(const psm_msg_sink *o, const char *s)
{
	return o->fn(o->ud, s, strlen(s));
}

int
psm_msg_put_outer_except(const psm_msg *m, const psm_msg_sink *o,
                         int (*skip)(void *ud, const char *name), void *ud)
{
	size_t i;
	int r;

	for (i = 0; i < m->nf; i++) {
		if (psm_msg_is_content_field(m->f[i].name) ||
		    strcasecmp(m->f[i].name, "MIME-Version") == 0 ||
		    (skip != NULL && skip(ud, m->f[i].name)))
			continue;
		if ((r = put_raw_field(o, m->f[i].raw)) < 0)
			return r;
	}
	return 0;
}

int
psm_msg_put_outer(const psm_msg *m, const psm_msg_sink *o)
{
	return psm_msg_put_outer_except(m, o, NULL, NULL);
}

/* Stream the rest of the input through the chosen encoder into e. The
 * input may first have been spooled to spool_fd (then read from there). */
static int
stream_body(psm_msg *m, int spool_fd, enum body_mode mode, struct entity_sink *e)
{
	struct rd spool, *src = &m->in;
	psm_crlf crlf;
	psm_qpenc qp;
	psm_b64enc b64;
	int r = 0;

	if (spool_fd >= 0) {
		memset(&spool, 0, sizeof(spool));
		spool.fd = spool_fd;
		if (lseek(spool_fd, 0, SEEK_SET) < 0)
			return PSM_ERR_IO;
		src = &spool;
	}
	psm_crlf_init(&crlf, "\r\n", entity_write, e);
	psm_qpenc_init(&qp, "\r\n", entity_write, e);
	psm_b64enc_init(&b64, "\r\n", entity_write, e);
	for (;;) {
		size_t n;

		if ((r = psm_rd_fill(src)) < 0)
			return r;
		if (src->pos >= src->len)
			break;
		n = src->len - src->pos;
		switch (mode) {
		case BODY_PASS: r = psm_crlf_update(&crlf, src->buf + src->pos, n); break;
		case BODY_QP: r = psm_qpenc_update(&qp, src->buf + src->pos, n); break;
		case BODY_B64: r = psm_b64enc_update(&b64, src->buf + src->pos, n); break;
		}
		if (r < 0)
			return r;
		src->pos = src->len;
	}
	switch (mode) {
	case BODY_PASS: return psm_crlf_final(&crlf);
	case BODY_QP: return psm_qpenc_final(&qp);
	case BODY_B64: return psm_b64enc_final(&b64);
	}
	return 0;
}

/* Scan the rest of a seekable input in place, then rewind to the body.
 * Returns 1 when done, 0 when the input cannot seek (spool instead). */
static int
scan_in_place(psm_msg *m, struct scan *s)
{
	off_t here = lseek(m->in.fd, 0, SEEK_CUR), body;
	int r;

	if (here < 0)
		return 0;
	body = here - (off_t)(m->in.len - m->in.pos);
	memset(s, 0, sizeof(*s));
	s->at_start = 1;
	for (;;) {
		if ((r = psm_rd_fill(&m->in)) < 0)
			return r;
		if (m->in.pos >= m->in.len)
			break;
		scan_bytes(s, m->in.buf + m->in.pos, m->in.len - m->in.pos);
		m->in.pos = m->in.len;
	}
	if (lseek(m->in.fd, body, SEEK_SET) != body) {
		psm_error_set("cannot re-read the message: %s", strerror(errno));
		return PSM_ERR_IO;
	}
	m->in.pos = m->in.len = 0;
	m->in.eof = 0;
	return 1;
}

/* Copy the rest of the input to an unlinked spool file while scanning it. */
static int
spool_body(psm_msg *m, struct scan *s, int *fd_out)
{
	int fd, r;

	*fd_out = -1;
	if ((r = psm_tmpfile_spool(NULL, &fd)) < 0)
		return r;
	memset(s, 0, sizeof(*s));
	s->at_start = 1;
	for (;;) {
		size_t n;
		const unsigned char *p;

		if ((r = psm_rd_fill(&m->in)) < 0)
			goto fail;
		if (m->in.pos >= m->in.len)
			break;
		p = m->in.buf + m->in.pos;
		n = m->in.len - m->in.pos;
		scan_bytes(s, p, n);
		while (n > 0) {
			ssize_t w = write(fd, p, n);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				psm_error_set("cannot write a spool file: %s", strerror(errno));
				r = PSM_ERR_IO;
				goto fail;
			}
			p += w;
			n -= (size_t)w;
		}
		m->in.pos = m->in.len;
	}
	*fd_out = fd;
	return 0;
fail:
	close(fd);
	return r;
}

/* ---- multipart bodies with parts that would not survive transport ----- */

#define RW_DEPTH 33

/* Rewrites a multipart body part by part (core/mime_reader.c events):
 * each leaf that is 7bit/8bit/binary is re-encoded (text quoted-printable,
 * the rest base64), everything else is kept, in canonical form. */
struct rewrite {
	struct entity_sink *e;
	psm_crlf canon;
	char *bnd[RW_DEPTH];
	int need_crlf[RW_DEPTH];    /* something came before the next delimiter */
	int closed[RW_DEPTH];
	enum body_mode mode;
	psm_qpenc qp;
	psm_b64enc b64;
	psm_crlf leaf;
};

static int
rw_puts(struct rewrite *w, const char *str)
{
	return entity_write(w->e, str, strlen(str));
}

static int
rw_delim(struct rewrite *w, unsigned d, int close)
{
	int r;

	if ((r = rw_puts(w, w->need_crlf[d] ? "\r\n--" : "--")) < 0 ||
	    (r = rw_puts(w, w->bnd[d])) < 0 || (r = rw_puts(w, close ? "--\r\n" : "\r\n")) < 0)
		return r;
	w->need_crlf[d] = 1;
	return 0;
}

static int
rw_event(void *ud, const psm_mime_event *ev)
{
	struct rewrite *w = ud;
	unsigned d = ev->depth;
	size_t i;
	int r = 0, text;

	if (d >= RW_DEPTH)
		return PSM_ERR_MALFORMED;
	switch (ev->type) {
	case PSM_MIME_ENTITY_BEGIN:
		text = psm_mime_ctype_is(ev->ctype, "text", NULL);
		w->mode = BODY_PASS;
		if (!ev->is_multipart && !psm_mime_ctype_is(ev->ctype, "message", NULL) &&
		    (ev->cte == PSM_MIME_CTE_7BIT || ev->cte == PSM_MIME_CTE_8BIT ||
		     ev->cte == PSM_MIME_CTE_BINARY))
			w->mode = text && ev->cte != PSM_MIME_CTE_BINARY ? BODY_QP : BODY_B64;
		if (d > 0) {
			if ((r = rw_delim(w, d - 1, 0)) < 0)
				return r;
			for (i = 0; i < psm_mime_headers_count(ev->headers); i++) {
				const psm_mime_field *f = psm_mime_headers_at(ev->headers, i);

				if (w->mode != BODY_PASS &&
				    strcasecmp(f->name, "Content-Transfer-Encoding") == 0)
					continue;
				if ((r = psm_crlf_update(&w->canon, f->raw, f->raw_len)) < 0 ||
				    (r = psm_crlf_final(&w->canon)) < 0)
					return r;
			}
			if (w->mode == BODY_QP)
				r = rw_puts(w, "Content-Transfer-Encoding: quoted-printable\r\n");
			else if (w->mode == BODY_B64)
				r = rw_puts(w, "Content-Transfer-Encoding: base64\r\n");
			if (r < 0 || (r = rw_puts(w, "\r\n")) < 0)
				return r;
		}
		if (ev->is_multipart) {
			free(w->bnd[d]);
			if ((w->bnd[d] = strdup(ev->boundary)) == NULL)
				return PSM_ERR_NOMEM;
			w->need_crlf[d] = 0;
			w->closed[d] = 0;
			w->mode = BODY_PASS;
		}
		psm_qpenc_init(&w->qp, "\r\n", entity_write, w->e);
		psm_b64enc_init(&w->b64, "\r\n", entity_write, w->e);
		psm_crlf_init(&w->leaf, "\r\n", entity_write, w->e);
		return 0;
	case PSM_MIME_BODY:
		switch (w->mode) {
		case BODY_QP: return psm_qpenc_update(&w->qp, ev->data, ev->len);
		case BODY_B64: return psm_b64enc_update(&w->b64, ev->data, ev->len);
		default: return psm_crlf_update(&w->leaf, ev->data, ev->len);
		}
	case PSM_MIME_PREAMBLE:
		w->need_crlf[d] = 1;
		return psm_crlf_update(&w->leaf, ev->data, ev->len);
	case PSM_MIME_EPILOGUE:
		if (!w->closed[d]) {
			if ((r = psm_crlf_final(&w->leaf)) < 0 || (r = rw_delim(w, d, 1)) < 0)
				return r;
			w->closed[d] = 1;
			psm_crlf_init(&w->leaf, "\r\n", entity_write, w->e);
		}
		return psm_crlf_update(&w->leaf, ev->data, ev->len);
	case PSM_MIME_ENTITY_END:
		if (ev->is_multipart) {
			if ((r = psm_crlf_final(&w->leaf)) < 0)
				return r;
			if (!w->closed[d] && (r = rw_delim(w, d, 1)) < 0)
				return r;
			w->closed[d] = 1;
			return 0;
		}
		switch (w->mode) {
		case BODY_QP: return psm_qpenc_final(&w->qp);
		case BODY_B64: return psm_b64enc_final(&w->b64);
		default: return psm_crlf_final(&w->leaf);
		}
	default:
		return 0;
	}
}

/* Give the reader the body entity's header block: the message's Content-*
 * fields, then the empty line; the body follows from the input. */
int
psm_msg_feed_body_headers(psm_msg *m, psm_mime_reader *rd)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < m->nf; i++) {
		if (!psm_msg_is_content_field(m->f[i].name))
			continue;
		if ((r = psm_mime_reader_feed(rd, m->f[i].raw, strlen(m->f[i].raw))) == 0)
			r = psm_mime_reader_feed(rd, "\n", 1);
	}
	return r == 0 ? psm_mime_reader_feed(rd, "\n", 1) : r;
}

/* Feed the body entity (its Content-* fields, an empty line, the body
 * from src) through the reader into the rewriter. */
static int
rewrite_multipart(psm_msg *m, int spool_fd, struct entity_sink *e)
{
	struct rewrite w;
	struct rd spool, *src = &m->in;
	psm_mime_reader *rd = NULL;
	psm_mime_limits lim;
	size_t i;
	int r;

	memset(&w, 0, sizeof(w));
	w.e = e;
	psm_crlf_init(&w.canon, "\r\n", entity_write, e);
	psm_mime_limits_default(&lim);
	if ((r = psm_mime_reader_new(&lim, rw_event, &w, &rd)) < 0)
		return r;
	r = psm_msg_feed_body_headers(m, rd);
	if (r == 0 && spool_fd >= 0) {
		memset(&spool, 0, sizeof(spool));
		spool.fd = spool_fd;
		if (lseek(spool_fd, 0, SEEK_SET) < 0)
			r = PSM_ERR_IO;
		src = &spool;
	}
	while (r == 0) {
		if ((r = psm_rd_fill(src)) < 0 || src->pos >= src->len)
			break;
		r = psm_mime_reader_feed(rd, src->buf + src->pos, src->len - src->pos);
		src->pos = src->len;
	}
	if (r == 0)
		r = psm_mime_reader_finish(rd);
	psm_mime_reader_free(rd);
	for (i = 0; i < RW_DEPTH; i++)
		free(w.bnd[i]);
	return r;
}

static void
random_boundary(char *buf, size_t len)
{
	unsigned char rnd[12];
	size_t i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0x5a, sizeof(rnd));
	i = (size_t)snprintf(buf, len, "----p11smime-");
	for (size_t k = 0; k < sizeof(rnd) && i + 2 < len; k++)
		i += (size_t)snprintf(buf + i, len - i, "%02x", rnd[k]);
}

/* How the body entity is written: as it is, or re-encoded so that it
 * survives transport (RFC 8551 section 3.1). */
struct body_plan {
	const char *ctv;            /* the Content-Type, or NULL */
	enum body_mode mode;
	int rewrite;                /* a multipart whose parts get re-encoded */
	int spool_fd;               /* the body was spooled here (a pipe), or -1 */
	struct scan sc;
};

static int
plan_body(psm_msg *m, struct body_plan *bp)
{
	const char *ctev = psm_msg_header(m, "Content-Transfer-Encoding");
	char type[128], cte[32] = "7bit";
	int multipart, is_text, r;

	memset(bp, 0, sizeof(*bp));
	bp->spool_fd = -1;
	bp->mode = BODY_PASS;
	bp->ctv = psm_msg_header(m, "Content-Type");
	psm_msg_media_type(bp->ctv, type, sizeof(type));
	if (ctev != NULL) {
		char *tok = NULL;
		psm_mime_cte e;

		psm_mime_cte_parse(ctev, &e, &tok);
		if (tok != NULL)
			snprintf(cte, sizeof(cte), "%s", tok);
		free(tok);
	}
	multipart = strncmp(type, "multipart/", 10) == 0;
	is_text = strncmp(type, "text/", 5) == 0 || bp->ctv == NULL;

	if (strcmp(cte, "base64") == 0 || strcmp(cte, "quoted-printable") == 0)
		return 0;
	if (strcmp(cte, "8bit") == 0 || strcmp(cte, "binary") == 0) {
		if (multipart)
			bp->rewrite = 1;    /* its parts may carry 8-bit data */
		else
			bp->mode = is_text && strcmp(cte, "8bit") == 0 ? BODY_QP : BODY_B64;
		return 0;
	}
	/* a regular file is scanned in place; a pipe is spooled */
	if ((r = scan_in_place(m, &bp->sc)) < 0 ||
	    (r == 0 && (r = spool_body(m, &bp->sc, &bp->spool_fd)) < 0))
		return r;
	if (bp->sc.eight_bit || bp->sc.risky) {
		if (multipart)
			bp->rewrite = 1;
		else
			bp->mode = is_text ? BODY_QP : BODY_B64;
	}
	return 0;
}

/* The body entity in canonical form: its Content-* fields (the transfer
 * encoding as planned), an empty line, the body. */
static int
write_entity(psm_msg *m, const struct body_plan *bp, struct entity_sink *es)
{
	size_t i;
	int r = 0;

	for (i = 0; i < m->nf; i++) {
		const char *raw = m->f[i].raw;

		if (!psm_msg_is_content_field(m->f[i].name))
			continue;
		if ((bp->mode != BODY_PASS || bp->rewrite) &&
		    strcasecmp(m->f[i].name, "Content-Transfer-Encoding") == 0)
			continue;
		for (; *raw != '\0'; raw++) {
			if ((r = *raw == '\n' ? entity_puts(es, "\r\n") : entity_write(es, raw, 1)) < 0)
				return r;
		}
		if ((r = entity_puts(es, "\r\n")) < 0)
			return r;
	}
	if (bp->ctv == NULL &&
	    (r = entity_puts(es, bp->sc.eight_bit ? "Content-Type: text/plain\r\n"
	                                          : "Content-Type: text/plain; charset=us-ascii\r\n")) < 0)
		return r;
	if (bp->mode == BODY_QP)
		r = entity_puts(es, "Content-Transfer-Encoding: quoted-printable\r\n");
	else if (bp->mode == BODY_B64)
		r = entity_puts(es, "Content-Transfer-Encoding: base64\r\n");
	if (r < 0 || (r = entity_puts(es, "\r\n")) < 0)
		return r;
	if (bp->rewrite)
		return rewrite_multipart(m, bp->spool_fd, es);
	return stream_body(m, bp->spool_fd, bp->mode, es);
}

int
psm_msg_write_entity(psm_msg *m, BIO *bio)
{
	struct body_plan bp;
	struct entity_sink es;
	int r;

	memset(&es, 0, sizeof(es));
	es.cms = bio;
	if ((r = plan_body(m, &bp)) == 0)
		r = write_entity(m, &bp, &es);
	if (bp.spool_fd >= 0)
		close(bp.spool_fd);
	return r;
}

int
psm_msg_sign_to(psm_msg *m, EVP_PKEY *key, const psm_sign_params *p, const psm_msg_sink *o)
{
	const char *eol = o->eol;
	char boundary[64], line[512];
	struct body_plan bp;
	struct entity_sink es;
	psm_cms_signer *signer = NULL;
	psm_b64enc b64;
	BIO *content = NULL, *b64bio = NULL;
	int r;

	memset(&es, 0, sizeof(es));
	if ((r = plan_body(m, &bp)) < 0)
		goto out;
	psm_b64enc_init(&b64, eol, o->fn, o->ud);
	if ((b64bio = psm_msg_b64_bio_new(&b64)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	if (o->outer && (r = psm_msg_put_outer(m, o)) < 0)
		goto out;
	random_boundary(boundary, sizeof(boundary));
	if ((r = psm_cms_signer_new(key, p, b64bio, &signer, &content)) < 0)
		goto out;
	if (o->outer && (r = puts_out(o, "MIME-Version: 1.0")) == 0)
		r = puts_out(o, eol);
	if (r < 0)
		goto out;
	if (p->opaque) {
		snprintf(line, sizeof(line),
		         "Content-Type: application/pkcs7-mime; smime-type=signed-data;%s"
		         "\tname=\"smime.p7m\"%sContent-Transfer-Encoding: base64%s"
		         "Content-Disposition: attachment; filename=\"smime.p7m\"%s%s",
		         eol, eol, eol, eol, eol);
	} else {
		snprintf(line, sizeof(line),
		         "Content-Type: multipart/signed;%s"
		         "\tprotocol=\"application/pkcs7-signature\";%s\tmicalg=%s;%s"
		         "\tboundary=\"%s\"%s%sThis is an S/MIME signed message%s%s--%s%s",
		         eol, eol, psm_cms_signer_micalg(signer), eol, boundary, eol, eol, eol,
		         eol, boundary, eol);
	}
	if ((r = puts_out(o, line)) < 0)
		goto out;

	es.cms = content;
	es.detached = !p->opaque;
	psm_crlf_init(&es.out_eol, eol, o->fn, o->ud);
	if ((r = write_entity(m, &bp, &es)) < 0 || (r = psm_crlf_final(&es.out_eol)) < 0)
		goto out;

	if (!p->opaque) {
		snprintf(line, sizeof(line),
		         "%s--%s%sContent-Type: application/pkcs7-signature; name=\"smime.p7s\"%s"
		         "Content-Transfer-Encoding: base64%s"
		         "Content-Disposition: attachment; filename=\"smime.p7s\"%s"
		         "Content-Description: S/MIME Cryptographic Signature%s%s",
		         eol, boundary, eol, eol, eol, eol, eol, eol);
		if ((r = puts_out(o, line)) < 0)
			goto out;
	}
	if ((r = psm_cms_signer_finish(signer, b64bio)) < 0 || (r = psm_b64enc_final(&b64)) < 0)
		goto out;
	if (!p->opaque) {
		snprintf(line, sizeof(line), "%s--%s--%s", eol, boundary, eol);
		if ((r = puts_out(o, line)) < 0)
			goto out;
	}
	r = 0;
out:
	psm_cms_signer_free(signer);
	BIO_free(b64bio);
	if (bp.spool_fd >= 0)
		close(bp.spool_fd);
	return r;
}

int
psm_msg_sign(psm_msg *m, EVP_PKEY *key, const psm_sign_params *p, psm_outfile *out)
{
	psm_msg_sink o = { psm_outfile_sink, out, m->crlf ? "\r\n" : "\n", 1 };

	return psm_msg_sign_to(m, key, p, &o);
}

/* ---- verifying ------------------------------------------------------------ */

struct dynbuf {
	unsigned char *p;
	size_t len, cap, max;
};

static int
dyn_add(struct dynbuf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (b->len + n > b->max) {
		psm_error_set("the signature part is larger than %zu bytes", b->max);
		return PSM_ERR_MALFORMED;
	}
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		unsigned char *g;

		while (ncap < b->len + n)
			ncap *= 2;
		if ((g = realloc(b->p, ncap)) == NULL)
			return PSM_ERR_NOMEM;
		b->p = g;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

/* multipart/signed (RFC 1847) read with the MIME reader: part 0's exact
 * bytes (PART_RAW) are hashed in canonical form and spooled; part 1's body
 * is the signature. Nothing is kept whole but the signature. */
struct detached {
	psm_verifier *v;
	psm_crlf canon;           /* part 0 -> verifier, canonical CRLF */
	psm_outfile *content;
	struct dynbuf sig;        /* part 1's body, as sent */
	int sig_b64;              /* part 1 is base64 */
	struct dynbuf inner;      /* the start of part 0: its header block */
	size_t parts;
	int truncated;
};

static int
hash_sink(void *ud, const void *buf, size_t len)
{
	return psm_verifier_update(ud, buf, len);
}

static int
detached_event(void *ud, const psm_mime_event *ev)
{
	struct detached *d = ud;
	int r;

	if (ev->depth == 0) {
		if (ev->type == PSM_MIME_ENTITY_END && (ev->flags & PSM_MIME_TRUNCATED))
			d->truncated = 1;
		return 0;
	}
	if (ev->depth != 1)
		return 0;           /* inside a part: the bytes come as PART_RAW */
	switch (ev->type) {
	case PSM_MIME_ENTITY_BEGIN:
		if (++d->parts > 2) {
			psm_error_set("the multipart/signed message has more than two parts"
			              PSM_HINT_DAMAGED);
			return PSM_ERR_MALFORMED;
		}
		if (ev->index == 1)
			d->sig_b64 = ev->cte == PSM_MIME_CTE_BASE64;
		return 0;
	case PSM_MIME_PART_RAW:
		if (ev->index != 0)
			return 0;
		if ((r = psm_crlf_update(&d->canon, ev->data, ev->len)) < 0)
			return r;
		if (d->inner.len < d->inner.max) {
			size_t n = ev->len < d->inner.max - d->inner.len ? ev->len
			           : d->inner.max - d->inner.len;

			if ((r = dyn_add(&d->inner, ev->data, n)) < 0)
				return r;
		}
		return d->content != NULL ? psm_outfile_write(d->content, ev->data, ev->len) : 0;
	case PSM_MIME_BODY:
		return ev->index == 1 ? dyn_add(&d->sig, ev->data, ev->len) : 0;
	default:
		return 0;
	}
}

static int
decode_base64(const unsigned char *in, size_t len, struct dynbuf *out)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char buf[4096 + 64];
	size_t off;
	int outl, r = 0;

	if (ctx == NULL)
		return PSM_ERR_NOMEM;
	EVP_DecodeInit(ctx);
	for (off = 0; off < len && r == 0; off += 4096) {
		int n = (int)(len - off < 4096 ? len - off : 4096);

		if (EVP_DecodeUpdate(ctx, buf, &outl, in + off, n) < 0) {
			psm_error_set("the signature part is not valid base64" PSM_HINT_DAMAGED);
			r = PSM_ERR_MALFORMED;
			break;
		}
		r = dyn_add(out, buf, (size_t)outl);
	}
	if (r == 0 && EVP_DecodeFinal(ctx, buf, &outl) < 0) {
		psm_error_set("the signature part is not valid base64" PSM_HINT_DAMAGED);
		r = PSM_ERR_MALFORMED;
	} else if (r == 0) {
		r = dyn_add(out, buf, (size_t)outl);
	}
	EVP_ENCODE_CTX_free(ctx);
	return r;
}

/* The media type of an entity whose start is in p, when it is S/MIME or
 * signed itself (a nested layer), else NULL. */
static char *
nested_type(const unsigned char *p, size_t len)
{
	char *copy, *line, *save = NULL, type[128];
	char *found = NULL;

	if (len == 0 || (copy = strndup((const char *)p, len)) == NULL)
		return NULL;
	for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (*line == '\r' || *line == '\0')
			break;          /* end of the header block */
		if (strncasecmp(line, "Content-Type:", 13) != 0)
			continue;
		psm_msg_media_type(line + 13, type, sizeof(type));
		if (strcmp(type, "multipart/signed") == 0 ||
		    strcmp(type, "application/pkcs7-mime") == 0 ||
		    strcmp(type, "application/x-pkcs7-mime") == 0 ||
		    strcmp(type, "message/rfc822") == 0)
			found = strdup(type);
		break;
	}
	free(copy);
	return found;
}

static int
verify_detached(psm_msg *m, const char *ctv, const psm_verify_params *p,
                psm_outfile *content_out, psm_verify_result **res)
{
	struct detached d;
	struct dynbuf der;
	psm_mime_reader *rd = NULL;
	psm_mime_limits lim;
	char *micalg = psm_msg_param(ctv, "micalg"), *protocol = psm_msg_param(ctv, "protocol");
	int r = PSM_ERR_INTERNAL;

	memset(&d, 0, sizeof(d));
	memset(&der, 0, sizeof(der));
	if (protocol == NULL || (strcasecmp(protocol, "application/pkcs7-signature") != 0 &&
	                         strcasecmp(protocol, "application/x-pkcs7-signature") != 0)) {
		psm_error_set("the message is signed with %s, not S/MIME (application/pkcs7-signature)",
		              protocol != NULL ? protocol : "an unnamed protocol");
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	d.content = content_out;
	d.sig.max = MAX_SIG_PART;
	d.inner.max = 16384;
	der.max = MAX_SIG_PART;
	if ((r = psm_verifier_new(micalg, &d.v)) < 0)
		goto out;
	psm_crlf_init(&d.canon, "\r\n", hash_sink, d.v);
	psm_mime_limits_default(&lim);
	lim.flags |= PSM_MIME_READ_HEADERLESS_PARTS;   /* openssl signs parts without headers */
	if ((r = psm_mime_reader_new(&lim, detached_event, &d, &rd)) < 0)
		goto out;
	r = psm_msg_feed_body_headers(m, rd);
	while (r == 0) {
		if ((r = psm_rd_fill(&m->in)) < 0 || m->in.pos >= m->in.len)
			break;
		r = psm_mime_reader_feed(rd, m->in.buf + m->in.pos, m->in.len - m->in.pos);
		m->in.pos = m->in.len;
	}
	if (r < 0 || (r = psm_mime_reader_finish(rd)) < 0 || (r = psm_crlf_final(&d.canon)) < 0)
		goto out;
	if (d.truncated) {
		psm_error_set("the signed message is truncated (its closing boundary is missing)"
		              PSM_HINT_DAMAGED);
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	if (d.parts != 2 || d.sig.len == 0) {
		psm_error_set("the multipart/signed message has no signature part" PSM_HINT_DAMAGED);
		r = PSM_ERR_MALFORMED;
		goto out;
	}
	if (d.sig_b64)
		r = decode_base64(d.sig.p, d.sig.len, &der);
	else
		r = dyn_add(&der, d.sig.p, d.sig.len);
	if (r < 0 || (r = psm_verifier_finish(d.v, der.p, der.len, p, res)) < 0)
		goto out;
	(*res)->nested = nested_type(d.inner.p, d.inner.len);
	r = 0;
out:
	psm_mime_reader_free(rd);
	psm_verifier_free(d.v);
	free(d.inner.p);
	free(d.sig.p);
	free(der.p);
	free(micalg);
	free(protocol);
	return r;
}

int
psm_msg_b64_pull(void *ud, unsigned char *buf, size_t cap, size_t *got)
{
	struct psm_b64pull *p = ud;
	int r;

	*got = 0;
	while (*got == 0 && !p->done) {
		size_t n;
		long k;

		if ((r = psm_rd_fill(p->in)) < 0)
			return r;
		if (p->in->pos >= p->in->len) {
			if (psm_b64dec_final(&p->dec) < 0)
				goto bad;
			p->done = 1;
			break;
		}
		/* 3 output bytes per 4 input characters: stay within cap */
		n = p->in->len - p->in->pos;
		if (n > (cap / 3) * 4 - 16)
			n = (cap / 3) * 4 - 16;
		if ((k = psm_b64dec_update(&p->dec, p->in->buf + p->in->pos, n, buf)) < 0)
			goto bad;
		p->in->pos += n;
		*got = (size_t)k;
	}
	return 0;
bad:
	psm_error_set("the message body is not valid base64" PSM_HINT_DAMAGED);
	return PSM_ERR_MALFORMED;
}

struct opaque_sink {
	psm_verifier *v;
	psm_outfile *content;
	struct dynbuf inner;
};

static int
opaque_content(void *ud, const void *buf, size_t len)
{
	struct opaque_sink *o = ud;
	int r;

	if ((r = psm_verifier_update(o->v, buf, len)) < 0)
		return r;
	if (o->inner.len < o->inner.max) {
		size_t n = len < o->inner.max - o->inner.len ? len : o->inner.max - o->inner.len;

		if ((r = dyn_add(&o->inner, buf, n)) < 0)
			return r;
	}
	return o->content != NULL ? psm_outfile_write(o->content, buf, len) : 0;
}

/* Opaque signed-data: the content streams out of the BER as it is read
 * (core/cms_stream.c); only the certificates and signer infos are kept. */
static int
verify_opaque(psm_msg *m, const psm_verify_params *p, psm_outfile *content_out,
              psm_verify_result **res)
{
	struct psm_b64pull pull;
	struct opaque_sink os;
	unsigned char *der = NULL;
	size_t der_len = 0;
	int r;

	memset(&pull, 0, sizeof(pull));
	memset(&os, 0, sizeof(os));
	pull.in = &m->in;
	os.content = content_out;
	os.inner.max = 16384;
	psm_b64dec_init(&pull.dec);
	if ((r = psm_verifier_new(NULL, &os.v)) < 0 ||
	    (r = psm_cms_detach_stream(psm_msg_b64_pull, &pull, opaque_content, &os, &der, &der_len)) < 0 ||
	    (r = psm_verifier_finish(os.v, der, der_len, p, res)) < 0)
		goto out;
	(*res)->nested = nested_type(os.inner.p, os.inner.len);
out:
	psm_verifier_free(os.v);
	free(os.inner.p);
	free(der);
	return r;
}

/* The signed entity, streaming to out behind the message's routing
 * headers. Its header block is held back (at most UNWRAP_MAX_HEADER) to
 * see which fields it has: its own win (they were signed; RFC 9788
 * protected headers), the outer ones fill in the rest. */
#define UNWRAP_MAX_HEADER 65536

struct unwrap {
	const psm_msg *m;
	psm_outfile *out;
	unsigned char *held;
	size_t len;
	int done;
};

/* The field names of the held header block (its first hlen bytes). */
static int
unwrap_has_field(void *ud, const char *name)
{
	const struct unwrap *u = ud;
	size_t n = strlen(name), i = 0;

	while (i < u->len) {
		const unsigned char *line = u->held + i, *nl = memchr(line, '\n', u->len - i);
		size_t ll = nl != NULL ? (size_t)(nl - line) : u->len - i;

		if (ll == 0 || (ll == 1 && line[0] == '\r'))
			break;  /* the end of the header block */
		if (ll > n && line[n] == ':' && strncasecmp((const char *)line, name, n) == 0)
			return 1;
		i += ll + 1;
	}
	return 0;
}

/* Does what is held start with a header block (fields, then an empty
 * line)? 1 yes, 0 no, -1 not known yet. */
static int
unwrap_header_state(const struct unwrap *u, size_t *end)
{
	size_t i = 0;

	while (i < u->len) {
		const unsigned char *line = u->held + i, *nl = memchr(line, '\n', u->len - i);
		size_t ll, k;

		if (nl == NULL)
			return u->len >= UNWRAP_MAX_HEADER ? 0 : -1;
		ll = (size_t)(nl - line);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll == 0) {
			*end = i;
			return 1;
		}
		if (line[0] != ' ' && line[0] != '\t') {
			for (k = 0; k < ll && line[k] > ' ' && line[k] < 127 && line[k] != ':'; k++)
				;
			if (k == 0 || k == ll || line[k] != ':')
				return 0;   /* not a field: the content has no header block */
		} else if (i == 0) {
			return 0;
		}
		i += (size_t)(nl - line) + 1;
	}
	return u->len >= UNWRAP_MAX_HEADER ? 0 : -1;
}

/* Write the outer fields the entity lacks, then what is held. */
static int
unwrap_release(struct unwrap *u, int has_header)
{
	const char *eol = u->len > 0 && memchr(u->held, '\r', u->len) == NULL ? "\n" : "\r\n";
	psm_msg_sink o = { psm_outfile_sink, u->out, eol, 1 };
	int r;

	u->done = 1;
	if ((r = psm_msg_put_outer_except(u->m, &o, has_header ? unwrap_has_field : NULL, u)) < 0)
		return r;
	if ((!has_header || !unwrap_has_field(u, "MIME-Version")) &&
	    ((r = puts_out(&o, "MIME-Version: 1.0")) < 0 || (r = puts_out(&o, eol)) < 0))
		return r;
	/* content without a header block is text/plain (RFC 2045 5.2) */
	if (!has_header && (r = puts_out(&o, eol)) < 0)
		return r;
	return psm_outfile_write(u->out, u->held, u->len);
}

static int
unwrap_sink(void *ud, const void *buf, size_t len)
{
	struct unwrap *u = ud;
	size_t end = 0, take;
	int st;

	if (u->done)
		return psm_outfile_write(u->out, buf, len);
	take = len < UNWRAP_MAX_HEADER - u->len ? len : UNWRAP_MAX_HEADER - u->len;
	memcpy(u->held + u->len, buf, take);
	u->len += take;
	if ((st = unwrap_header_state(u, &end)) < 0)
		return 0;
	if ((st = unwrap_release(u, st)) < 0)
		return st;
	return take < len ? psm_outfile_write(u->out, (const unsigned char *)buf + take, len - take)
	                  : 0;
}

int
psm_msg_verify_unwrap(psm_msg *m, const psm_verify_params *p, psm_outfile *out,
                      psm_verify_result **res)
{
	struct unwrap u;
	psm_outfile *tap = NULL;
	int r;

	*res = NULL;
	memset(&u, 0, sizeof(u));
	u.m = m;
	u.out = out;
	if ((u.held = malloc(UNWRAP_MAX_HEADER)) == NULL)
		return PSM_ERR_NOMEM;
	if ((r = psm_outfile_tap(unwrap_sink, &u, &tap)) < 0)
		goto out;
	if ((r = psm_msg_verify(m, p, tap, res)) < 0)
		goto out;
	if (!u.done) {
		size_t end = 0;

		r = unwrap_release(&u, unwrap_header_state(&u, &end) == 1);
	}
out:
	psm_outfile_free(tap);
	free(u.held);
	return r;
}

int
psm_msg_verify(psm_msg *m, const psm_verify_params *p, psm_outfile *content_out,
               psm_verify_result **res)
{
	const char *ctv = psm_msg_header(m, "Content-Type");
	char type[128];
	char *smime_type = NULL;
	int r;

	*res = NULL;
	psm_msg_media_type(ctv, type, sizeof(type));
	if (strcmp(type, "multipart/signed") == 0)
		return verify_detached(m, ctv, p, content_out, res);
	if (strcmp(type, "application/pkcs7-mime") == 0 ||
	    strcmp(type, "application/x-pkcs7-mime") == 0) {
		smime_type = psm_msg_param(ctv, "smime-type");
		if (smime_type != NULL && strcasecmp(smime_type, "signed-data") != 0) {
			psm_error_set("the message is S/MIME %s, not signed-data: use decrypt", smime_type);
			free(smime_type);
			return PSM_ERR_MALFORMED;
		}
		free(smime_type);
		r = verify_opaque(m, p, content_out, res);
		return r;
	}
	psm_error_set("the message is not signed (its Content-Type is %s)", type);
	return PSM_ERR_MALFORMED;
}
