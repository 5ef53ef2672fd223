/* Unit tests for core/mime_reader.c: the streaming MIME reader.
 *
 * Every run records the events twice: per entity (its body, preamble,
 * epilogue and PART_RAW bytes, for exact comparisons) and as a canonical
 * trace in which the data between two structural events is merged per
 * stream, so that feeding in any chunk sizes must give the same trace.
 *
 * The corpus test takes the real signed messages in ../shared/corpus
 * (or $P11SMIME_CORPUS): for each multipart/signed, part 0's PART_RAW must
 * equal an independent whole-buffer split, and `openssl cms -verify
 * -noverify` must judge the detached signature over our part 0 exactly as
 * it judges the message split by OpenSSL's own MIME parser. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "error.h"
#include "mime_reader.h"

#define POISON ((void *)(uintptr_t)0x5a5a5a5a)

/* ------------------------------------------------------------------ */
/* Recording events                                                    */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	buf_add(b, tmp, (size_t)n);
}

static const char *
buf_str(const struct buf *b)
{
	return b->p != NULL ? (const char *)b->p : "";
}

struct ent {
	unsigned depth;
	size_t index;
	char type[96];
	int mp;
	char boundary[128];
	size_t nfields;
	struct buf raw, body, pre, epi;
	int ended;
	unsigned flags;
};

struct pend {
	int type;
	size_t ord;
	struct buf b;
};

struct trace {
	struct ent *e;
	size_t n, cap;
	size_t cur[128];            /* entity at each depth */
	struct buf log;
	struct pend pend[128];
	size_t npend;
	size_t events;
	size_t abort_at;            /* return 42 at this event (1-based), 0: never */
};

static void
trace_free(struct trace *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->e[i].raw.p);
		free(t->e[i].body.p);
		free(t->e[i].pre.p);
		free(t->e[i].epi.p);
	}
	free(t->e);
	for (i = 0; i < sizeof(t->pend) / sizeof(t->pend[0]); i++)
		free(t->pend[i].b.p);
	free(t->log.p);
	memset(t, 0, sizeof(*t));
}

static int
pend_cmp(const void *a, const void *b)
{
	const struct pend *x = a, *y = b;

	if (x->type != y->type)
		return x->type - y->type;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static void
flush_pending(struct trace *t)
{
	static const char *names[] = { "?", "BEGIN", "BODY", "PRE", "EPI", "RAW", "END" };
	size_t i, k;

	qsort(t->pend, t->npend, sizeof(t->pend[0]), pend_cmp);
	for (i = 0; i < t->npend; i++) {
		struct pend *p = &t->pend[i];

		buf_printf(&t->log, "%s#%zu:%zu:", names[p->type], p->ord, p->b.len);
		for (k = 0; k < p->b.len; k++) {
			unsigned char c = p->b.p[k];

			if (c >= 0x20 && c < 0x7f && c != '\\')
				buf_add(&t->log, &c, 1);
			else
				buf_printf(&t->log, "\\x%02x", c);
		}
		buf_add(&t->log, "\n", 1);
		p->b.len = 0;
	}
	t->npend = 0;
}

static int
record(void *ud, const psm_mime_event *ev)
{
	struct trace *t = ud;
	struct ent *e;
	size_t i;

	t->events++;
	if (t->abort_at != 0 && t->events == t->abort_at)
		return 42;
	assert_true(ev->depth < 128);
	switch (ev->type) {
	case PSM_MIME_ENTITY_BEGIN:
		flush_pending(t);
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			t->e = realloc(t->e, t->cap * sizeof(*t->e));
			assert_non_null(t->e);
		}
		e = &t->e[t->n];
		memset(e, 0, sizeof(*e));
		e->depth = ev->depth;
		e->index = ev->index;
		snprintf(e->type, sizeof(e->type), "%s/%s", ev->ctype->type, ev->ctype->subtype);
		e->mp = ev->is_multipart;
		assert_int_equal(ev->is_multipart, ev->boundary != NULL);
		if (ev->boundary != NULL)
			snprintf(e->boundary, sizeof(e->boundary), "%s", ev->boundary);
		e->nfields = psm_mime_headers_count(ev->headers);
		/* a parent must be open one level up */
		if (ev->depth > 0)
			assert_false(t->e[t->cur[ev->depth - 1]].ended);
		else
			assert_int_equal(t->n, 0);
		t->cur[ev->depth] = t->n++;
		buf_printf(&t->log, "BEGIN#%zu d=%u i=%zu %s mp=%d b=%s n=%zu\n", t->n - 1, ev->depth,
		           ev->index, e->type, e->mp, e->boundary, e->nfields);
		return 0;
	case PSM_MIME_ENTITY_END:
		flush_pending(t);
		e = &t->e[t->cur[ev->depth]];
		assert_false(e->ended);
		assert_int_equal(e->index, ev->index);
		assert_non_null(ev->headers);
		e->ended = 1;
		e->flags = ev->flags;
		buf_printf(&t->log, "END#%zu flags=%u\n", t->cur[ev->depth], ev->flags);
		return 0;
	default:
		break;
	}
	assert_true(ev->len > 0);
	e = &t->e[t->cur[ev->depth]];
	/* data only inside an open entity, for its own index */
	assert_false(e->ended);
	assert_int_equal(e->index, ev->index);
	switch (ev->type) {
	case PSM_MIME_BODY:
		assert_false(e->mp);
		buf_add(&e->body, ev->data, ev->len);
		break;
	case PSM_MIME_PREAMBLE:
		assert_true(e->mp);
		buf_add(&e->pre, ev->data, ev->len);
		break;
	case PSM_MIME_EPILOGUE:
		assert_true(e->mp);
		buf_add(&e->epi, ev->data, ev->len);
		break;
	case PSM_MIME_PART_RAW:
		assert_true(ev->depth > 0);
		buf_add(&e->raw, ev->data, ev->len);
		break;
	default:
		fail();
	}
	for (i = 0; i < t->npend; i++) {
		if (t->pend[i].type == (int)ev->type && t->pend[i].ord == t->cur[ev->depth])
			break;
	}
	if (i == t->npend) {
		assert_true(t->npend < sizeof(t->pend) / sizeof(t->pend[0]));
		t->pend[t->npend].type = (int)ev->type;
		t->pend[t->npend].ord = t->cur[ev->depth];
		t->npend++;
	}
	buf_add(&t->pend[i].b, ev->data, ev->len);
	return 0;
}

/* Feed msg in chunks of step bytes (0: all at once; (size_t)-1: random
 * sizes from seed) and finish. The first non-zero result. */
