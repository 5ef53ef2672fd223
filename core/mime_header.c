/* p11smime: MIME header blocks, Content-Type / Content-Disposition
 * parameters (RFC 2045, RFC 2231), Content-Transfer-Encoding and address
 * lists (RFC 5322 section 3.4). */
#include "config.h"

#include "mime_header.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

struct psm_mime_headers {
	unsigned char *raw;         /* the fields' bytes (copy) */
	size_t raw_len;
	char *arena;                /* names and values, NUL-terminated */
	psm_mime_field *fields;
	size_t n;
	psm_mime_ctype *ct;
	psm_mime_cte cte;
	char *cte_token;
};

/* ------------------------------------------------------------------ */
/* Small helpers (ASCII only: header syntax is locale-independent)    */

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
ascii_casecmp(const char *a, const char *b)
{
	while (*a != '\0' && lower((unsigned char)*a) == lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return lower((unsigned char)*a) - lower((unsigned char)*b);
}

static char *
dup_lower(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		s[i] = (char)lower((unsigned char)p[i]);
	s[n] = '\0';
	return s;
}

static char *
dup_mem(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		return NULL;
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* A printable excerpt of untrusted bytes for an error detail. */
static const char *
excerpt(char *dst, size_t cap, const unsigned char *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 4 < cap; i++)
		dst[k++] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' ? (char)p[i] : '?';
	if (i < n) {
		dst[k++] = '.';
		dst[k++] = '.';
		dst[k++] = '.';
	}
	dst[k] = '\0';
	return dst;
}

/* ------------------------------------------------------------------ */
/* Header blocks                                                       */

/* The line starting at pos: content ends at *cend, the next line starts
 * at the return value. */
static size_t
next_line(const unsigned char *p, size_t len, size_t pos, size_t *cend)
{
	const unsigned char *nl = memchr(p + pos, '\n', len - pos);
	size_t e;

	if (nl == NULL) {
		*cend = len;
		return len;
	}
	e = (size_t)(nl - p);
	*cend = e > pos && p[e - 1] == '\r' ? e - 1 : e;
	return e + 1;
}

size_t
psm_mime_header_block_end(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t pos = 0, cend, next;

	while (pos < len) {
		next = next_line(p, len, pos, &cend);
		if (next == len && (len == 0 || p[len - 1] != '\n'))
			return 0;       /* an unfinished last line */
		if (cend == pos)
			return next;
		pos = next;
	}
	return 0;
}

int
psm_mime_is_mbox_from_line(const void *buf, size_t len)
{
	return len >= 5 && memcmp(buf, "From ", 5) == 0;
}

static void
field_finish(psm_mime_field *f, char *value, size_t vlen)
{
	while (vlen > 0 && is_wsp((unsigned char)value[vlen - 1]))
		vlen--;
	value[vlen] = '\0';
	while (is_wsp((unsigned char)*value))
		value++;
	f->value = value;
}

static int
count_fields(const psm_mime_headers *h, const char *name, const psm_mime_field **first)
{
	size_t i;
	int n = 0;

	*first = NULL;
	for (i = 0; i < h->n; i++) {
		if (ascii_casecmp(h->fields[i].name, name) == 0) {
			if (n++ == 0)
				*first = &h->fields[i];
		}
	}
	return n;
}

static int
ctype_default_for(unsigned flags, psm_mime_ctype **out)
{
	psm_mime_ctype *ct;
	int r;

	if ((flags & PSM_MIME_HDR_DIGEST_CHILD) == 0)
		return psm_mime_ctype_default(out);
	*out = NULL;
	if ((ct = calloc(1, sizeof(*ct))) == NULL)
		return PSM_ERR_NOMEM;
	ct->type = dup_mem("message", 7);
	ct->subtype = dup_mem("rfc822", 6);
	ct->defaulted = 1;
	if (ct->type == NULL || ct->subtype == NULL) {
		r = PSM_ERR_NOMEM;
		psm_mime_ctype_free(ct);
		return r;
	}
	*out = ct;
	return 0;
}

/* Content-Type and Content-Transfer-Encoding of a parsed block. */
static int
headers_structured(psm_mime_headers *h, unsigned flags)
{
	const psm_mime_field *f;
	int n, r;

	n = count_fields(h, "Content-Type", &f);
	if (n > 1) {
		psm_error_set("more than one Content-Type field in a header block");
		return PSM_ERR_MALFORMED;
	}
	if (n == 1) {
		r = psm_mime_ctype_parse(f->value, &h->ct);
		if (r == PSM_ERR_MALFORMED) {
			if ((r = ctype_default_for(flags, &h->ct)) < 0)
				return r;
			h->ct->invalid = 1;
		} else if (r < 0) {
			return r;
		}
	} else if ((r = ctype_default_for(flags, &h->ct)) < 0) {
		return r;
	}

	n = count_fields(h, "Content-Transfer-Encoding", &f);
	if (n > 1) {
		psm_error_set("more than one Content-Transfer-Encoding field in a header block");
		return PSM_ERR_MALFORMED;
	}
	r = psm_mime_cte_parse(n == 1 ? f->value : NULL, &h->cte, &h->cte_token);
	if (r == PSM_ERR_MALFORMED) {
		h->cte = PSM_MIME_CTE_OTHER;
		if ((h->cte_token = dup_lower(f->value, strlen(f->value))) == NULL)
			return PSM_ERR_NOMEM;
	} else if (r < 0) {
		return r;
	}
	return 0;
}

int
psm_mime_headers_parse(const void *buf, size_t len, unsigned flags, size_t *used,
                       psm_mime_headers **out)
{
	const unsigned char *in = buf;
	psm_mime_headers *h = NULL;
	psm_mime_field *cur = NULL;
	char *vstart = NULL, *ap;
	size_t pos, next, cend, blk = len, consumed = len, nlines = 0, vlen = 0;
	char ex[64];
	int r = PSM_ERR_INTERNAL;

	*out = NULL;
	if (used != NULL)
		*used = 0;

	/* the extent of the block and its number of lines */
	for (pos = 0; pos < len; pos = next) {
		next = next_line(in, len, pos, &cend);
		if (cend == pos && next > pos) {
			blk = pos;
			consumed = next;
			break;
		}
		nlines++;
	}
	if (blk > 0 && memchr(in, '\0', blk) != NULL) {
		psm_error_set("NUL byte in a header block");
		r = PSM_ERR_MALFORMED;
		goto out;
	}

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->raw = malloc(blk > 0 ? blk : 1)) == NULL ||
	    (h->arena = malloc(2 * blk + 2 * nlines + 1)) == NULL ||
	    (h->fields = calloc(nlines > 0 ? nlines : 1, sizeof(*h->fields))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	if (blk > 0)
		memcpy(h->raw, in, blk);
	h->raw_len = blk;
	ap = h->arena;

	for (pos = 0; pos < blk; pos = next) {
		const unsigned char *line = h->raw + pos;
		const unsigned char *colon;
		size_t nlen, clen;

		next = next_line(h->raw, blk, pos, &cend);
		clen = cend - pos;
		if (is_wsp(line[0])) {
			/* folded: RFC 5322 section 2.2.3, drop the line end only */
			if (cur == NULL) {
				psm_error_set("header block starts with a continuation line: \"%s\"",
				              excerpt(ex, sizeof(ex), line, clen));
				r = PSM_ERR_MALFORMED;
				goto out;
			}
			memcpy(ap, line, clen);
			ap += clen;
			vlen += clen;
			cur->raw_len = next - (size_t)(cur->raw - h->raw);
			continue;
		}
		if (cur != NULL) {
			field_finish(cur, vstart, vlen);
			ap++;
		}
		if ((colon = memchr(line, ':', clen)) == NULL) {
			psm_error_set("header line without a colon: \"%s\"",
			              excerpt(ex, sizeof(ex), line, clen));
			r = PSM_ERR_MALFORMED;
			goto out;
		}
		/* obsolete syntax: WSP between the name and the colon */
		nlen = (size_t)(colon - line);
		while (nlen > 0 && is_wsp(line[nlen - 1]))
			nlen--;
		if (nlen == 0) {
			psm_error_set("header field without a name: \"%s\"",
			              excerpt(ex, sizeof(ex), line, clen));
			r = PSM_ERR_MALFORMED;
			goto out;
		}
		for (size_t i = 0; i < nlen; i++) {
			if (line[i] < 33 || line[i] > 126) {
				psm_error_set("invalid header field name: \"%s\"",
				              excerpt(ex, sizeof(ex), line, nlen));
				r = PSM_ERR_MALFORMED;
				goto out;
			}
		}
		cur = &h->fields[h->n++];
		cur->raw = line;
		cur->raw_len = next - pos;
		memcpy(ap, line, nlen);
		ap[nlen] = '\0';
		cur->name = ap;
		ap += nlen + 1;
		vstart = ap;
		vlen = clen - (size_t)(colon - line) - 1;
		memcpy(ap, colon + 1, vlen);
		ap += vlen;
	}
	if (cur != NULL)
		field_finish(cur, vstart, vlen);

	if ((r = headers_structured(h, flags)) < 0)
		goto out;
	if (used != NULL)
		*used = consumed;
	*out = h;
	h = NULL; /* transferred */
	r = 0;
out:
	psm_mime_headers_free(h);
	return r;
}

void
psm_mime_headers_free(psm_mime_headers *h)
{
	if (h == NULL)
		return;
	free(h->raw);
	free(h->arena);
	free(h->fields);
	psm_mime_ctype_free(h->ct);
	free(h->cte_token);
	free(h);
}

size_t
psm_mime_headers_count(const psm_mime_headers *h)
{
	return h->n;
}

const psm_mime_field *
psm_mime_headers_at(const psm_mime_headers *h, size_t i)
{
	return i < h->n ? &h->fields[i] : NULL;
}

const psm_mime_field *
psm_mime_headers_find_next(const psm_mime_headers *h, const psm_mime_field *prev,
                           const char *name)
{
	size_t i = prev == NULL ? 0 : (size_t)(prev - h->fields) + 1;

	for (; i < h->n; i++) {
		if (ascii_casecmp(h->fields[i].name, name) == 0)
			return &h->fields[i];
	}
	return NULL;
}

const psm_mime_field *
psm_mime_headers_find(const psm_mime_headers *h, const char *name)
{
	return psm_mime_headers_find_next(h, NULL, name);
}

const unsigned char *
psm_mime_headers_raw(const psm_mime_headers *h, size_t *len)
{
	*len = h->raw_len;
	return h->raw;
}

const psm_mime_ctype *
psm_mime_headers_ctype(const psm_mime_headers *h)
{
	return h->ct;
}

psm_mime_cte
psm_mime_headers_cte(const psm_mime_headers *h, const char **token)
{
	if (token != NULL)
		*token = h->cte_token;
	return h->cte;
}

/* ------------------------------------------------------------------ */
/* Structured values: RFC 2045 section 5.1 with RFC 822 comments       */

struct lex {
	const char *p;
	const char *end;
};

static int
is_tspecial(int c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static int
is_token_char(int c)
{
	return c > 32 && c < 127 && !is_tspecial(c);
}

/* Skip white space, line ends and (nested) comments. -1 for an
 * unterminated comment. */
static int
skip_cfws(struct lex *l)
{
	int depth;

	for (;;) {
		while (l->p < l->end && (is_wsp((unsigned char)*l->p) || *l->p == '\r' || *l->p == '\n'))
			l->p++;
		if (l->p >= l->end || *l->p != '(')
			return 0;
		depth = 0;
		while (l->p < l->end) {
			char c = *l->p++;

			if (c == '\\' && l->p < l->end)
				l->p++;
			else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				break;
		}
		if (depth != 0)
			return -1;
	}
}

static size_t
token_len(const struct lex *l)
{
	const char *q = l->p;

	while (q < l->end && is_token_char((unsigned char)*q))
		q++;
	return (size_t)(q - l->p);
}

/* One parameter as written, before RFC 2231 sections are joined. */
struct rawparam {
	char *name;                 /* lower-cased base name */
	long section;               /* -1: none */
	int extended;               /* "*" at the end of the name */
	char *value;
	size_t len;
};

struct rawparams {
	struct rawparam *v;
	size_t n, cap;
};

static void
rawparams_clear(struct rawparams *rp)
{
	size_t i;

	for (i = 0; i < rp->n; i++) {
		free(rp->v[i].name);
		free(rp->v[i].value);
	}
	free(rp->v);
	memset(rp, 0, sizeof(*rp));
}

/* Skip the rest of a parameter that does not parse: up to the next ';'
 * outside a quoted string, or the end. */
static void
skip_param(struct lex *l)
{
	int q = 0;

	while (l->p < l->end) {
		char c = *l->p;

		if (q && c == '\\' && l->p + 1 < l->end) {
			l->p += 2;
			continue;
		}
		if (c == '"')
			q = !q;
		else if (c == ';' && !q)
			return;
		l->p++;
	}
}

/* "name", "name*", "name*N" or "name*N*". 0, or -1 when it is none. */
static int
split_param_name(const char *p, size_t n, size_t *base, long *section, int *extended)
{
	const char *star = memchr(p, '*', n);
	size_t i;
	long sec = 0;

	*section = -1;
	*extended = 0;
	*base = star == NULL ? n : (size_t)(star - p);
	if (*base == 0)
		return -1;
	if (star == NULL)
		return 0;
	i = *base + 1;
	if (i == n) {
		*extended = 1;
		return 0;
	}
	if (p[i] < '0' || p[i] > '9')
		return -1;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		sec = sec * 10 + (p[i] - '0');
		if (sec > 9999)
			return -1;
	}
	*section = sec;
	if (i == n)
		return 0;
	if (p[i] == '*' && i + 1 == n) {
		*extended = 1;
		return 0;
	}
	return -1;
}

/* Parse "; attr=value" pairs into rp. Parameters that do not parse are
 * skipped. -1 for an unterminated comment, PSM_ERR_NOMEM. */
static int
lex_params(struct lex *l, struct rawparams *rp)
{
	for (;;) {
		const char *name, *v;
		size_t nlen, base, vlen;
		struct rawparam *p;
		char *value;
		long section;
		int ext;

		if (skip_cfws(l) < 0)
			return -1;
		if (l->p >= l->end)
			return 0;
		if (*l->p == ';') {
			l->p++;
			continue;
		}
		name = l->p;
		nlen = token_len(l);
		if (nlen == 0 || split_param_name(name, nlen, &base, &section, &ext) < 0) {
			skip_param(l);
			continue;
		}
		l->p += nlen;
		if (skip_cfws(l) < 0)
			return -1;
		if (l->p >= l->end || *l->p != '=') {
			skip_param(l);
			continue;
		}
		l->p++;
		if (skip_cfws(l) < 0)
			return -1;
		if (l->p < l->end && *l->p == '"') {
			char *w;

			/* quoted-string: unquote, undo quoted-pairs */
			l->p++;
			v = l->p;
			if ((value = malloc((size_t)(l->end - v) + 1)) == NULL)
				return PSM_ERR_NOMEM;
			w = value;
			while (l->p < l->end && *l->p != '"') {
				if (*l->p == '\\' && l->p + 1 < l->end)
					l->p++;
				*w++ = *l->p++;
			}
			if (l->p >= l->end) {
				free(value);
				skip_param(l);
				continue;
			}
			l->p++;
			vlen = (size_t)(w - value);
			*w = '\0';
		} else {
			/* a token; leniently anything up to ';', WSP, '(' or '"'
			 * ("boundary=----=_Part_1" is common) */
			v = l->p;
			while (l->p < l->end) {
				unsigned char c = (unsigned char)*l->p;

				if (c == ';' || c == '(' || c == '"' || c < 33 || c == 127)
					break;
				l->p++;
			}
			vlen = (size_t)(l->p - v);
			if ((value = dup_mem(v, vlen)) == NULL)
				return PSM_ERR_NOMEM;
		}
		if (skip_cfws(l) < 0) {
			free(value);
			return -1;
		}
		if (l->p < l->end && *l->p != ';') {
			free(value);
			skip_param(l);
			continue;
		}
		if (rp->n == rp->cap) {
			size_t cap = rp->cap ? rp->cap * 2 : 8;
			struct rawparam *g = realloc(rp->v, cap * sizeof(*g));

			if (g == NULL) {
				free(value);
				return PSM_ERR_NOMEM;
			}
			rp->v = g;
			rp->cap = cap;
		}
		p = &rp->v[rp->n];
		if ((p->name = dup_lower(name, base)) == NULL) {
			free(value);
			return PSM_ERR_NOMEM;
		}
		p->section = section;
		p->extended = ext;
		p->value = value;
		p->len = vlen;
		rp->n++;
	}
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Append the percent-decoded s[0..n) to *w (RFC 2231 ext-octet). An
 * invalid escape is kept as written. */
static void
pct_decode(char **w, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			*(*w)++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*(*w)++ = s[i];
		}
	}
}

