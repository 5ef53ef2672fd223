/* p11smime: streaming base64, quoted-printable and line-end filters. */
#include "config.h"

#include "encode.h"
#include "error.h"

#include <string.h>

/* ---- base64, RFC 2045 section 6.8 ------------------------------------ */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define B64_LINE 76

void
psm_b64enc_init(psm_b64enc *e, const char *eol, psm_sink_fn sink, void *ud)
{
	memset(e, 0, sizeof(*e));
	e->sink = sink;
	e->ud = ud;
	e->eol = eol;
}

static int
b64_flush(psm_b64enc *e)
{
	int r = 0;

	if (e->nout > 0)
		r = e->sink(e->ud, e->out, e->nout);
	e->nout = 0;
	return r;
}

static int
b64_put(psm_b64enc *e, const char *s, size_t n)
{
	int r;

	if (e->nout + n > sizeof(e->out) && (r = b64_flush(e)) < 0)
		return r;
	memcpy(e->out + e->nout, s, n);
	e->nout += n;
	return 0;
}

static int
b64_group(psm_b64enc *e, const unsigned char *in, size_t n)
{
	char q[4];
	int r;

	q[0] = b64[in[0] >> 2];
	q[1] = b64[((in[0] & 3) << 4) | (n > 1 ? in[1] >> 4 : 0)];
	q[2] = n > 1 ? b64[((in[1] & 15) << 2) | (n > 2 ? in[2] >> 6 : 0)] : '=';
	q[3] = n > 2 ? b64[in[2] & 63] : '=';
	if ((r = b64_put(e, q, 4)) < 0)
		return r;
	e->col += 4;
	if (e->col >= B64_LINE) {
		e->col = 0;
		return b64_put(e, e->eol, strlen(e->eol));
	}
	return 0;
}

int
psm_b64enc_update(psm_b64enc *e, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t eol_len = strlen(e->eol);
	int r;

	while (len > 0) {
		if (e->nin == 0 && len >= 3) {
			/* the fast path: whole groups straight into the buffer */
			char *o = e->out + e->nout, *end = e->out + sizeof(e->out) - 4 - eol_len;

			if (o > end) {
				if ((r = b64_flush(e)) < 0)
					return r;
				continue;
			}
			while (len >= 3 && o <= end) {
				unsigned v = (unsigned)p[0] << 16 | (unsigned)p[1] << 8 | p[2];

				o[0] = b64[v >> 18];
				o[1] = b64[(v >> 12) & 63];
				o[2] = b64[(v >> 6) & 63];
				o[3] = b64[v & 63];
				o += 4;
				p += 3;
				len -= 3;
				if ((e->col += 4) >= B64_LINE) {
					memcpy(o, e->eol, eol_len);
					o += eol_len;
					e->col = 0;
				}
			}
			e->nout = (size_t)(o - e->out);
			continue;
		}
		e->in[e->nin++] = *p++;
		len--;
		if (e->nin == 3) {
			if ((r = b64_group(e, e->in, 3)) < 0)
				return r;
			e->nin = 0;
		}
	}
	return 0;
}

int
psm_b64enc_final(psm_b64enc *e)
{
	int r;

	if (e->nin > 0 && (r = b64_group(e, e->in, e->nin)) < 0)
		return r;
	e->nin = 0;
	if (e->col > 0) {
		e->col = 0;
		if ((r = b64_put(e, e->eol, strlen(e->eol))) < 0)
			return r;
	}
	return b64_flush(e);
}

/* ---- base64 decoding ------------------------------------------------ */

enum { B64_SKIP = 0x40, B64_PAD = 0x41, B64_BAD = 0x80 };

static unsigned char b64_rev[256];

static void
b64_rev_init(void)
{
	unsigned i;

	if (b64_rev['B'] != 1) {
		for (i = 0; i < 256; i++)
			b64_rev[i] = B64_BAD;
		for (i = 0; i < 64; i++)
			b64_rev[(unsigned char)b64[i]] = (unsigned char)i;
		b64_rev[' '] = b64_rev['\t'] = b64_rev['\r'] = b64_rev['\n'] = B64_SKIP;
		b64_rev['='] = B64_PAD;
	}
}

