/* libFuzzer harness: the streaming MIME reader (core/mime_reader.c) on
 * arbitrary bytes, with small limits so that every cap is reachable.
 *
 * The first input byte chooses where the rest is split in two feeds (and
 * bit 0 the headerless-parts option). The same input is also read in one
 * feed and, when short, one byte at a time: the events, with the data
 * between two structural events hashed per stream, must be identical, so
 * the fuzzer finds chunking bugs as well as memory errors. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mime_reader.h"

#define MAX_DEPTH 4u
#define NSTREAM (4 * (MAX_DEPTH + 1))

struct digest {
	uint64_t h;                 /* everything so far */
	uint64_t stream[NSTREAM];   /* data since the last structural event */
	uint64_t slen[NSTREAM];
	unsigned open;              /* entities begun and not ended */
};

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void
fold(struct digest *d)
{
	size_t i;

	for (i = 0; i < NSTREAM; i++) {
		if (d->slen[i] == 0)
			continue;
		d->h = fnv(d->h, &i, sizeof(i));
		d->h = fnv(d->h, &d->slen[i], sizeof(d->slen[i]));
		d->h = fnv(d->h, &d->stream[i], sizeof(d->stream[i]));
		d->slen[i] = 0;
		d->stream[i] = 0xcbf29ce484222325ULL;
	}
}

static int
cb(void *ud, const psm_mime_event *ev)
{
	struct digest *d = ud;
	uint64_t v[4];
	size_t i, k;

	if (ev->depth > MAX_DEPTH)
		__builtin_trap();
	switch (ev->type) {
	case PSM_MIME_ENTITY_BEGIN:
	case PSM_MIME_ENTITY_END:
		fold(d);
		if (ev->headers == NULL || ev->ctype == NULL ||
		    (ev->is_multipart != 0) != (ev->boundary != NULL))
			__builtin_trap();
		/* walk what the header block gives */
		for (i = 0; i < psm_mime_headers_count(ev->headers); i++) {
			const psm_mime_field *f = psm_mime_headers_at(ev->headers, i);

			if (f->raw_len == 0 || strlen(f->name) == 0)
				__builtin_trap();
			d->h = fnv(d->h, f->raw, f->raw_len);
		}
		for (k = 0; k < ev->ctype->nparams; k++)
			d->h = fnv(d->h, ev->ctype->params[k].value, ev->ctype->params[k].value_len);
		if (ev->type == PSM_MIME_ENTITY_BEGIN) {
			d->open++;
		} else {
			if (d->open == 0)
				__builtin_trap();
			d->open--;
		}
		v[0] = ev->type;
		v[1] = ev->depth;
		v[2] = ev->index;
		v[3] = ev->flags | (uint64_t)ev->is_multipart << 8 | (uint64_t)ev->cte << 16;
		d->h = fnv(d->h, v, sizeof(v));
		return 0;
	default:
		break;
	}
	if (ev->len == 0 || ev->data == NULL || ev->type < PSM_MIME_BODY ||
	    ev->type > PSM_MIME_PART_RAW || (ev->type == PSM_MIME_PART_RAW && ev->depth == 0))
		__builtin_trap();
	k = (size_t)(ev->type - PSM_MIME_BODY) * (MAX_DEPTH + 1) + ev->depth;
	d->stream[k] = fnv(d->stream[k], ev->data, ev->len);
	d->slen[k] += ev->len;
	return 0;
}

/* Read data[0..len) fed at the given cut points; the result and digest. */
static int
run(const psm_mime_limits *lim, const uint8_t *data, size_t len, size_t cut, int bytewise,
    uint64_t *out)
{
	psm_mime_reader *r = NULL;
	struct digest d;
	size_t i;
	int k;

	memset(&d, 0, sizeof(d));
	for (i = 0; i < NSTREAM; i++)
		d.stream[i] = 0xcbf29ce484222325ULL;
	if (psm_mime_reader_new(lim, cb, &d, &r) != 0)
		__builtin_trap();
	if (bytewise) {
		for (i = 0, k = 0; i < len && k == 0; i++)
			k = psm_mime_reader_feed(r, data + i, 1);
	} else {
		k = psm_mime_reader_feed(r, data, cut);
		if (k == 0)
			k = psm_mime_reader_feed(r, data + cut, len - cut);
	}
	if (k == 0) {
		k = psm_mime_reader_finish(r);
		if (k == 0 && d.open != 0)
			__builtin_trap();
	}
	/* the buffers stay within the caps */
	if (psm_mime_reader_buffered(r) > lim->max_header + lim->max_line)
		__builtin_trap();
	psm_mime_reader_free(r);
	fold(&d);
	*out = d.h;
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	psm_mime_limits lim;
	uint64_t h1, h2, h3;
	size_t len, cut;
	int k1, k2, k3;

	if (size < 1)
		return 0;
	memset(&lim, 0, sizeof(lim));
	lim.max_header = 512;
	lim.max_line = 40;
	lim.max_depth = MAX_DEPTH;
	lim.max_boundary = 16;
	lim.max_parts = 12;
	lim.flags = data[0] & 1 ? PSM_MIME_READ_HEADERLESS_PARTS : 0;
	len = size - 1;
	cut = len * (size_t)(data[0] >> 1) / 127;
	if (cut > len)
		cut = len;

	k1 = run(&lim, data + 1, len, len, 0, &h1);
	k2 = run(&lim, data + 1, len, cut, 0, &h2);
	if (k1 != k2 || (k1 == 0 && h1 != h2))
		__builtin_trap();
	if (len <= 4096) {
		k3 = run(&lim, data + 1, len, 0, 1, &h3);
		if (k1 != k3 || (k1 == 0 && h1 != h3))
			__builtin_trap();
	}
	return 0;
}