static int
run_ex(struct trace *t, const void *msg, size_t len, size_t step, unsigned seed,
       const psm_mime_limits *lim)
{
	const unsigned char *p = msg;
	psm_mime_reader *r = POISON;
	size_t i, n;
	int k = 0;

	memset(t, 0, sizeof(*t));
	assert_int_equal(psm_mime_reader_new(lim, record, t, &r), 0);
	assert_ptr_not_equal(r, POISON);
	srand(seed);
	for (i = 0; i < len && k == 0; i += n) {
		n = step == 0 ? len : step == (size_t)-1 ? 1 + (size_t)rand() % 97 : step;
		if (n > len - i)
			n = len - i;
		k = psm_mime_reader_feed(r, p + i, n);
	}
	if (k == 0)
		k = psm_mime_reader_finish(r);
	if (k == 0) {
		for (i = 0; i < t->n; i++)
			assert_true(t->e[i].ended);
	}
	psm_mime_reader_free(r);
	return k;
}

static void
run_ok(struct trace *t, const char *msg)
{
	assert_int_equal(run_ex(t, msg, strlen(msg), 0, 0, NULL), 0);
}

static void
assert_bytes(const struct buf *b, const char *want)
{
	if (b->len != strlen(want) || (b->len > 0 && memcmp(b->p, want, b->len) != 0)) {
		print_error("got %zu bytes [%s]\nwant %zu bytes [%s]\n", b->len, buf_str(b),
		            strlen(want), want);
		fail();
	}
}

/* s with every CRLF made LF (malloc'd). */
static char *
lf_only(const char *s)
{
	char *d = malloc(strlen(s) + 1), *w = d;

	assert_non_null(d);
	for (; *s != '\0'; s++) {
		if (s[0] == '\r' && s[1] == '\n')
			continue;
		*w++ = *s;
	}
	*w = '\0';
	return d;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

static const char msg_mixed[] =
	"From: alice@example.com\r\n"
	"Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n"
	"\r\n"
	"preamble line 1\r\n"
	"preamble line 2\r\n"
	"--XyZ\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"hello\r\n"
	"world\r\n"
	"--XyZ\r\n"
	"\r\n"
	"second part, no headers, blank line at the end\r\n"
	"\r\n"
	"--XyZ--\r\n"
	"epilogue 1\r\n"
	"epilogue 2\r\n";

static const char msg_nested3[] =
	"Content-Type: multipart/mixed; boundary=\"L0\"\r\n"
	"\r\n"
	"--L0\r\n"
	"Content-Type: multipart/alternative; boundary=\"L1\"\r\n"
	"\r\n"
	"--L1\r\n"
	"Content-Type: multipart/related; boundary=\"L2\"\r\n"
	"\r\n"
	"--L2\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"deep\r\n"
	"--L2--\r\n"
	"--L1\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>html</p>\r\n"
	"--L1--\r\n"
	"--L0\r\n"
	"Content-Type: application/octet-stream\r\n"
	"\r\n"
	"last\r\n"
	"--L0--\r\n";

static const char msg_padding[] =
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b \t \r\n"
	"\r\n"
	"one\r\n"
	"--b\t\r\n"
	"\r\n"
	"two\r\n"
	"--b--  \t\r\n";

static const char msg_prefix_lines[] =
	"Content-Type: multipart/mixed; boundary=XyZ\r\n"
	"\r\n"
	"--XyZ\r\n"
	"\r\n"
	"--XyZa\r\n"
	"--XyZ-\r\n"
	"--XyZ--x\r\n"
	"--XyZ x\r\n"
	"--XyZ---\r\n"
	" --XyZ\r\n"
	"---XyZ\r\n"
	"--xyz\r\n"
	"--XyZ\r\r\n"
	"--Xy\r\n"
	"-\r\n"
	"--XyZ--\r\n";

static const char *const all_msgs[] = { msg_mixed, msg_nested3, msg_padding, msg_prefix_lines };

/* ------------------------------------------------------------------ */
/* Structure and exact bytes                                           */

static void
test_reader_leaf_message_body_exact(void **state)
{
	struct trace t;

	run_ok(&t, "Subject: x\r\nContent-Type: Text/Plain; charset=utf-8\r\n\r\nline 1\r\n--x\r\nend");
	assert_int_equal(t.n, 1);
	assert_string_equal(t.e[0].type, "text/plain");
	assert_int_equal(t.e[0].nfields, 2);
	assert_false(t.e[0].mp);
	assert_bytes(&t.e[0].body, "line 1\r\n--x\r\nend");
	assert_int_equal(t.e[0].raw.len, 0);  /* the message is no body part */
	trace_free(&t);
}

static void
test_reader_multipart_parts_and_raw_crlf(void **state)
{
	struct trace t;

	run_ok(&t, msg_mixed);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.e[0].type, "multipart/mixed");
	assert_true(t.e[0].mp);
	assert_string_equal(t.e[0].boundary, "XyZ");
	assert_int_equal(t.e[1].depth, 1);
	assert_int_equal(t.e[1].index, 0);
	assert_int_equal(t.e[2].index, 1);
	/* the CRLF before each delimiter belongs to the delimiter */
	assert_bytes(&t.e[1].raw, "Content-Type: text/plain\r\n\r\nhello\r\nworld");
	assert_bytes(&t.e[1].body, "hello\r\nworld");
	assert_bytes(&t.e[2].raw, "\r\nsecond part, no headers, blank line at the end\r\n");
	assert_bytes(&t.e[2].body, "second part, no headers, blank line at the end\r\n");
	assert_string_equal(t.e[2].type, "text/plain");
	assert_int_equal(t.e[0].flags, 0);
	trace_free(&t);
}

static void
test_reader_preamble_and_epilogue(void **state)
{
	struct trace t;

	run_ok(&t, msg_mixed);
	assert_bytes(&t.e[0].pre, "preamble line 1\r\npreamble line 2");
	/* close-delimiter [CRLF epilogue]: that CRLF is not epilogue */
	assert_bytes(&t.e[0].epi, "epilogue 1\r\nepilogue 2\r\n");
	trace_free(&t);
}

static void
test_reader_lf_only_raw_exact(void **state)
{
	char *m = lf_only(msg_mixed);
	struct trace t;

	run_ok(&t, m);
	assert_int_equal(t.n, 3);
	assert_bytes(&t.e[0].pre, "preamble line 1\npreamble line 2");
	assert_bytes(&t.e[1].raw, "Content-Type: text/plain\n\nhello\nworld");
	assert_bytes(&t.e[2].raw, "\nsecond part, no headers, blank line at the end\n");
	assert_bytes(&t.e[0].epi, "epilogue 1\nepilogue 2\n");
	trace_free(&t);
	free(m);
}

static void
test_reader_mixed_line_ends_each_kept(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=b\n"
	           "\r\n"
	           "--b\r\n"
	           "A: 1\n"
	           "\r\n"
	           "x\n"
	           "y\r\n"
	           "--b--\n");
	assert_bytes(&t.e[1].raw, "A: 1\n\r\nx\ny");
	assert_bytes(&t.e[1].body, "x\ny");
	trace_free(&t);
}

static void
test_reader_transport_padding_after_boundary(void **state)
{
	struct trace t;

	run_ok(&t, msg_padding);
	assert_int_equal(t.n, 3);
	assert_bytes(&t.e[1].body, "one");
	assert_bytes(&t.e[2].body, "two");
	assert_int_equal(t.e[0].flags, 0);
	assert_int_equal(t.e[0].epi.len, 0);
	trace_free(&t);
}