/* Split "charset'language'rest": 0 with the parts, -1 when there are not
 * two quotes. */
static int
split_ext(const char *s, size_t n, const char **cs, size_t *cslen, const char **lang,
          size_t *langlen, const char **rest, size_t *restlen)
{
	const char *q1 = memchr(s, '\'', n), *q2;

	if (q1 == NULL)
		return -1;
	q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - s));
	if (q2 == NULL)
		return -1;
	*cs = s;
	*cslen = (size_t)(q1 - s);
	*lang = q1 + 1;
	*langlen = (size_t)(q2 - q1 - 1);
	*rest = q2 + 1;
	*restlen = n - (size_t)(q2 + 1 - s);
	return 0;
}

static void
param_free_fields(psm_mime_param *p)
{
	free(p->name);
	free(p->value);
	free(p->charset);
	free(p->language);
}

static void
params_free(psm_mime_param *params, size_t n)
{
	size_t i;

	for (i = 0; params != NULL && i < n; i++)
		param_free_fields(&params[i]);
	free(params);
}

/* Join the raw parameters rp->v[grp[0..n)] (all of one name, in input
 * order) into out: 0, 1 when they make no parameter (only stray RFC 2231
 * sections), PSM_ERR_MALFORMED when a name or section repeats. */
static int
join_param(const struct rawparams *rp, const size_t *grp, size_t n, psm_mime_param *out)
{
	const char *name = rp->v[grp[0]].name;
	const struct rawparam *plain = NULL, *ext = NULL;
	const struct rawparam **sec = NULL;
	size_t i, nsec = 0, total = 0;
	char *w;
	int r = PSM_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	if ((sec = calloc(n, sizeof(*sec))) == NULL)
		return PSM_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const struct rawparam *p = &rp->v[grp[i]];

		if (p->section < 0 && !p->extended) {
			if (plain != NULL)
				goto dup;
			plain = p;
		} else if (p->section < 0) {
			if (ext != NULL)
				goto dup;
			ext = p;
		} else {
			if ((size_t)p->section >= n)
				continue;       /* cannot be contiguous from 0 */
			if (sec[p->section] != NULL)
				goto dup;
			sec[p->section] = p;
			nsec++;
		}
	}
	if (ext != NULL && nsec > 0)
		goto dup;
	if ((out->name = dup_mem(name, strlen(name))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	/* RFC 2231 sections, contiguous from 0; a gap ends the value */
	if (nsec > 0 && sec[0] != NULL) {
		for (nsec = 0; nsec < n && sec[nsec] != NULL; nsec++)
			total += sec[nsec]->len;
	} else {
		nsec = 0;
	}
	if (nsec == 0 && ext == NULL && plain == NULL) {
		r = 1;
		goto out;
	}
	if (nsec == 0)
		total = ext != NULL ? ext->len : plain->len;
	if ((out->value = malloc(total + 1)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	w = out->value;
	for (i = 0; i < (nsec > 0 ? nsec : 1); i++) {
		const struct rawparam *p = nsec > 0 ? sec[i] : (ext != NULL ? ext : plain);
		const char *cs, *lang, *rest;
		size_t cslen, langlen, restlen;

		if (!p->extended) {
			memcpy(w, p->value, p->len);
			w += p->len;
		} else if (i == 0 &&
		           split_ext(p->value, p->len, &cs, &cslen, &lang, &langlen, &rest, &restlen) == 0) {
			if (cslen > 0 && (out->charset = dup_lower(cs, cslen)) == NULL) {
				r = PSM_ERR_NOMEM;
				goto out;
			}
			if (langlen > 0 && (out->language = dup_mem(lang, langlen)) == NULL) {
				r = PSM_ERR_NOMEM;
				goto out;
			}
			pct_decode(&w, rest, restlen);
		} else {
			pct_decode(&w, p->value, p->len);
		}
	}
	*w = '\0';
	out->value_len = (size_t)(w - out->value);
	r = 0;
	goto out;
dup:
	psm_error_set("parameter \"%s\" given more than once", name);
	r = PSM_ERR_MALFORMED;
out:
	free(sec);
	if (r != 0)
		param_free_fields(out);
	return r;
}

struct key {
	const char *name;
	size_t pos;
};

/* By name, then input order (qsort is not stable). */
static int
by_name(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

struct joined {
	size_t first;               /* input position of the first occurrence */
	psm_mime_param p;
};

static int
by_first(const void *a, const void *b)
{
	const struct joined *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Parameters of a Content-Type or Content-Disposition after its type, in
 * the order their names first appear; O(n log n) in their number. */
static int
parse_params(struct lex *l, psm_mime_param **out, size_t *nout)
{
	struct rawparams rp;
	struct joined *j = NULL;
	struct key *key = NULL;
	psm_mime_param *params = NULL;
	size_t *idx = NULL, i, g, n = 0;
	int r = PSM_ERR_INTERNAL, k;

	*out = NULL;
	*nout = 0;
	memset(&rp, 0, sizeof(rp));
	if ((k = lex_params(l, &rp)) < 0) {
		r = k == -1 ? PSM_ERR_MALFORMED : k;
		if (k == -1)
			psm_error_set("unterminated comment in a parameter list");
		goto out;
	}
	if ((idx = calloc(rp.n > 0 ? rp.n : 1, sizeof(*idx))) == NULL ||
	    (key = calloc(rp.n > 0 ? rp.n : 1, sizeof(*key))) == NULL ||
	    (j = calloc(rp.n > 0 ? rp.n : 1, sizeof(*j))) == NULL ||
	    (params = calloc(rp.n > 0 ? rp.n : 1, sizeof(*params))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < rp.n; i++) {
		key[i].name = rp.v[i].name;
		key[i].pos = i;
	}
	qsort(key, rp.n, sizeof(*key), by_name);
	for (i = 0; i < rp.n; i++)
		idx[i] = key[i].pos;
	for (i = 0; i < rp.n; i = g) {
		for (g = i + 1; g < rp.n && strcmp(rp.v[idx[g]].name, rp.v[idx[i]].name) == 0; g++)
			;
		if ((k = join_param(&rp, idx + i, g - i, &j[n].p)) < 0) {
			r = k;
			goto out;
		}
		if (k == 0)
			j[n++].first = idx[i];
	}
	qsort(j, n, sizeof(*j), by_first);
	for (i = 0; i < n; i++)
		params[i] = j[i].p;
	*out = params;
	*nout = n;
	params = NULL; /* transferred */
	n = 0;
	r = 0;
out:
	for (i = 0; j != NULL && i < n; i++)
		param_free_fields(&j[i].p);
	free(params);
	free(j);
	free(key);
	free(idx);
	rawparams_clear(&rp);
	return r;
}

int
psm_mime_ctype_parse(const char *value, psm_mime_ctype **out)
{
	struct lex l = { value, value + strlen(value) };
	psm_mime_ctype *ct = NULL;
	const char *type, *sub;
	size_t tlen, slen;
	char ex[64];
	int r = PSM_ERR_MALFORMED;

	*out = NULL;
	if (skip_cfws(&l) < 0 || (tlen = token_len(&l)) == 0)
		goto bad;
	type = l.p;
	l.p += tlen;
	if (skip_cfws(&l) < 0 || l.p >= l.end || *l.p != '/')
		goto bad;
	l.p++;
	if (skip_cfws(&l) < 0 || (slen = token_len(&l)) == 0)
		goto bad;
	sub = l.p;
	l.p += slen;
	if (skip_cfws(&l) < 0 || (l.p < l.end && *l.p != ';'))
		goto bad;
	if ((ct = calloc(1, sizeof(*ct))) == NULL ||
	    (ct->type = dup_lower(type, tlen)) == NULL ||
	    (ct->subtype = dup_lower(sub, slen)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	if ((r = parse_params(&l, &ct->params, &ct->nparams)) < 0)
		goto out;
	*out = ct;
	ct = NULL; /* transferred */
	r = 0;
	goto out;
bad:
	psm_error_set("Content-Type does not parse: \"%s\"",
	              excerpt(ex, sizeof(ex), (const unsigned char *)value, strlen(value)));
out:
	psm_mime_ctype_free(ct);
	return r;
}

int
psm_mime_ctype_default(psm_mime_ctype **out)
{
	psm_mime_ctype *ct = NULL;
	int r = PSM_ERR_NOMEM;

	*out = NULL;
	if ((ct = calloc(1, sizeof(*ct))) == NULL ||
	    (ct->type = dup_mem("text", 4)) == NULL ||
	    (ct->subtype = dup_mem("plain", 5)) == NULL ||
	    (ct->params = calloc(1, sizeof(*ct->params))) == NULL)
		goto out;
	ct->nparams = 1;
	if ((ct->params[0].name = dup_mem("charset", 7)) == NULL ||
	    (ct->params[0].value = dup_mem("us-ascii", 8)) == NULL)
		goto out;
	ct->params[0].value_len = 8;
	ct->defaulted = 1;
	*out = ct;
	ct = NULL; /* transferred */
	r = 0;
out:
	psm_mime_ctype_free(ct);
	return r;
}

void
psm_mime_ctype_free(psm_mime_ctype *ct)
{
	if (ct == NULL)
		return;
	free(ct->type);
	free(ct->subtype);
	params_free(ct->params, ct->nparams);
	free(ct);
}

int
psm_mime_ctype_is(const psm_mime_ctype *ct, const char *type, const char *subtype)
{
	if (ascii_casecmp(ct->type, type) != 0)
		return 0;
	return subtype == NULL || ascii_casecmp(ct->subtype, subtype) == 0;
}

const psm_mime_param *
psm_mime_param_find(const psm_mime_param *params, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ascii_casecmp(params[i].name, name) == 0)
			return &params[i];
	}
	return NULL;
}

const char *
psm_mime_ctype_param(const psm_mime_ctype *ct, const char *name)
{
	const psm_mime_param *p = psm_mime_param_find(ct->params, ct->nparams, name);

	return p != NULL ? p->value : NULL;
}

int
psm_mime_disp_parse(const char *value, psm_mime_disp **out)
{
	struct lex l = { value, value + strlen(value) };
	psm_mime_disp *d = NULL;
	const char *type;
	size_t tlen;
	char ex[64];
	int r = PSM_ERR_MALFORMED;

	*out = NULL;
	if (skip_cfws(&l) < 0 || (tlen = token_len(&l)) == 0)
		goto bad;
	type = l.p;
	l.p += tlen;
	if (skip_cfws(&l) < 0 || (l.p < l.end && *l.p != ';'))
		goto bad;
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->type = dup_lower(type, tlen)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	if ((r = parse_params(&l, &d->params, &d->nparams)) < 0)
		goto out;
	*out = d;
	d = NULL; /* transferred */
	r = 0;
	goto out;
bad:
	psm_error_set("Content-Disposition does not parse: \"%s\"",
	              excerpt(ex, sizeof(ex), (const unsigned char *)value, strlen(value)));
out:
	psm_mime_disp_free(d);
	return r;
}

void
psm_mime_disp_free(psm_mime_disp *d)
{
	if (d == NULL)
		return;
	free(d->type);
	params_free(d->params, d->nparams);
	free(d);
}

int
psm_mime_cte_parse(const char *value, psm_mime_cte *cte, char **token)
{
	static const struct {
		const char *name;
		psm_mime_cte cte;
	} known[] = {
		{ "7bit", PSM_MIME_CTE_7BIT },
		{ "8bit", PSM_MIME_CTE_8BIT },
		{ "binary", PSM_MIME_CTE_BINARY },
		{ "quoted-printable", PSM_MIME_CTE_QP },
		{ "base64", PSM_MIME_CTE_BASE64 },
	};
	struct lex l;
	const char *t;
	char *tok = NULL, ex[64];
	size_t tlen, i;

	*cte = PSM_MIME_CTE_OTHER;
	if (token != NULL)
		*token = NULL;
	if (value == NULL) {
		*cte = PSM_MIME_CTE_7BIT;
		t = "7bit";
		tlen = 4;
	} else {
		l.p = value;
		l.end = value + strlen(value);
		if (skip_cfws(&l) < 0 || (tlen = token_len(&l)) == 0)
			goto bad;
		t = l.p;
		l.p += tlen;
		if (skip_cfws(&l) < 0 || l.p < l.end)
			goto bad;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			size_t k;

			if (strlen(known[i].name) != tlen)
				continue;
			for (k = 0; k < tlen && lower((unsigned char)t[k]) == known[i].name[k]; k++)
				;
			if (k == tlen)
				break;
		}
		*cte = i < sizeof(known) / sizeof(known[0]) ? known[i].cte : PSM_MIME_CTE_OTHER;
	}
	if (token != NULL) {
		if ((tok = dup_lower(t, tlen)) == NULL)
			return PSM_ERR_NOMEM;
		*token = tok;
	}
	return 0;
bad:
	psm_error_set("Content-Transfer-Encoding does not parse: \"%s\"",
	              excerpt(ex, sizeof(ex), (const unsigned char *)value, strlen(value)));
	return PSM_ERR_MALFORMED;
}

/* ------------------------------------------------------------------ */
/* Address lists: RFC 5322 section 3.4 (and the obsolete forms of 4.4) */

enum { T_ATOM, T_QSTR, T_DLIT, T_SPECIAL };

struct atok {
	int type;
	char c;                     /* T_SPECIAL */
	const char *p;              /* T_ATOM, T_DLIT: in the value; T_QSTR: in
	                               the scratch buffer (unescaped) */
	size_t n;
};

static int
is_addr_special(int c)
{
	return c != '\0' && strchr("()<>[]:;@\\,.\"", c) != NULL;
}

/* 1 when s[0..n) is a dot-atom (RFC 5322 section 3.2.3), i.e. needs no
 * quotes as a local part. */
static int
is_dot_atom(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' ? s[i + 1] == '.' : (c <= 32 || c == 127 || is_addr_special(c)))
			return 0;
	}
	return 1;
}

/* Append "local@domain" from the tokens, or 1 when they hold no "@". */
static int
addr_from_tokens(const struct atok *t, size_t n, char ***list, size_t *count)
{
	size_t i, at = n, len = 0, k;
	char *local = NULL, *s = NULL, **grown, *w;
	int quoted = 0, r = PSM_ERR_MALFORMED;

	for (i = 0; i < n; i++) {
		if (t[i].type == T_SPECIAL && t[i].c == '@') {
			at = i;
			break;
		}
	}
	if (n == 0 || at == n)
		return 1;
	/* local-part: word *("." word) */
	for (i = 0; i < at; i++) {
		if (i % 2 == 0 ? (t[i].type != T_ATOM && t[i].type != T_QSTR) :
		    (t[i].type != T_SPECIAL || t[i].c != '.'))
			goto bad;
		len += t[i].n;
		quoted |= t[i].type == T_QSTR;
	}
	if (at == 0 || at % 2 == 0)
		goto bad;
	/* domain: atom *("." atom) / domain-literal */
	if (at + 1 >= n)
		goto bad;
	if (t[at + 1].type == T_DLIT) {
		if (at + 2 != n)
			goto bad;
		len += t[at + 1].n;
	} else {
		for (i = at + 1; i < n; i++) {
			if ((i - at) % 2 == 1 ? t[i].type != T_ATOM :
			    (t[i].type != T_SPECIAL || t[i].c != '.'))
				goto bad;
			len += t[i].n;
		}
		if ((n - at) % 2 != 0)
			goto bad;
	}
	len += n;                   /* dots, "@" */
	if ((local = malloc(len + 1)) == NULL || (s = malloc(2 * len + 4)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	for (i = 0, k = 0; i < at; i++) {
		memcpy(local + k, i % 2 == 0 ? t[i].p : ".", i % 2 == 0 ? t[i].n : 1);
		k += i % 2 == 0 ? t[i].n : 1;
	}
	w = s;
	if (quoted && !is_dot_atom(local, k)) {
		*w++ = '"';
		for (i = 0; i < k; i++) {
			if (local[i] == '"' || local[i] == '\\')
				*w++ = '\\';
			*w++ = local[i];
		}
		*w++ = '"';
	} else {
		memcpy(w, local, k);
		w += k;
	}
	*w++ = '@';
	for (i = at + 1; i < n; i++) {
		if (t[i].type == T_SPECIAL) {
			*w++ = t[i].c;
		} else {
			memcpy(w, t[i].p, t[i].n);
			w += t[i].n;
		}
	}
	*w = '\0';
	for (w = s; *w != '\0'; w++)
		*w = (char)lower((unsigned char)*w);
	for (i = 0; i < *count; i++) {
		if (strcmp((*list)[i], s) == 0) {
			r = 0;
			goto out;       /* already listed */
		}
	}
	if ((grown = realloc(*list, (*count + 2) * sizeof(*grown))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	*list = grown;
	grown[(*count)++] = s;
	grown[*count] = NULL;
	s = NULL; /* transferred */
	r = 0;
	goto out;
bad:
	psm_error_set("address does not parse");
out:
	free(local);
	free(s);
	return r;
}

int
psm_mime_addr_list(const char *value, char ***out)
{
	size_t vlen = strlen(value), ntok = 0, count = 0;
	struct atok *toks = NULL;
	char *scratch = NULL, *sw, **list = NULL;
	const char *p = value, *end = value + vlen;
	int angle = 0, got_angle = 0, r = PSM_ERR_INTERNAL, k;

	*out = NULL;
	if ((toks = calloc(vlen + 1, sizeof(*toks))) == NULL ||
	    (scratch = malloc(vlen + 1)) == NULL ||
	    (list = calloc(1, sizeof(*list))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	sw = scratch;
	for (;;) {
		struct atok t;
		int entry_end = 0;

		memset(&t, 0, sizeof(t));
		while (p < end && (is_wsp((unsigned char)*p) || *p == '\r' || *p == '\n'))
			p++;
		if (p >= end) {
			entry_end = 2;
		} else if (*p == '(') {
			struct lex l = { p, end };

			if (skip_cfws(&l) < 0) {
				psm_error_set("unterminated comment in an address list");
				r = PSM_ERR_MALFORMED;
				goto out;
			}
			p = l.p;
			continue;
		} else if (*p == '"') {
			t.type = T_QSTR;
			t.p = sw;
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				*sw++ = *p;
			}
			if (p >= end) {
				psm_error_set("unterminated quoted string in an address list");
				r = PSM_ERR_MALFORMED;
				goto out;
			}
			p++;
			t.n = (size_t)(sw - t.p);
		} else if (*p == '[') {
			t.type = T_DLIT;
			t.p = p;
			for (p++; p < end && *p != ']'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
			}
			if (p >= end) {
				psm_error_set("unterminated domain literal in an address list");
				r = PSM_ERR_MALFORMED;
				goto out;
			}
			p++;
			t.n = (size_t)(p - t.p);
		} else if (is_addr_special((unsigned char)*p)) {
			t.type = T_SPECIAL;
			t.c = *p++;
		} else {
			t.type = T_ATOM;
			t.p = p;
			while (p < end && (unsigned char)*p > 32 && *p != 127 &&
			       !is_addr_special((unsigned char)*p))
				p++;
			if (p == t.p)
				p++;    /* a control character: an atom of its own */
			t.n = (size_t)(p - t.p);
		}

		if (entry_end == 0 && t.type == T_SPECIAL) {
			switch (t.c) {
			case '<':
				if (angle || got_angle)
					goto bad_angle;
				angle = 1;
				ntok = 0;       /* what came before was a display name */
				continue;
			case '>':
				if (!angle)
					goto bad_angle;
				angle = 0;
				got_angle = 1;
				continue;
			case ':':
				/* group name, or an obsolete route inside <> */
				ntok = 0;
				continue;
			case ',':
				if (angle) {
					ntok = 0;       /* obs-route "@a,@b:" */
					continue;
				}
				entry_end = 1;
				break;
			case ';':
				if (angle)
					goto bad_angle;
				entry_end = 1;
				break;
			default:
				break;
			}
		}
		if (entry_end) {
			if (angle) {
				psm_error_set("unterminated angle address in an address list");
				r = PSM_ERR_MALFORMED;
				goto out;
			}
			if ((k = addr_from_tokens(toks, ntok, &list, &count)) < 0) {
				r = k;
				goto out;
			}
			ntok = 0;
			got_angle = 0;
			if (entry_end == 2)
				break;
			continue;
		}
		if (!got_angle)
			toks[ntok++] = t;
	}
	*out = list;
	list = NULL; /* transferred */
	r = 0;
	goto out;
bad_angle:
	psm_error_set("misplaced angle bracket in an address list");
	r = PSM_ERR_MALFORMED;
out:
	psm_mime_addr_list_free(list);
	free(toks);
	free(scratch);
	return r;
}

void
psm_mime_addr_list_free(char **list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
}