void
psm_b64dec_init(psm_b64dec *d)
{
	b64_rev_init();
	memset(d, 0, sizeof(*d));
}

long
psm_b64dec_update(psm_b64dec *d, const void *buf, size_t len, unsigned char *out)
{
	const unsigned char *p = buf, *end = p + len;
	unsigned char *o = out;

	while (p < end) {
		unsigned c;

		/* the fast path: four valid characters at once */
		if (d->n == 0 && !d->pad) {
			while (end - p >= 4) {
				unsigned a = b64_rev[p[0]], b = b64_rev[p[1]], c2 = b64_rev[p[2]],
				         e = b64_rev[p[3]];

				if ((a | b | c2 | e) & 0xc0)
					break;
				o[0] = (unsigned char)(a << 2 | b >> 4);
				o[1] = (unsigned char)(b << 4 | c2 >> 2);
				o[2] = (unsigned char)(c2 << 6 | e);
				o += 3;
				p += 4;
			}
			if (p >= end)
				break;
		}
		c = b64_rev[*p++];
		if (c == B64_SKIP)
			continue;
		if (c == B64_BAD)
			return -1;
		if (c == B64_PAD) {
			/* "xx==" or "xxx=": padding ends the data */
			if (!d->pad && d->n < 2)
				return -1;
			d->pad++;
			continue;
		}
		if (d->pad)
			return -1;      /* data after padding */
		d->acc = d->acc << 6 | c;
		if (++d->n == 4) {
			o[0] = (unsigned char)(d->acc >> 16);
			o[1] = (unsigned char)(d->acc >> 8);
			o[2] = (unsigned char)d->acc;
			o += 3;
			d->n = 0;
			d->acc = 0;
		}
	}
	/* a group cut by padding: its bytes are known now */
	if (d->pad && d->n > 0) {
		if (d->n == 2) {
			*o++ = (unsigned char)(d->acc >> 4);
		} else if (d->n == 3) {
			*o++ = (unsigned char)(d->acc >> 10);
			*o++ = (unsigned char)(d->acc >> 2);
		}
		d->n = 0;
		d->acc = 0;
		d->done = 1;
	}
	return (long)(o - out);
}

int
psm_b64dec_final(psm_b64dec *d)
{
	return d->n == 0 ? 0 : -1;
}

/* ---- quoted-printable, RFC 2045 section 6.7 --------------------------- */

#define QP_MAX 76   /* characters per encoded line, soft break included */

void
psm_qpenc_init(psm_qpenc *e, const char *eol, psm_sink_fn sink, void *ud)
{
	memset(e, 0, sizeof(*e));
	e->sink = sink;
	e->ud = ud;
	e->eol = eol;
	e->at_line_start = 1;
}

static int
qp_emit_line(psm_qpenc *e, int soft)
{
	int r;

	if (soft)
		e->line[e->len++] = '=';
	if (e->len > 0 && (r = e->sink(e->ud, e->line, e->len)) < 0)
		return r;
	e->len = 0;
	return e->sink(e->ud, e->eol, strlen(e->eol));
}

/* Append one output token (1 or 3 characters), soft-breaking first when
 * the line would grow past QP_MAX - 1 (room for the '='). */
static int
qp_token(psm_qpenc *e, const char *tok, size_t n)
{
	int r;

	if (e->len + n > QP_MAX - 1 && (r = qp_emit_line(e, 1)) < 0)
		return r;
	memcpy(e->line + e->len, tok, n);
	e->len += n;
	return 0;
}

static int
qp_hex(psm_qpenc *e, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char t[3] = { '=', hex[c >> 4], hex[c & 15] };

	return qp_token(e, t, 3);
}

static int
qp_flush_ws(psm_qpenc *e, int at_eol)
{
	size_t i;
	int r = 0;

	for (i = 0; i < e->nws && r == 0; i++) {
		if (at_eol)
			r = qp_hex(e, (unsigned char)e->ws[i]);   /* trailing: must be encoded */
		else
			r = qp_token(e, &e->ws[i], 1);
	}
	e->nws = 0;
	return r;
}