static void
test_reader_lines_starting_with_boundary_are_data(void **state)
{
	struct trace t;

	run_ok(&t, msg_prefix_lines);
	assert_int_equal(t.n, 2);
	assert_bytes(&t.e[1].body, "--XyZa\r\n--XyZ-\r\n--XyZ--x\r\n--XyZ x\r\n--XyZ---\r\n"
	                           " --XyZ\r\n---XyZ\r\n--xyz\r\n--XyZ\r\r\n--Xy\r\n-");
	assert_int_equal(t.e[0].flags, 0);
	trace_free(&t);
}

static void
test_reader_nested_three_levels(void **state)
{
	struct trace t;

	run_ok(&t, msg_nested3);
	assert_int_equal(t.n, 6);
	assert_string_equal(t.e[1].type, "multipart/alternative");
	assert_string_equal(t.e[2].type, "multipart/related");
	assert_string_equal(t.e[3].type, "text/plain");
	assert_int_equal(t.e[3].depth, 3);
	assert_string_equal(t.e[4].type, "text/html");
	assert_int_equal(t.e[4].depth, 2);
	assert_int_equal(t.e[4].index, 1);
	assert_int_equal(t.e[5].depth, 1);
	assert_int_equal(t.e[5].index, 1);
	assert_bytes(&t.e[3].body, "deep");
	assert_bytes(&t.e[3].raw, "Content-Type: text/plain\r\n\r\ndeep");
	assert_bytes(&t.e[2].raw, "Content-Type: multipart/related; boundary=\"L2\"\r\n\r\n"
	                          "--L2\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--L2--");
	assert_bytes(&t.e[1].raw, "Content-Type: multipart/alternative; boundary=\"L1\"\r\n\r\n"
	                          "--L1\r\nContent-Type: multipart/related; boundary=\"L2\"\r\n\r\n"
	                          "--L2\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--L2--\r\n"
	                          "--L1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--L1--");
	assert_bytes(&t.e[5].raw, "Content-Type: application/octet-stream\r\n\r\nlast");
	for (size_t i = 0; i < t.n; i++)
		assert_int_equal(t.e[i].flags, 0);
	trace_free(&t);
}

static void
test_reader_inner_boundary_extending_outer(void **state)
{
	struct trace t;

	/* inner "abcd" starts with outer "abc" */
	run_ok(&t, "Content-Type: multipart/mixed; boundary=abc\r\n\r\n"
	           "--abc\r\n"
	           "Content-Type: multipart/mixed; boundary=abcd\r\n\r\n"
	           "--abcd\r\n\r\ninner\r\n--abcd--\r\n"
	           "--abc--\r\n");
	assert_int_equal(t.n, 3);
	assert_bytes(&t.e[2].body, "inner");
	assert_int_equal(t.e[1].flags, 0);
	assert_int_equal(t.e[0].flags, 0);
	trace_free(&t);

	/* and the other way round: outer "abcd", inner "abc" */
	run_ok(&t, "Content-Type: multipart/mixed; boundary=abcd\r\n\r\n"
	           "--abcd\r\n"
	           "Content-Type: multipart/mixed; boundary=abc\r\n\r\n"
	           "--abc\r\n\r\ninner\r\n--abc--\r\n"
	           "--abcd--\r\n");
	assert_int_equal(t.n, 3);
	assert_bytes(&t.e[2].body, "inner");
	assert_int_equal(t.e[1].flags, 0);
	assert_int_equal(t.e[0].flags, 0);
	trace_free(&t);
}

static void
test_reader_outer_delimiter_truncates_inner(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
	           "--outer\r\n"
	           "Content-Type: multipart/mixed; boundary=inner\r\n\r\n"
	           "--inner\r\n\r\ntext\r\n"
	           "--outer\r\n"
	           "Content-Type: text/plain\r\n\r\nafter\r\n"
	           "--outer--\r\n");
	assert_int_equal(t.n, 4);
	assert_bytes(&t.e[2].body, "text");
	assert_int_equal(t.e[2].flags, 0);
	assert_int_equal(t.e[1].flags, PSM_MIME_TRUNCATED);
	assert_bytes(&t.e[1].raw, "Content-Type: multipart/mixed; boundary=inner\r\n\r\n"
	                          "--inner\r\n\r\ntext");
	assert_int_equal(t.e[3].depth, 1);
	assert_int_equal(t.e[3].index, 1);
	assert_bytes(&t.e[3].body, "after");
	assert_int_equal(t.e[0].flags, 0);
	trace_free(&t);
}

static void
test_reader_same_boundary_nested_outer_wins(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=same\r\n\r\n"
	           "--same\r\n"
	           "Content-Type: multipart/mixed; boundary=same\r\n\r\n"
	           "--same\r\n\r\nx\r\n"
	           "--same--\r\n");
	/* RFC 2046: the outer boundary cannot occur inside its parts */
	assert_int_equal(t.n, 3);
	assert_int_equal(t.e[1].flags, PSM_MIME_TRUNCATED);
	assert_int_equal(t.e[2].depth, 1);
	assert_int_equal(t.e[2].index, 1);
	assert_bytes(&t.e[2].body, "x");
	assert_int_equal(t.e[0].flags, 0);
	trace_free(&t);
}

static void
test_reader_missing_close_delimiter_truncated(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/signed; boundary=s\r\n\r\n"
	           "--s\r\n\r\nsigned\r\n"
	           "--s\r\nContent-Type: application/pkcs7-signature\r\n\r\nAAAA\r\n");
	assert_int_equal(t.n, 3);
	assert_int_equal(t.e[0].flags, PSM_MIME_TRUNCATED);
	assert_int_equal(t.e[1].flags, 0);
	assert_bytes(&t.e[2].body, "AAAA\r\n");
	trace_free(&t);

	/* no delimiter at all: all preamble */
	run_ok(&t, "Content-Type: multipart/mixed; boundary=s\r\n\r\nhello\r\n");
	assert_int_equal(t.n, 1);
	assert_bytes(&t.e[0].pre, "hello\r\n");
	assert_int_equal(t.e[0].flags, PSM_MIME_TRUNCATED);
	trace_free(&t);
}

static void
test_reader_open_delimiter_at_end_reports_no_part(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n\r\na\r\n--s\r\n");
	assert_int_equal(t.n, 2);
	assert_int_equal(t.e[0].flags, PSM_MIME_TRUNCATED);
	trace_free(&t);
	run_ok(&t, "Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n\r\na\r\n--s");
	assert_int_equal(t.n, 2);
	assert_bytes(&t.e[1].body, "a");
	assert_int_equal(t.e[0].flags, PSM_MIME_TRUNCATED);
	trace_free(&t);
}

static void
test_reader_close_delimiter_at_end_without_line_end(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=s\n\n--s\n\na\n--s--");
	assert_int_equal(t.n, 2);
	assert_bytes(&t.e[1].body, "a");
	assert_int_equal(t.e[0].flags, 0);
	assert_int_equal(t.e[0].epi.len, 0);
	trace_free(&t);
}

