/* p11smime: the streaming MIME reader.
 *
 * One state machine over the input bytes. The entity at the top of a stack
 * of frames (depth 0 = the message) is either collecting its header block
 * (bounded by max_header) or streaming its body, preamble or epilogue. In
 * a body, a line end is held back until the next line is known not to be
 * a delimiter (RFC 2046 section 5.1.1: the CRLF before "--boundary"
 * belongs to the delimiter), and the start of a line is held back only
 * while it may still become a delimiter of an enclosing multipart; every
 * other byte leaves at once as BODY/PREAMBLE/EPILOGUE and PART_RAW events.
 */
#include "config.h"

#include "mime_reader.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

enum mode {
	M_HEADERS,                  /* collecting the header block */
	M_LEAF,                     /* body of a leaf */
	M_PREAMBLE,                 /* multipart before its first delimiter */
	M_PART,                     /* multipart with a body part open */
	M_EPILOGUE                  /* multipart after its close delimiter */
};

enum { LE_CONTENT, LE_RAW };

struct frame {
	psm_mime_headers *h;
	enum mode mode;
	int multipart;
	int digest;                 /* multipart/digest */
	char *boundary;
	size_t blen;
	size_t index;               /* among the parent's body parts */
	size_t nparts;              /* body parts begun */
	int alive;                  /* the current line may be our delimiter */
};

struct psm_mime_reader {
	psm_mime_limits lim;
	psm_mime_cb cb;
	void *ud;
	struct frame *f;            /* lim.max_depth + 1 of them */
	unsigned top;
	int err;                    /* sticky: a cap, a syntax error, the
	                               callback's value */
	int finished;
	size_t parts;

	/* the header block of the entity at the top (M_HEADERS) */
	unsigned char *hdr;
	size_t hdr_len, hdr_cap;
	size_t hdr_line;            /* where the current line starts */
	size_t hdr_prev_le;         /* line end length of the line before it */

	/* body scanning */
	size_t le_len;              /* held line end: 0, 1 (LF) or 2 (CRLF) */
	int le_kind;                /* LE_CONTENT: part of the body text;
	                               LE_RAW: the empty line after the header
	                               block, or the line end of a close
	                               delimiter line */
	int ls;                     /* at a line start that may be a delimiter */
	unsigned char *pfx;         /* that line start */
	size_t pfx_len, pfx_cap;
	int pfx_cr;                 /* pfx ends in CR */
	unsigned nalive;
	int nobound;                /* no delimiter can come: stream freely */
	int cr;                     /* a CR at the end of the last chunk */
};

static const unsigned char crlf[] = "\r\n";

static const unsigned char *
le_bytes(size_t n)
{
	return n == 2 ? crlf : crlf + 1;
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

void
psm_mime_limits_default(psm_mime_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_header = 64 * 1024;
	lim->max_line = 1024 * 1024;
	lim->max_depth = 32;
	lim->max_boundary = 70;
	lim->max_parts = 10000;
}

int
psm_mime_reader_new(const psm_mime_limits *lim, psm_mime_cb cb, void *ud,
                    psm_mime_reader **out)
{
	psm_mime_limits def;
	psm_mime_reader *r = NULL;
	int ret = PSM_ERR_INTERNAL;

	*out = NULL;
	if (cb == NULL) {
		psm_error_set("MIME reader: no callback");
		return PSM_ERR_USAGE;
	}
	psm_mime_limits_default(&def);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		ret = PSM_ERR_NOMEM;
		goto out;
	}
	r->lim = def;
	if (lim != NULL) {
		if (lim->max_header != 0)
			r->lim.max_header = lim->max_header;
		if (lim->max_line != 0)
			r->lim.max_line = lim->max_line;
		if (lim->max_depth != 0)
			r->lim.max_depth = lim->max_depth;
		if (lim->max_boundary != 0)
			r->lim.max_boundary = lim->max_boundary;
		if (lim->max_parts != 0)
			r->lim.max_parts = lim->max_parts;
		r->lim.flags = lim->flags;
	}
	if (r->lim.max_boundary > ((size_t)-1) / 4 || r->lim.max_line < r->lim.max_boundary + 5) {
		psm_error_set("MIME reader limits: max_line (%zu) must exceed max_boundary (%zu) + 4",
		              r->lim.max_line, r->lim.max_boundary);
		ret = PSM_ERR_USAGE;
		goto out;
	}
	if (r->lim.max_depth > 100000) {
		psm_error_set("MIME reader limits: max_depth (%u) above 100000", r->lim.max_depth);
		ret = PSM_ERR_USAGE;
		goto out;
	}
	if ((r->f = calloc((size_t)r->lim.max_depth + 1, sizeof(*r->f))) == NULL) {
		ret = PSM_ERR_NOMEM;
		goto out;
	}
	/* small first buffers (never NULL); they grow up to their caps */
	r->hdr_cap = r->lim.max_header < 1024 ? r->lim.max_header : 1024;
	r->pfx_cap = r->lim.max_boundary + 8 < r->lim.max_line ? r->lim.max_boundary + 8 :
	             r->lim.max_line;
	if ((r->hdr = malloc(r->hdr_cap)) == NULL || (r->pfx = malloc(r->pfx_cap)) == NULL) {
		ret = PSM_ERR_NOMEM;
		goto out;
	}
	r->f[0].mode = M_HEADERS;
	r->cb = cb;
	r->ud = ud;
	*out = r;
	r = NULL; /* transferred */
	ret = 0;
out:
	psm_mime_reader_free(r);
	return ret;
}

