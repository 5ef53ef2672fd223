/* p11smime fuzz harnesses: the fuzz input handed out in chunks, as a
 * psm_pull_fn (core/cms_stream.h); the chunk size comes from the input's
 * first byte (see fuzz/README.md). */
#ifndef P11SMIME_FUZZ_PULL_H
#define P11SMIME_FUZZ_PULL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct src {
	const uint8_t *p;
	size_t len, pos, chunk;
};

static int
pull(void *ud, unsigned char *buf, size_t cap, size_t *got)
{
	struct src *s = ud;
	size_t n = s->len - s->pos;

	if (n > s->chunk)
		n = s->chunk;
	if (n > cap)
		n = cap;
	memcpy(buf, s->p + s->pos, n);
	s->pos += n;
	*got = n;
	return 0;
}

#endif