static void
test_reader_empty_part_between_delimiters(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n--s\r\n\r\nb\r\n--s--\r\n");
	assert_int_equal(t.n, 3);
	assert_int_equal(t.e[1].nfields, 0);
	assert_int_equal(t.e[1].raw.len, 0);
	assert_int_equal(t.e[1].body.len, 0);
	assert_bytes(&t.e[2].body, "b");
	trace_free(&t);
}

static void
test_reader_part_without_empty_line(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=s\r\n\r\n"
	           "--s\r\nContent-Type: text/plain\r\n--s\r\n"
	           "Content-Type: text/html\r\n\r\n--s--\r\n");
	assert_int_equal(t.n, 3);
	assert_int_equal(t.e[1].nfields, 1);
	assert_bytes(&t.e[1].raw, "Content-Type: text/plain");
	/* the empty line's CRLF is the delimiter's: RFC 2046 body-part grammar */
	assert_string_equal(t.e[2].type, "text/html");
	assert_bytes(&t.e[2].raw, "Content-Type: text/html\r\n");
	assert_int_equal(t.e[2].body.len, 0);
	trace_free(&t);
}

static void
test_reader_headerless_part_rejected_by_default(void **state)
{
	static const char m[] = "Content-Type: multipart/signed; boundary=s\n\n"
	                        "--s\nThis is the content to be signed.\n\n--s--\n";
	struct trace t;

	psm_error_clear();
	assert_int_equal(run_ex(&t, m, strlen(m), 0, 0, NULL), PSM_ERR_MALFORMED);
	assert_non_null(strstr(psm_error_detail(), "without a colon"));
	trace_free(&t);
}

static void
test_reader_headerless_part_read_when_asked(void **state)
{
	static const char m[] = "Content-Type: multipart/signed; boundary=s\n\n"
	                        "--s\nThis is the content to be signed.\n\n--s--\n";
	psm_mime_limits lim;
	struct trace t, t1;

	memset(&lim, 0, sizeof(lim));
	lim.flags = PSM_MIME_READ_HEADERLESS_PARTS;
	assert_int_equal(run_ex(&t, m, strlen(m), 0, 0, &lim), 0);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.e[1].nfields, 0);
	assert_bytes(&t.e[1].body, "This is the content to be signed.\n");
	assert_bytes(&t.e[1].raw, "This is the content to be signed.\n");
	assert_int_equal(run_ex(&t1, m, strlen(m), 1, 0, &lim), 0);
	assert_string_equal(buf_str(&t.log), buf_str(&t1.log));
	trace_free(&t);
	trace_free(&t1);
}

static void
test_reader_malformed_header_in_part(void **state)
{
	static const char m[] = "Content-Type: multipart/mixed; boundary=s\r\n\r\n"
	                        "--s\r\nContent-Type: text/plain\r\nnot a header\r\n\r\nx\r\n--s--\r\n";
	struct trace t;

	assert_int_equal(run_ex(&t, m, strlen(m), 0, 0, NULL), PSM_ERR_MALFORMED);
	trace_free(&t);
}

static void
test_reader_lone_cr_is_data(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=s\r\n\r\n"
	           "--s\r\n\r\na\rb\r\r\n--s\r--s\r\n\r--s--\r\n");
	assert_int_equal(t.n, 2);
	/* no delimiter came: the last line end is the body's too */
	assert_bytes(&t.e[1].body, "a\rb\r\r\n--s\r--s\r\n\r--s--\r\n");
	assert_int_equal(t.e[0].flags, PSM_MIME_TRUNCATED);
	trace_free(&t);
}

static void
test_reader_multipart_without_boundary_is_leaf(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\ny\r\n");
	assert_int_equal(t.n, 1);
	assert_false(t.e[0].mp);
	assert_bytes(&t.e[0].body, "--x\r\n\r\ny\r\n");
	trace_free(&t);
}

static void
test_reader_digest_parts_default_to_message_rfc822(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/digest; boundary=d\r\n\r\n"
	           "--d\r\n\r\nFrom: x@y\r\n\r\nhi\r\n--d--\r\n");
	assert_int_equal(t.n, 2);
	assert_string_equal(t.e[1].type, "message/rfc822");
	/* message/rfc822 is a leaf: its header block is body here */
	assert_bytes(&t.e[1].body, "From: x@y\r\n\r\nhi");
	trace_free(&t);
}

static void
test_reader_own_boundary_after_close_is_epilogue(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=s\r\n\r\n"
	           "--s\r\n\r\na\r\n--s--\r\n--s\r\nmore\r\n");
	assert_int_equal(t.n, 2);
	assert_bytes(&t.e[0].epi, "--s\r\nmore\r\n");
	assert_int_equal(t.e[0].flags, 0);
	trace_free(&t);
}

static void
test_reader_inner_epilogue_and_outer_delimiter(void **state)
{
	struct trace t;

	run_ok(&t, "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	           "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n"
	           "--i\r\n\r\nx\r\n--i--\r\ninner epilogue\r\n\r\n--o--\r\n");
	assert_int_equal(t.n, 3);
	assert_bytes(&t.e[1].epi, "inner epilogue\r\n");
	assert_bytes(&t.e[1].raw, "Content-Type: multipart/mixed; boundary=i\r\n\r\n"
	                          "--i\r\n\r\nx\r\n--i--\r\ninner epilogue\r\n");
	assert_int_equal(t.e[1].flags, 0);
	trace_free(&t);
}

static void
test_reader_empty_input_is_one_empty_entity(void **state)
{
	struct trace t;

	assert_int_equal(run_ex(&t, "", 0, 0, 0, NULL), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.e[0].nfields, 0);
	assert_string_equal(t.e[0].type, "text/plain");
	trace_free(&t);
	run_ok(&t, "Subject: only headers\r\nTo: a@b");
	assert_int_equal(t.n, 1);
	assert_int_equal(t.e[0].nfields, 2);
	assert_int_equal(t.e[0].body.len, 0);
	trace_free(&t);
}

static void
test_reader_boundary_with_line_end_rejected(void **state)
{
	static const char m[] = "Content-Type: multipart/mixed; boundary*=''a%0D%0Ab\r\n\r\nx";
	struct trace t;

	assert_int_equal(run_ex(&t, m, strlen(m), 0, 0, NULL), PSM_ERR_MALFORMED);
	trace_free(&t);
}

/* ------------------------------------------------------------------ */
/* Caps                                                                */

static void
expect_cap(const char *msg, const psm_mime_limits *lim, const char *cap)
{
	struct trace t;

	psm_error_clear();
	assert_int_equal(run_ex(&t, msg, strlen(msg), 0, 0, lim), PSM_ERR_MALFORMED);
	if (strstr(psm_error_detail(), cap) == NULL) {
		print_error("detail \"%s\" does not name %s\n", psm_error_detail(), cap);
		fail();
	}
	trace_free(&t);
	/* the same byte at a time */
	assert_int_equal(run_ex(&t, msg, strlen(msg), 1, 0, lim), PSM_ERR_MALFORMED);
	assert_non_null(strstr(psm_error_detail(), cap));
	trace_free(&t);
}