static int
qp_byte(psm_qpenc *e, unsigned char c)
{
	int r;

	if (c == ' ' || c == '\t') {
		if (e->nws > 0 && (r = qp_flush_ws(e, 0)) < 0)
			return r;
		e->ws[e->nws++] = (char)c;
		e->at_line_start = 0;
		return 0;
	}
	if ((r = qp_flush_ws(e, 0)) < 0)
		return r;
	/* "From " at the start of a line is mangled by mbox: encode the F */
	if ((c == 'F' && e->at_line_start) || c == '=' || c < 33 || c > 126)
		r = qp_hex(e, c);
	else
		r = qp_token(e, (const char *)&c, 1);
	e->at_line_start = 0;
	return r;
}

static int
qp_eol(psm_qpenc *e)
{
	int r;

	if ((r = qp_flush_ws(e, 1)) < 0)
		return r;
	e->at_line_start = 1;
	return qp_emit_line(e, 0);
}

int
psm_qpenc_update(psm_qpenc *e, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;
	int r;

	for (i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (e->pending_cr) {
			e->pending_cr = 0;
			if (c == '\n') {
				if ((r = qp_eol(e)) < 0)
					return r;
				continue;
			}
			if ((r = qp_byte(e, '\r')) < 0)   /* a lone CR is data */
				return r;
		}
		if (c == '\r') {
			e->pending_cr = 1;
			continue;
		}
		r = c == '\n' ? qp_eol(e) : qp_byte(e, c);
		if (r < 0)
			return r;
	}
	return 0;
}

int
psm_qpenc_final(psm_qpenc *e)
{
	int r;

	if (e->pending_cr) {
		e->pending_cr = 0;
		if ((r = qp_byte(e, '\r')) < 0)
			return r;
	}
	if (e->nws == 0 && e->len == 0)
		return 0;
	/* the text did not end with a line break: end with a soft break so
	 * that none is added */
	if ((r = qp_flush_ws(e, 1)) < 0)
		return r;
	return qp_emit_line(e, 1);
}

/* ---- line ends, RFC 8551 section 3.1.1 -------------------------------- */

void
psm_crlf_init(psm_crlf *c, const char *eol, psm_sink_fn sink, void *ud)
{
	memset(c, 0, sizeof(*c));
	c->sink = sink;
	c->ud = ud;
	c->eol = eol;
}

int
psm_crlf_update(psm_crlf *c, const void *buf, size_t len)
{
	const unsigned char *p = buf, *end = p + len;
	unsigned char out[16384];
	size_t eol_len = strlen(c->eol), n = 0;
	int r;

	/* convert into a local buffer and hand it on in large pieces; runs
	 * without CR or LF are found with memchr and copied whole */
	while (p < end) {
		const unsigned char *lf, *cr, *stop;
		size_t k;

		if (n + 2 + eol_len >= sizeof(out)) {
			if ((r = c->sink(c->ud, out, n)) < 0)
				return r;
			n = 0;
		}
		if (c->pending_cr) {
			c->pending_cr = 0;
			if (*p == '\n') {
				memcpy(out + n, c->eol, eol_len);
				n += eol_len;
				p++;
				continue;
			}
			out[n++] = '\r';
			continue;
		}
		k = (size_t)(end - p);
		if (k > sizeof(out) - n - 2 - eol_len)
			k = sizeof(out) - n - 2 - eol_len;
		lf = memchr(p, '\n', k);
		stop = lf != NULL ? lf : p + k;
		cr = memchr(p, '\r', (size_t)(stop - p));
		if (cr != NULL)
			stop = cr;
		memcpy(out + n, p, (size_t)(stop - p));
		n += (size_t)(stop - p);
		p = stop;
		if (p >= end || (cr == NULL && lf == NULL))
			continue;
		if (*p == '\r') {
			c->pending_cr = 1;
		} else {
			memcpy(out + n, c->eol, eol_len);
			n += eol_len;
		}
		p++;
	}
	return n > 0 ? c->sink(c->ud, out, n) : 0;
}

int
psm_crlf_final(psm_crlf *c)
{
	if (c->pending_cr) {
		c->pending_cr = 0;
		return c->sink(c->ud, "\r", 1);
	}
	return 0;
}