void
psm_mime_reader_free(psm_mime_reader *r)
{
	unsigned i;

	if (r == NULL)
		return;
	for (i = 0; r->f != NULL && i <= r->lim.max_depth; i++) {
		psm_mime_headers_free(r->f[i].h);
		free(r->f[i].boundary);
	}
	free(r->f);
	free(r->hdr);
	free(r->pfx);
	free(r);
}

size_t
psm_mime_reader_buffered(const psm_mime_reader *r)
{
	return r->hdr_cap + r->pfx_cap;
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

/* PART_RAW for the body parts at depths upto..1 that hold these bytes. */
static int
emit_raw(psm_mime_reader *r, unsigned upto, const unsigned char *p, size_t n)
{
	psm_mime_event ev;
	unsigned j;
	int k;

	if (n == 0)
		return 0;
	for (j = upto; j >= 1; j--) {
		memset(&ev, 0, sizeof(ev));
		ev.type = PSM_MIME_PART_RAW;
		ev.depth = j;
		ev.index = r->f[j].index;
		ev.data = p;
		ev.len = n;
		if ((k = r->cb(r->ud, &ev)) != 0)
			return k;
	}
	return 0;
}

static psm_mime_event_type
content_kind(const psm_mime_reader *r)
{
	switch (r->f[r->top].mode) {
	case M_PREAMBLE:
		return PSM_MIME_PREAMBLE;
	case M_EPILOGUE:
		return PSM_MIME_EPILOGUE;
	default:
		return PSM_MIME_BODY;
	}
}

/* Bytes of the entity at the top: its content event (kind, or none when
 * 0) and PART_RAW for every body part that holds it. */
static int
emit(psm_mime_reader *r, int kind, const unsigned char *p, size_t n)
{
	psm_mime_event ev;
	int k;

	if (n == 0)
		return 0;
	if (kind != 0) {
		memset(&ev, 0, sizeof(ev));
		ev.type = (psm_mime_event_type)kind;
		ev.depth = r->top;
		ev.index = r->f[r->top].index;
		ev.data = p;
		ev.len = n;
		if ((k = r->cb(r->ud, &ev)) != 0)
			return k;
	}
	return emit_raw(r, r->top, p, n);
}

/* The held line end turned out to belong to the entity. */
static int
flush_le(psm_mime_reader *r)
{
	size_t n = r->le_len;

	if (n == 0)
		return 0;
	r->le_len = 0;
	return emit(r, r->le_kind == LE_CONTENT ? (int)content_kind(r) : 0, le_bytes(n), n);
}

static void
entity_event(const psm_mime_reader *r, psm_mime_event *ev, psm_mime_event_type type)
{
	const struct frame *fr = &r->f[r->top];

	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->depth = r->top;
	ev->index = fr->index;
	ev->headers = fr->h;
	ev->ctype = psm_mime_headers_ctype(fr->h);
	ev->cte = psm_mime_headers_cte(fr->h, NULL);
	ev->is_multipart = fr->multipart;
	ev->boundary = fr->boundary;
}

/* The entity at the top has its header block (block[0..len), its empty
 * line or the line end before a delimiter not included). */
static int
begin_entity(psm_mime_reader *r, const unsigned char *block, size_t len)
{
	struct frame *fr = &r->f[r->top];
	const psm_mime_ctype *ct;
	const psm_mime_param *b;
	psm_mime_event ev;
	unsigned flags = 0;
	int k;

	if (r->top > 0 && r->f[r->top - 1].digest)
		flags |= PSM_MIME_HDR_DIGEST_CHILD;
	if ((k = psm_mime_headers_parse(block, len, flags, NULL, &fr->h)) < 0)
		return k;
	ct = psm_mime_headers_ctype(fr->h);
	b = psm_mime_param_find(ct->params, ct->nparams, "boundary");
	if (psm_mime_ctype_is(ct, "multipart", NULL) && b != NULL && b->value_len > 0) {
		if (b->value_len > r->lim.max_boundary) {
			psm_error_set("MIME boundary of %zu bytes exceeds max_boundary (%zu)",
			              b->value_len, r->lim.max_boundary);
			return PSM_ERR_MALFORMED;
		}
		if (memchr(b->value, '\r', b->value_len) != NULL ||
		    memchr(b->value, '\n', b->value_len) != NULL ||
		    memchr(b->value, '\0', b->value_len) != NULL) {
			psm_error_set("MIME boundary holds a line end or NUL");
			return PSM_ERR_MALFORMED;
		}
		if ((fr->boundary = malloc(b->value_len + 1)) == NULL)
			return PSM_ERR_NOMEM;
		memcpy(fr->boundary, b->value, b->value_len + 1);
		fr->blen = b->value_len;
		fr->multipart = 1;
		fr->digest = psm_mime_ctype_is(ct, "multipart", "digest");
	}
	fr->mode = fr->multipart ? M_PREAMBLE : M_LEAF;
	entity_event(r, &ev, PSM_MIME_ENTITY_BEGIN);
	if ((k = r->cb(r->ud, &ev)) != 0)
		return k;
	return emit_raw(r, r->top, block, len);
}

/* ENTITY_END for the entity at the top, which is then dropped. */
static int
end_top(psm_mime_reader *r)
{
	struct frame *fr = &r->f[r->top];
	psm_mime_event ev;
	int k;

	entity_event(r, &ev, PSM_MIME_ENTITY_END);
	if (fr->multipart && fr->mode != M_EPILOGUE)
		ev.flags |= PSM_MIME_TRUNCATED;
	k = r->cb(r->ud, &ev);
	psm_mime_headers_free(fr->h);
	free(fr->boundary);
	memset(fr, 0, sizeof(*fr));
	if (r->top > 0)
		r->top--;
	return k;
}

/* ------------------------------------------------------------------ */
/* Delimiters                                                          */

static int
active(const psm_mime_reader *r, unsigned j)
{
	const struct frame *fr = &r->f[j];

	return fr->multipart && (fr->mode == M_PART || fr->mode == M_PREAMBLE);
}

/* Is line[0..n) (no line end) a delimiter? The outermost multipart whose
 * boundary it matches, or -1; *close for "--boundary--". */
static int
match_line(const psm_mime_reader *r, const unsigned char *line, size_t n, int *close)
{
	unsigned j;
	size_t i, m;

	*close = 0;
	if (n < 2 || line[0] != '-' || line[1] != '-')
		return -1;
	for (j = 0; j <= r->top; j++) {
		if (!active(r, j))
			continue;
		m = r->f[j].blen;
		if (n < 2 + m || memcmp(line + 2, r->f[j].boundary, m) != 0)
			continue;
		i = 2 + m;
		if (n >= i + 2 && line[i] == '-' && line[i + 1] == '-') {
			*close = 1;
			i += 2;
		}
		while (i < n && is_wsp(line[i]))
			i++;
		if (i == n)
			return (int)j;
		*close = 0;
	}
	return -1;
}

/* A new line starts (after a line end, held in le_len). */
static int
line_begin(psm_mime_reader *r)
{
	unsigned j;

	r->pfx_len = 0;
	r->pfx_cr = 0;
	r->nalive = 0;
	for (j = 0; j <= r->top; j++) {
		r->f[j].alive = active(r, j);
		r->nalive += (unsigned)r->f[j].alive;
	}
	r->ls = r->nalive > 0;
	r->nobound = r->nalive == 0;
	if (r->nobound)
		return flush_le(r);
	return 0;
}

/* Append c to the held line start if the line may still be a delimiter:
 * 1 when appended, 0 when no boundary can match any more. */
static int
pfx_push(psm_mime_reader *r, unsigned char c)
{
	size_t i = r->pfx_len;
	unsigned j;

	if (r->pfx_cr || i + 1 > r->lim.max_line)
		return 0;
	for (j = 0; j <= r->top; j++) {
		struct frame *fr = &r->f[j];
		size_t m = fr->blen;
		int ok;

		if (!fr->alive)
			continue;
		if (i < 2) {
			ok = c == '-';
		} else if (i < 2 + m) {
			ok = c == (unsigned char)fr->boundary[i - 2];
		} else {
			size_t t = i - (2 + m);
			int dash = t > 0 && r->pfx[2 + m] == '-';

			if (c == '\r')
				ok = !(t == 1 && dash);
			else if (t == 0)
				ok = c == '-' || is_wsp(c);
			else if (t == 1 && dash)
				ok = c == '-';
			else
				ok = is_wsp(c);
		}
		if (!ok) {
			fr->alive = 0;
			r->nalive--;
		}
	}
	if (r->nalive == 0)
		return 0;
	if (i + 1 > r->pfx_cap) {
		size_t cap = r->pfx_cap * 2;
		unsigned char *g;

		if (cap > r->lim.max_line)
			cap = r->lim.max_line;
		if ((g = realloc(r->pfx, cap)) == NULL)
			return PSM_ERR_NOMEM;
		r->pfx = g;
		r->pfx_cap = cap;
	}
	r->pfx[r->pfx_len++] = c;
	r->pfx_cr = c == '\r';
	return 1;
}

/* line[0..n) is a delimiter of the multipart at depth k; the held line end
 * (le_len) comes before it, eol bytes of line end after it (0 at the end
 * of input). */
static int
delimiter(psm_mime_reader *r, unsigned k, int close, const unsigned char *line, size_t n,
          size_t eol)
{
	size_t lel;
	int e;

	/* whatever is open inside multipart k ends here */
	while (r->top > k) {
		if ((e = end_top(r)) != 0)
			return e;
	}
	/* the line end before the delimiter line, and the line, are bytes of
	 * multipart k's body, not of the part they end */
	lel = r->le_len;
	r->le_len = 0;
	r->ls = 0;
	if ((e = emit_raw(r, k, le_bytes(lel), lel)) != 0 ||
	    (e = emit_raw(r, k, line, n)) != 0)
		return e;
	r->pfx_len = 0;
	r->pfx_cr = 0;
	r->hdr_len = r->hdr_line = r->hdr_prev_le = 0;
	if (close) {
		/* RFC 2046: close-delimiter transport-padding [CRLF epilogue];
		 * that CRLF may also be the one before an outer delimiter */
		r->f[k].mode = M_EPILOGUE;
		if (eol == 0)
			return 0;
		r->le_len = eol;
		r->le_kind = LE_RAW;
		return line_begin(r);
	}
	if ((e = emit_raw(r, k, le_bytes(eol), eol)) != 0)
		return e;
	if (k + 1 > r->lim.max_depth) {
		psm_error_set("MIME entities nested deeper than max_depth (%u)", r->lim.max_depth);
		return PSM_ERR_MALFORMED;
	}
	if (r->parts >= r->lim.max_parts) {
		psm_error_set("more than max_parts (%zu) MIME body parts", r->lim.max_parts);
		return PSM_ERR_MALFORMED;
	}
	r->parts++;
	r->f[k].mode = M_PART;
	r->top = k + 1;
	memset(&r->f[r->top], 0, sizeof(r->f[r->top]));
	r->f[r->top].mode = M_HEADERS;
	r->f[r->top].index = r->f[k].nparts++;
	r->nobound = 0;
	return 0;
}

/* The held line start is a whole line: its line end has come (has_le) or
 * the input has ended. */
static int
line_done(psm_mime_reader *r, int has_le)
{
	size_t n = r->pfx_len, eol = 0;
	int k, close, e;

	if (has_le) {
		eol = r->pfx_cr ? 2 : 1;
		n -= r->pfx_cr ? 1 : 0;
	}
	k = r->pfx_cr && !has_le ? -1 : match_line(r, r->pfx, n, &close);
	if (k >= 0)
		return delimiter(r, (unsigned)k, close, r->pfx, n, eol);
	r->ls = 0;
	if ((e = flush_le(r)) != 0 || (e = emit(r, content_kind(r), r->pfx, n)) != 0)
		return e;
	r->pfx_len = 0;
	r->pfx_cr = 0;
	if (!has_le)
		return 0;
	r->le_len = eol;
	r->le_kind = LE_CONTENT;
	return line_begin(r);
}

/* ------------------------------------------------------------------ */
/* Input                                                               */

static int
body_step(psm_mime_reader *r, const unsigned char *p, size_t len, size_t *pos)
{
	const unsigned char *nl;
	size_t start, e, lel;
	int k;

	if (r->nobound) {
		/* no enclosing multipart is waiting for a delimiter */
		k = emit(r, content_kind(r), p + *pos, len - *pos);
		*pos = len;
		return k;
	}
	if (r->ls) {
		while (*pos < len) {
			unsigned char c = p[*pos];

			if (c == '\n') {
				(*pos)++;
				return line_done(r, 1);
			}
			if ((k = pfx_push(r, c)) < 0)
				return k;
			if (k == 0) {
				/* no delimiter: what was held is data; c is
				 * read again as the middle of a line */
				r->ls = 0;
				if ((k = flush_le(r)) != 0 ||
				    (k = emit(r, content_kind(r), r->pfx, r->pfx_len)) != 0)
					return k;
				r->pfx_len = 0;
				r->pfx_cr = 0;
				return 0;
			}
			(*pos)++;
		}
		return 0;
	}
	if (r->cr) {
		r->cr = 0;
		if (p[*pos] == '\n') {
			(*pos)++;
			r->le_len = 2;
			r->le_kind = LE_CONTENT;
			return line_begin(r);
		}
		if ((k = emit(r, content_kind(r), crlf, 1)) != 0)
			return k;
	}
	start = *pos;
	nl = memchr(p + start, '\n', len - start);
	if (nl != NULL) {
		e = (size_t)(nl - p);
		lel = 1;
		if (e > start && p[e - 1] == '\r') {
			e--;
			lel = 2;
		}
		if ((k = emit(r, content_kind(r), p + start, e - start)) != 0)
			return k;
		*pos = (size_t)(nl - p) + 1;
		r->le_len = lel;
		r->le_kind = LE_CONTENT;
		return line_begin(r);
	}
	e = len;
	if (p[len - 1] == '\r') {
		e--;
		r->cr = 1;
	}
	*pos = len;
	return emit(r, content_kind(r), p + start, e - start);
}

/* Could line[0..n) start a header field? (name, optional WSP, colon) */
static int
is_field_start(const unsigned char *line, size_t n)
{
	const unsigned char *colon = memchr(line, ':', n);
	size_t i, nlen;

	if (colon == NULL)
		return 0;
	nlen = (size_t)(colon - line);
	while (nlen > 0 && is_wsp(line[nlen - 1]))
		nlen--;
	for (i = 0; i < nlen; i++) {
		if (line[i] < 33 || line[i] > 126)
			return 0;
	}
	return nlen > 0;
}

/* A header line is complete (has_le) or the input ended inside one. */
static int
hdr_line_done(psm_mime_reader *r, int has_le)
{
	size_t eol = 0, n;
	int k, close, e;

	if (has_le)
		eol = r->hdr_len - r->hdr_line >= 2 && r->hdr[r->hdr_len - 2] == '\r' ? 2 : 1;
	n = r->hdr_len - r->hdr_line - eol;
	k = match_line(r, r->hdr + r->hdr_line, n, &close);
	if (k >= 0) {
		/* a body part without an empty line (and so without a body):
		 * the line end before the delimiter is the delimiter's */
		if ((e = begin_entity(r, r->hdr, r->hdr_line - r->hdr_prev_le)) != 0)
			return e;
		r->le_len = r->hdr_prev_le;
		return delimiter(r, (unsigned)k, close, r->hdr + r->hdr_line, n, eol);
	}
	if ((r->lim.flags & PSM_MIME_READ_HEADERLESS_PARTS) && r->top > 0 && r->hdr_line == 0 &&
	    n > 0 && !is_field_start(r->hdr, n)) {
		/* a part without headers: this line is its body's first */
		if ((e = begin_entity(r, r->hdr, 0)) != 0 ||
		    (e = emit(r, content_kind(r), r->hdr, has_le ? n : r->hdr_len)) != 0)
			return e;
		r->hdr_len = r->hdr_line = r->hdr_prev_le = 0;
		if (!has_le)
			return 0;
		r->le_len = eol;
		r->le_kind = LE_CONTENT;
		return line_begin(r);
	}
	if (!has_le) {
		/* end of input: every byte held is the entity's */
		return begin_entity(r, r->hdr, r->hdr_len);
	}
	if (n == 0) {
		if ((e = begin_entity(r, r->hdr, r->hdr_line)) != 0)
			return e;
		r->hdr_len = r->hdr_line = r->hdr_prev_le = 0;
		r->le_len = eol;
		r->le_kind = LE_RAW;
		return line_begin(r);
	}
	r->hdr_prev_le = eol;
	r->hdr_line = r->hdr_len;
	return 0;
}

static int
hdr_step(psm_mime_reader *r, const unsigned char *p, size_t len, size_t *pos)
{
	const unsigned char *nl = memchr(p + *pos, '\n', len - *pos);
	size_t n = nl != NULL ? (size_t)(nl - (p + *pos)) + 1 : len - *pos;

	if (n > r->lim.max_header - r->hdr_len) {
		psm_error_set("MIME header block exceeds max_header (%zu bytes)", r->lim.max_header);
		return PSM_ERR_MALFORMED;
	}
	if (r->hdr_len + n > r->hdr_cap) {
		size_t cap = r->hdr_cap;
		unsigned char *g;

		while (cap < r->hdr_len + n)
			cap *= 2;
		if (cap > r->lim.max_header)
			cap = r->lim.max_header;
		if ((g = realloc(r->hdr, cap)) == NULL)
			return PSM_ERR_NOMEM;
		r->hdr = g;
		r->hdr_cap = cap;
	}
	memcpy(r->hdr + r->hdr_len, p + *pos, n);
	r->hdr_len += n;
	*pos += n;
	return nl != NULL ? hdr_line_done(r, 1) : 0;
}

int
psm_mime_reader_feed(psm_mime_reader *r, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t pos = 0;
	int k;

	if (r->err != 0)
		return r->err;
	if (r->finished) {
		psm_error_set("MIME reader: input after its end");
		return PSM_ERR_USAGE;
	}
	while (pos < len) {
		if (r->f[r->top].mode == M_HEADERS)
			k = hdr_step(r, p, len, &pos);
		else
			k = body_step(r, p, len, &pos);
		if (k != 0) {
			r->err = k;
			return k;
		}
	}
	return 0;
}

static int
finish(psm_mime_reader *r)
{
	int k;

	for (;;) {
		if (r->f[r->top].mode == M_HEADERS) {
			if (r->top > 0 && r->hdr_len == 0) {
				/* a delimiter line, then nothing: no part */
				memset(&r->f[r->top], 0, sizeof(r->f[r->top]));
				r->top--;
				continue;
			}
			if ((k = hdr_line_done(r, 0)) != 0)
				return k;
			continue;
		}
		if (r->cr) {
			r->cr = 0;
			if ((k = emit(r, content_kind(r), crlf, 1)) != 0)
				return k;
		}
		if (r->ls && r->pfx_len > 0) {
			if ((k = line_done(r, 0)) != 0)
				return k;
			continue;
		}
		r->ls = 0;
		if ((k = flush_le(r)) != 0)
			return k;
		break;
	}
	for (;;) {
		int last = r->top == 0;

		if ((k = end_top(r)) != 0)
			return k;
		if (last)
			return 0;
	}
}

int
psm_mime_reader_finish(psm_mime_reader *r)
{
	int k;

	if (r->err != 0)
		return r->err;
	if (r->finished) {
		psm_error_set("MIME reader: finished twice");
		return PSM_ERR_USAGE;
	}
	r->finished = 1;
	if ((k = finish(r)) != 0)
		r->err = k;
	return k;
}