static void
test_reader_cap_header_block(void **state)
{
	psm_mime_limits lim;

	memset(&lim, 0, sizeof(lim));
	lim.max_header = 64;
	expect_cap("Subject: this header block is longer than sixty-four bytes, "
	           "which is the cap here\r\n\r\nbody", &lim, "max_header");
	/* a part's header block, too */
	expect_cap("Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n"
	           "X-Long: 0123456789012345678901234567890123456789012345678901234567890123\r\n"
	           "\r\n--s--\r\n", &lim, "max_header");
}

static void
test_reader_cap_header_block_default_64k(void **state)
{
	size_t n = 70 * 1024, i;
	char *m = malloc(n + 1);

	assert_non_null(m);
	memcpy(m, "X-Big: ", 7);
	for (i = 7; i < n; i++)
		m[i] = 'a';
	m[n] = '\0';
	expect_cap(m, NULL, "max_header");
	free(m);
}

static void
test_reader_cap_depth(void **state)
{
	psm_mime_limits lim;

	memset(&lim, 0, sizeof(lim));
	lim.max_depth = 2;
	expect_cap("Content-Type: multipart/mixed; boundary=a\r\n\r\n"
	           "--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	           "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
	           "--c\r\n\r\ntoo deep\r\n--c--\r\n--b--\r\n--a--\r\n", &lim, "max_depth");
}

static void
test_reader_cap_depth_default_32(void **state)
{
	struct buf m = { 0 };
	struct trace t;
	int i;

	for (i = 0; i < 33; i++)
		buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_printf(&m, "\r\nleaf at depth 33\r\n");
	psm_error_clear();
	assert_int_equal(run_ex(&t, m.p, m.len, 0, 0, NULL), PSM_ERR_MALFORMED);
	assert_non_null(strstr(psm_error_detail(), "max_depth (32)"));
	trace_free(&t);
	/* 32 is fine */
	m.len = 0;
	for (i = 0; i < 32; i++)
		buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_printf(&m, "\r\nleaf at depth 32\r\n");
	assert_int_equal(run_ex(&t, m.p, m.len, 0, 0, NULL), 0);
	assert_int_equal(t.n, 33);
	assert_int_equal(t.e[32].depth, 32);
	trace_free(&t);
	free(m.p);
}

static void
test_reader_cap_boundary_length(void **state)
{
	char m[256];
	struct trace t;

	/* 70 is allowed (RFC 2046), 71 is not */
	snprintf(m, sizeof(m), "Content-Type: multipart/mixed; boundary=\"%.70s\"\r\n\r\n",
	         "0123456789012345678901234567890123456789012345678901234567890123456789");
	assert_int_equal(run_ex(&t, m, strlen(m), 0, 0, NULL), 0);
	assert_true(t.e[0].mp);
	trace_free(&t);
	snprintf(m, sizeof(m), "Content-Type: multipart/mixed; boundary=\"%.71s\"\r\n\r\n",
	         "01234567890123456789012345678901234567890123456789012345678901234567890");
	expect_cap(m, NULL, "max_boundary");
}

static void
test_reader_cap_parts(void **state)
{
	psm_mime_limits lim;
	struct trace t;
	static const char m[] = "Content-Type: multipart/mixed; boundary=p\r\n\r\n"
	                        "--p\r\n\r\n1\r\n--p\r\n\r\n2\r\n--p\r\n\r\n3\r\n--p\r\n\r\n4\r\n--p--\r\n";

	memset(&lim, 0, sizeof(lim));
	lim.max_parts = 4;
	assert_int_equal(run_ex(&t, m, strlen(m), 0, 0, &lim), 0);
	trace_free(&t);
	lim.max_parts = 3;
	expect_cap(m, &lim, "max_parts");
}

static void
test_reader_long_line_passes_as_data(void **state)
{
	psm_mime_limits lim;
	struct buf m = { 0 }, want = { 0 };
	struct trace t;
	size_t i;

	memset(&lim, 0, sizeof(lim));
	lim.max_line = 80;
	buf_printf(&m, "Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n\r\n");
	/* a 10000-byte line, and a delimiter padded past max_line */
	for (i = 0; i < 10000; i++)
		buf_add(&want, "-", 1);
	buf_add(&want, "\r\n--s", 5);
	for (i = 0; i < 100; i++)
		buf_add(&want, " ", 1);
	buf_add(&m, want.p, want.len);
	buf_printf(&m, "\r\n--s  \r\n\r\nlast\r\n--s--\r\n");
	assert_int_equal(run_ex(&t, m.p, m.len, 0, 0, &lim), 0);
	assert_int_equal(t.n, 3);
	assert_bytes(&t.e[1].body, (const char *)want.p);
	assert_bytes(&t.e[2].body, "last");
	trace_free(&t);
	free(m.p);
	free(want.p);
}

static void
test_reader_new_rejects_inconsistent_limits(void **state)
{
	psm_mime_limits lim;
	psm_mime_reader *r = POISON;

	memset(&lim, 0xa5, sizeof(lim));
	psm_mime_limits_default(&lim);
	assert_int_equal(lim.flags, 0);
	assert_int_equal(lim.max_header, 65536);
	assert_int_equal(lim.max_line, 1048576);
	assert_int_equal(lim.max_depth, 32);
	assert_int_equal(lim.max_boundary, 70);
	assert_int_equal(lim.max_parts, 10000);
	lim.max_line = 20;
	assert_int_equal(psm_mime_reader_new(&lim, record, NULL, &r), PSM_ERR_USAGE);
	assert_null(r);
	r = POISON;
	assert_int_equal(psm_mime_reader_new(NULL, NULL, NULL, &r), PSM_ERR_USAGE);
	assert_null(r);
	psm_mime_reader_free(NULL);
}

/* ------------------------------------------------------------------ */
/* Control                                                             */

static void
test_reader_callback_abort_is_sticky(void **state)
{
	psm_mime_reader *r = NULL;
	struct trace t;

	memset(&t, 0, sizeof(t));
	t.abort_at = 3;
	assert_int_equal(psm_mime_reader_new(NULL, record, &t, &r), 0);
	assert_int_equal(psm_mime_reader_feed(r, msg_mixed, strlen(msg_mixed)), 42);
	assert_int_equal(t.events, 3);
	assert_int_equal(psm_mime_reader_feed(r, "x", 1), 42);
	assert_int_equal(psm_mime_reader_finish(r), 42);
	assert_int_equal(t.events, 3);
	psm_mime_reader_free(r);
	trace_free(&t);
}

static void
test_reader_error_is_sticky(void **state)
{
	psm_mime_limits lim;
	psm_mime_reader *r = NULL;
	struct trace t;

	memset(&t, 0, sizeof(t));
	memset(&lim, 0, sizeof(lim));
	lim.max_header = 32;
	assert_int_equal(psm_mime_reader_new(&lim, record, &t, &r), 0);
	assert_int_equal(psm_mime_reader_feed(r, "X: 0123456789012345678901234567890123\r\n", 39),
	                 PSM_ERR_MALFORMED);
	assert_int_equal(psm_mime_reader_feed(r, "\r\n", 2), PSM_ERR_MALFORMED);
	assert_int_equal(psm_mime_reader_finish(r), PSM_ERR_MALFORMED);
	assert_int_equal(t.events, 0);
	psm_mime_reader_free(r);
	trace_free(&t);
}

static void
test_reader_feed_after_finish_is_usage_error(void **state)
{
	psm_mime_reader *r = NULL;
	struct trace t;

	memset(&t, 0, sizeof(t));
	assert_int_equal(psm_mime_reader_new(NULL, record, &t, &r), 0);
	assert_int_equal(psm_mime_reader_feed(r, "A: b\r\n\r\nc", 9), 0);
	assert_int_equal(psm_mime_reader_finish(r), 0);
	assert_int_equal(psm_mime_reader_feed(r, "d", 1), PSM_ERR_USAGE);
	assert_int_equal(psm_mime_reader_finish(r), PSM_ERR_USAGE);
	psm_mime_reader_free(r);
	trace_free(&t);
}

/* ------------------------------------------------------------------ */
/* Chunking                                                            */

static void
assert_chunking_invariant(const void *m, size_t len, const psm_mime_limits *lim)
{
	struct trace one, other;
	size_t steps[] = { 1, 2, 3, 5, 7, 64 };
	size_t i;
	int k1, k2;

	k1 = run_ex(&one, m, len, 0, 0, lim);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]) + 3; i++) {
		if (i < sizeof(steps) / sizeof(steps[0]))
			k2 = run_ex(&other, m, len, steps[i], 0, lim);
		else
			k2 = run_ex(&other, m, len, (size_t)-1, (unsigned)i, lim);
		assert_int_equal(k1, k2);
		if (strcmp(buf_str(&one.log), buf_str(&other.log)) != 0) {
			print_error("one-shot:\n%s\nin chunks (%zu):\n%s\n", buf_str(&one.log),
			            i, buf_str(&other.log));
			fail();
		}
		trace_free(&other);
	}
	trace_free(&one);
}

static void
test_reader_byte_at_a_time_equals_one_shot(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(all_msgs) / sizeof(all_msgs[0]); i++) {
		char *lf = lf_only(all_msgs[i]);

		assert_chunking_invariant(all_msgs[i], strlen(all_msgs[i]), NULL);
		assert_chunking_invariant(lf, strlen(lf), NULL);
		free(lf);
	}
}

static void
test_reader_chunking_invariant_on_edge_cases(void **state)
{
	static const char *const edge[] = {
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n--s\r\n\r\nb\r\n--s--",
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\nA: 1\r\n--s\r\n\r\n--s--\r\n",
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n\r\na\rb\r\r\n--s\r--s\r\n\r",
		("Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
		 "Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--o--"),
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n",
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s",
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\nA: 1",
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\nA: 1\r\n",
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\nbad\r\n",
		"Subject: x\r\n",
		"",
		"\r\n",
		"\r\n\r\n--s--\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		assert_chunking_invariant(edge[i], strlen(edge[i]), NULL);
}

/* ------------------------------------------------------------------ */
/* 50 MB in constant memory                                            */

struct big {
	EVP_MD_CTX *raw0;           /* SHA-256 of PART_RAW of part 0 */
	size_t body0, raw0_len;
	size_t parts;
	unsigned end_flags;
	size_t peak_buffered;
	size_t mem_base, mem_peak;
	const psm_mime_reader *r;
};

static size_t
heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static int
big_cb(void *ud, const psm_mime_event *ev)
{
	struct big *b = ud;
	size_t now;

	switch (ev->type) {
	case PSM_MIME_ENTITY_BEGIN:
		if (ev->depth == 1)
			b->parts++;
		break;
	case PSM_MIME_BODY:
		if (ev->depth == 1 && ev->index == 0)
			b->body0 += ev->len;
		break;
	case PSM_MIME_PART_RAW:
		if (ev->depth == 1 && ev->index == 0) {
			b->raw0_len += ev->len;
			EVP_DigestUpdate(b->raw0, ev->data, ev->len);
		}
		break;
	case PSM_MIME_ENTITY_END:
		if (ev->depth == 0)
			b->end_flags = ev->flags;
		break;
	default:
		break;
	}
	if (b->r != NULL && psm_mime_reader_buffered(b->r) > b->peak_buffered)
		b->peak_buffered = psm_mime_reader_buffered(b->r);
	if ((now = heap_in_use()) > b->mem_peak)
		b->mem_peak = now;
	return 0;
}

static void
test_reader_50mb_body_streams_in_constant_memory(void **state)
{
	static const char head[] =
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
		"micalg=sha-256; boundary=\"----b\"\r\n\r\n"
		"------b\r\nContent-Type: application/octet-stream\r\n\r\n";
	static const char part0_head[] = "Content-Type: application/octet-stream\r\n\r\n";
	static const char tail[] =
		"\r\n------b\r\nContent-Type: application/pkcs7-signature\r\n\r\nMIAG\r\n------b--\r\n";
	const size_t total = 50u * 1024 * 1024;
	EVP_MD_CTX *want = EVP_MD_CTX_new();
	unsigned char d1[32], d2[32];
	unsigned char *chunk = malloc(65536);
	psm_mime_reader *r = NULL;
	struct big b;
	size_t sent = 0, line = 0, body = 0;

	assert_non_null(chunk);
	memset(&b, 0, sizeof(b));
	b.raw0 = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestInit_ex(b.raw0, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestInit_ex(want, EVP_sha256(), NULL), 1);
	EVP_DigestUpdate(want, part0_head, strlen(part0_head));

	assert_int_equal(psm_mime_reader_new(NULL, big_cb, &b, &r), 0);
	b.r = r;
	assert_int_equal(psm_mime_reader_feed(r, head, strlen(head)), 0);
	b.mem_base = b.mem_peak = heap_in_use();
	while (sent < total) {
		size_t n = 0;

		/* 80-byte lines; some look like the boundary without being it */
		while (n + 80 <= 65536 && sent + n + 80 <= total) {
			char *l = (char *)chunk + n;

			if (line % 997 == 0)
				memcpy(l, "------bx", 8);
			else if (line % 1009 == 0)
				memcpy(l, "------b--x", 10);
			else
				memcpy(l, "ABCDEFGHIJ", 10);
			memset(l + 10, 'a' + (int)(line % 26), 68);
			if (line % 1013 == 0)
				memcpy(l, "------b   \tz", 12);
			l[78] = '\r';
			l[79] = '\n';
			n += 80;
			line++;
		}
		if (n == 0)
			break;
		/* split unevenly so that lines cross feed boundaries */
		assert_int_equal(psm_mime_reader_feed(r, chunk, n / 3), 0);
		assert_int_equal(psm_mime_reader_feed(r, chunk + n / 3, n - n / 3), 0);
		EVP_DigestUpdate(want, chunk, n);
		sent += n;
		body += n;
	}
	assert_int_equal(psm_mime_reader_feed(r, tail, strlen(tail)), 0);
	assert_int_equal(psm_mime_reader_finish(r), 0);
	/* part 0 is its header block and every generated line; the CRLF that
	 * starts the tail is the delimiter's */
	EVP_DigestFinal_ex(b.raw0, d1, NULL);
	EVP_DigestFinal_ex(want, d2, NULL);
	assert_int_equal(b.raw0_len, strlen(part0_head) + body);
	assert_memory_equal(d1, d2, sizeof(d1));
	assert_int_equal(b.body0, body);
	assert_int_equal(b.parts, 2);
	assert_int_equal(b.end_flags, 0);
	assert_true(b.peak_buffered <= 4096);
	/* nothing grows with the input (mallinfo2 reads 0 under ASan) */
	assert_true(b.mem_peak - b.mem_base < 256 * 1024);
	psm_mime_reader_free(r);
	EVP_MD_CTX_free(b.raw0);
	EVP_MD_CTX_free(want);
	free(chunk);
}

/* ------------------------------------------------------------------ */
/* Real messages                                                       */

struct file {
	unsigned char *p;
	size_t len;
};

static int
read_file(const char *path, struct file *f)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (fp == NULL)
		return -1;
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 8 * 1024 * 1024) {
		fclose(fp);
		return -1;
	}
	f->p = malloc((size_t)st.st_size + 1);
	assert_non_null(f->p);
	f->len = fread(f->p, 1, (size_t)st.st_size, fp);
	fclose(fp);
	return 0;
}

static int
write_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");
	int ok;

	if (fp == NULL)
		return -1;
	ok = fwrite(p, 1, n, fp) == n;
	return fclose(fp) == 0 && ok ? 0 : -1;
}

static const char *
corpus_dir(void)
{
	static char path[4096];
	const char *e = getenv("P11SMIME_CORPUS"), *top = getenv("top_srcdir");
	struct stat st;

	if (e != NULL && stat(e, &st) == 0)
		return e;
	if (snprintf(path, sizeof(path), "%s/../shared/corpus", top != NULL ? top : "..") <
	    (int)sizeof(path) && stat(path, &st) == 0)
		return path;
	return NULL;
}

/* Part 0 of a multipart/signed split by a plain whole-buffer search for
 * delimiter lines, independent of the reader's state machine. */
static int
naive_part0(const struct file *f, const char *boundary, const unsigned char **p0, size_t *n0)
{
	size_t blen = strlen(boundary), pos = 0, start = 0, hits = 0;

	/* skip the message header block */
	while (pos < f->len) {
		const unsigned char *nl = memchr(f->p + pos, '\n', f->len - pos);
		size_t next = nl ? (size_t)(nl - f->p) + 1 : f->len;

		if (next - pos <= 2 && (f->p[pos] == '\n' || f->p[pos] == '\r')) {
			pos = next;
			break;
		}
		pos = next;
	}
	while (pos < f->len) {
		const unsigned char *nl = memchr(f->p + pos, '\n', f->len - pos);
		size_t next = nl ? (size_t)(nl - f->p) + 1 : f->len;
		size_t end = nl ? (size_t)(nl - f->p) : f->len, i;

		if (end > pos && f->p[end - 1] == '\r')
			end--;
		if (end - pos >= 2 + blen && memcmp(f->p + pos, "--", 2) == 0 &&
		    memcmp(f->p + pos + 2, boundary, blen) == 0) {
			i = pos + 2 + blen;
			if (end - i >= 2 && f->p[i] == '-' && f->p[i + 1] == '-')
				i += 2;
			while (i < end && (f->p[i] == ' ' || f->p[i] == '\t'))
				i++;
			if (i == end) {
				if (hits++ == 0) {
					start = next;
				} else {
					size_t e = pos;

					if (e > start && f->p[e - 1] == '\n')
						e--;
					if (e > start && f->p[e - 1] == '\r')
						e--;
					*p0 = f->p + start;
					*n0 = e - start;
					return 0;
				}
			}
		}
		pos = next;
	}
	return -1;
}

static int
openssl_verify_ok(const char *args)
{
	char cmd[8192];

	assert_true(snprintf(cmd, sizeof(cmd),
	                     "openssl cms -verify -noverify %s -out /dev/null >/dev/null 2>&1",
	                     args) < (int)sizeof(cmd));
	return system(cmd) == 0;
}

struct corpus_stats {
	size_t signed_msgs, ours_ok, agree, naive_equal;
};

static void
check_signed_file(const char *path, const char *tmp, struct corpus_stats *st)
{
	psm_mime_limits lim;
	struct trace t;
	struct file f;
	const unsigned char *p0 = NULL;
	size_t n0 = 0, i, sig_ent = 0, part0 = 0;
	char part_path[4200], sig_path[4200], msg_path[4200], args[9000];
	unsigned char *der;
	int theirs, ours, k, dlen;
	EVP_ENCODE_CTX *dec;

	if (read_file(path, &f) != 0)
		return;
	if (psm_mime_is_mbox_from_line(f.p, f.len)) {
		/* an mbox file: the caller skips the separator line */
		unsigned char *nl = memchr(f.p, '\n', f.len);
		size_t skip = nl != NULL ? (size_t)(nl - f.p) + 1 : f.len;

		memmove(f.p, f.p + skip, f.len - skip);
		f.len -= skip;
	}
	assert_true(snprintf(msg_path, sizeof(msg_path), "%s/msg.eml", tmp) < (int)sizeof(msg_path));
	assert_int_equal(write_file(msg_path, f.p, f.len), 0);
	memset(&lim, 0, sizeof(lim));
	lim.flags = PSM_MIME_READ_HEADERLESS_PARTS;
	k = run_ex(&t, f.p, f.len, 0, 0, &lim);
	if (k != 0 || t.n < 3 || strcmp(t.e[0].type, "multipart/signed") != 0 || !t.e[0].mp) {
		trace_free(&t);
		free(f.p);
		return;
	}
	st->signed_msgs++;
	/* any chunking gives the same events on real messages too */
	assert_chunking_invariant(f.p, f.len, &lim);

	for (i = 1; i < t.n; i++) {
		if (t.e[i].depth == 1 && t.e[i].index == 0)
			part0 = i;
		if (t.e[i].depth == 1 && t.e[i].index == 1)
			sig_ent = i;
	}
	assert_true(part0 > 0);
	if (naive_part0(&f, t.e[0].boundary, &p0, &n0) == 0) {
		if (n0 != t.e[part0].raw.len || memcmp(p0, t.e[part0].raw.p, n0) != 0) {
			print_error("%s: PART_RAW of part 0 differs from the plain split\n", path);
			fail();
		}
		st->naive_equal++;
	}
	if (sig_ent == 0)
		goto done;

	assert_true(snprintf(part_path, sizeof(part_path), "%s/part0", tmp) < (int)sizeof(part_path));
	assert_true(snprintf(sig_path, sizeof(sig_path), "%s/sig.der", tmp) < (int)sizeof(sig_path));
	/* what a verifier hashes: PART_RAW in canonical form, every bare LF
	 * made CRLF (RFC 8551 section 3.1.1; OpenSSL's parser does the same
	 * to the parts it splits) */
	{
		struct buf c = { 0 };
		const struct buf *raw = &t.e[part0].raw;

		for (i = 0; i < raw->len; i++) {
			if (raw->p[i] == '\n' && (i == 0 || raw->p[i - 1] != '\r'))
				buf_add(&c, "\r", 1);
			buf_add(&c, raw->p + i, 1);
		}
		assert_int_equal(write_file(part_path, c.p, c.len), 0);
		free(c.p);
	}
	der = malloc(t.e[sig_ent].body.len + 3);
	assert_non_null(der);
	dec = EVP_ENCODE_CTX_new();
	EVP_DecodeInit(dec);
	dlen = 0;
	if (EVP_DecodeUpdate(dec, der, &dlen, t.e[sig_ent].body.p, (int)t.e[sig_ent].body.len) >= 0) {
		int more = 0;

		EVP_DecodeFinal(dec, der + dlen, &more);
		dlen += more;
	}
	EVP_ENCODE_CTX_free(dec);
	assert_int_equal(write_file(sig_path, der, (size_t)dlen), 0);
	free(der);

	assert_true(snprintf(args, sizeof(args), "-in '%s'", msg_path) < (int)sizeof(args));
	theirs = openssl_verify_ok(args);
	assert_true(snprintf(args, sizeof(args), "-binary -inform DER -in '%s' -content '%s'",
	                     sig_path, part_path) < (int)sizeof(args));
	ours = openssl_verify_ok(args);
	if (ours != theirs) {
		print_error("%s: openssl says %d on its own split, %d on ours\n", path, theirs, ours);
		fail();
	}
	st->agree++;
	st->ours_ok += (size_t)ours;
done:
	trace_free(&t);
	free(f.p);
}

static void
test_reader_corpus_signed_part0_matches_openssl(void **state)
{
	static const char *const dirs[] = {
		"thunderbird/smime", "thunderbird/browser-smime-data", "thunderbird/smime-manual",
		"thunderbird/smime-interop", "openssl/smime-eml", "autocrypt-protected-headers",
		"notmuch/smime", "notmuch/corpora-pkcs7", "kde-mimetreeparser/testdata", "mimekit",
		"mimekit/rsa", "mimekit/ec",
	};
	const char *root = corpus_dir();
	char tmp[4096], path[4096], cmd[4200];
	const char *tmpdir = getenv("TMPDIR");
	struct corpus_stats st;
	size_t i;

	if (root == NULL || system("openssl version >/dev/null 2>&1") != 0) {
		/* like tests/integration/corpus-verify.sh: nothing to run */
		print_message("corpus (set P11SMIME_CORPUS) or openssl not found: not run\n");
		return;
	}
	if (tmpdir == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	assert_true(snprintf(tmp, sizeof(tmp), "%s/psm-mime-XXXXXX", tmpdir) < (int)sizeof(tmp));
	assert_non_null(mkdtemp(tmp));
	memset(&st, 0, sizeof(st));
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d;
		struct dirent *de;

		assert_true(snprintf(path, sizeof(path), "%s/%s", root, dirs[i]) < (int)sizeof(path));
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (snprintf(path, sizeof(path), "%s/%s/%s", root, dirs[i], de->d_name) >=
			    (int)sizeof(path))
				continue;
			check_signed_file(path, tmp, &st);
		}
		closedir(d);
	}
	assert_true(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp) < (int)sizeof(cmd));
	assert_int_equal(system(cmd), 0);
	print_message("corpus: %zu multipart/signed, %zu split like the plain search, "
	              "%zu judged alike by openssl, %zu of them verify\n",
	              st.signed_msgs, st.naive_equal, st.agree, st.ours_ok);
	assert_true(st.signed_msgs >= 10);
	assert_true(st.ours_ok >= 5);
	assert_int_equal(st.naive_equal, st.signed_msgs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_leaf_message_body_exact),
		cmocka_unit_test(test_reader_multipart_parts_and_raw_crlf),
		cmocka_unit_test(test_reader_preamble_and_epilogue),
		cmocka_unit_test(test_reader_lf_only_raw_exact),
		cmocka_unit_test(test_reader_mixed_line_ends_each_kept),
		cmocka_unit_test(test_reader_transport_padding_after_boundary),
		cmocka_unit_test(test_reader_lines_starting_with_boundary_are_data),
		cmocka_unit_test(test_reader_nested_three_levels),
		cmocka_unit_test(test_reader_inner_boundary_extending_outer),
		cmocka_unit_test(test_reader_outer_delimiter_truncates_inner),
		cmocka_unit_test(test_reader_same_boundary_nested_outer_wins),
		cmocka_unit_test(test_reader_missing_close_delimiter_truncated),
		cmocka_unit_test(test_reader_open_delimiter_at_end_reports_no_part),
		cmocka_unit_test(test_reader_close_delimiter_at_end_without_line_end),
		cmocka_unit_test(test_reader_empty_part_between_delimiters),
		cmocka_unit_test(test_reader_part_without_empty_line),
		cmocka_unit_test(test_reader_headerless_part_rejected_by_default),
		cmocka_unit_test(test_reader_headerless_part_read_when_asked),
		cmocka_unit_test(test_reader_malformed_header_in_part),
		cmocka_unit_test(test_reader_lone_cr_is_data),
		cmocka_unit_test(test_reader_multipart_without_boundary_is_leaf),
		cmocka_unit_test(test_reader_digest_parts_default_to_message_rfc822),
		cmocka_unit_test(test_reader_own_boundary_after_close_is_epilogue),
		cmocka_unit_test(test_reader_inner_epilogue_and_outer_delimiter),
		cmocka_unit_test(test_reader_empty_input_is_one_empty_entity),
		cmocka_unit_test(test_reader_boundary_with_line_end_rejected),
		cmocka_unit_test(test_reader_cap_header_block),
		cmocka_unit_test(test_reader_cap_header_block_default_64k),
		cmocka_unit_test(test_reader_cap_depth),
		cmocka_unit_test(test_reader_cap_depth_default_32),
		cmocka_unit_test(test_reader_cap_boundary_length),
		cmocka_unit_test(test_reader_cap_parts),
		cmocka_unit_test(test_reader_long_line_passes_as_data),
		cmocka_unit_test(test_reader_new_rejects_inconsistent_limits),
		cmocka_unit_test(test_reader_callback_abort_is_sticky),
		cmocka_unit_test(test_reader_error_is_sticky),
		cmocka_unit_test(test_reader_feed_after_finish_is_usage_error),
		cmocka_unit_test(test_reader_byte_at_a_time_equals_one_shot),
		cmocka_unit_test(test_reader_chunking_invariant_on_edge_cases),
		cmocka_unit_test(test_reader_50mb_body_streams_in_constant_memory),
		cmocka_unit_test(test_reader_corpus_signed_part0_matches_openssl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
