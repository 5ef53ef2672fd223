/* p11smime: stream the content out of a BER SignedData (see cms_stream.h). */
#include "config.h"

#include "cms_stream.h"
#include "error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_META (16u * 1024 * 1024)   /* certificates, signer infos, ... */
#define MAX_DEPTH 64

static const unsigned char OID_SIGNED_DATA[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02
};

struct ber {
	psm_pull_fn pull;
	void *ud;
	unsigned char buf[65536];
	size_t pos, len;
	int eof;
	size_t off;            /* input bytes consumed so far */
	psm_sink_fn sink;
	void *sink_ud;
	unsigned char *out;    /* the detached SignedData being rebuilt */
	size_t nout, cap;
};

static int
bad(const char *what)
{
	psm_error_set("the signed-data is malformed: %s", what);
	return PSM_ERR_MALFORMED;
}

static int
fill(struct ber *b)
{
	int r;

	if (b->pos < b->len || b->eof)
		return 0;
	b->pos = 0;
	if ((r = b->pull(b->ud, b->buf, sizeof(b->buf), &b->len)) < 0)
		return r;
	if (b->len == 0)
		b->eof = 1;
	return 0;
}

static int
get_byte(struct ber *b, unsigned char *c)
{
	int r;

	if ((r = fill(b)) < 0)
		return r;
	if (b->pos >= b->len)
		return bad("it ends too early");
	*c = b->buf[b->pos++];
	b->off++;
	return 0;
}

static int
emit(struct ber *b, const void *p, size_t n)
{
	if (b->nout + n > MAX_META)
		return bad("its certificates and signer information are too large");
	if (b->nout + n > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 8192;
		unsigned char *g;

		while (ncap < b->nout + n)
			ncap *= 2;
		if ((g = realloc(b->out, ncap)) == NULL)
			return PSM_ERR_NOMEM;
		b->out = g;
		b->cap = ncap;
	}
	memcpy(b->out + b->nout, p, n);
	b->nout += n;
	return 0;
}

/* A TLV header. The raw header bytes are kept so they can be copied. */
struct hdr {
	unsigned tag;          /* first identifier octet (low tag numbers only) */
	int constructed;
	int indefinite;
	size_t len;
	unsigned char raw[12];
	size_t nraw;
};

static int
read_hdr(struct ber *b, struct hdr *h)
{
	unsigned char c;
	int r, i, n;

	memset(h, 0, sizeof(*h));
	if ((r = get_byte(b, &c)) < 0)
		return r;
	h->raw[h->nraw++] = c;
	if ((c & 0x1f) == 0x1f)
		return bad("high tag numbers are not used in CMS");
	h->tag = c;
	h->constructed = (c & 0x20) != 0;
	if ((r = get_byte(b, &c)) < 0)
		return r;
	h->raw[h->nraw++] = c;
	if (c == 0x80) {
		if (!h->constructed)
			return bad("a primitive element has an indefinite length");
		h->indefinite = 1;
		return 0;
	}
	if (c < 0x80) {
		h->len = c;
		return 0;
	}
	n = c & 0x7f;
	if (n > 8)
		return bad("a length is too large");
	for (i = 0; i < n; i++) {
		if ((r = get_byte(b, &c)) < 0)
			return r;
		h->raw[h->nraw++] = c;
		if (h->len > (SIZE_MAX >> 8))
			return bad("a length is too large");
		h->len = (h->len << 8) | c;
	}
	return 0;
}

/* Move n bytes of the input to the sink (content) or to the output. */
static int
move_bytes(struct ber *b, size_t n, int to_sink)
{
	int r;

	while (n > 0) {
		size_t k;

		if ((r = fill(b)) < 0)
			return r;
		if (b->pos >= b->len)
			return bad("it ends too early");
		k = b->len - b->pos < n ? b->len - b->pos : n;
		r = to_sink ? b->sink(b->sink_ud, b->buf + b->pos, k) : emit(b, b->buf + b->pos, k);
		if (r < 0)
			return r;
		b->pos += k;
		b->off += k;
		n -= k;
	}
	return 0;
}

static int is_eoc(const struct hdr *h) { return h->tag == 0 && h->len == 0 && !h->indefinite; }

/* Copy one whole element whose header h was just read. */
static int
copy_element(struct ber *b, const struct hdr *h, int depth)
{
	struct hdr sub;
	int r;

	if (depth > MAX_DEPTH)
		return bad("it nests too deeply");
	if ((r = emit(b, h->raw, h->nraw)) < 0)
		return r;
	if (!h->indefinite)
		return move_bytes(b, h->len, 0);
	for (;;) {
		if ((r = read_hdr(b, &sub)) < 0)
			return r;
		if (is_eoc(&sub))
			return emit(b, "\0\0", 2);
		if ((r = copy_element(b, &sub, depth + 1)) < 0)
			return r;
	}
}

/* Stream an OCTET STRING (primitive, or constructed of pieces) to the sink. */
static int
stream_octets(struct ber *b, const struct hdr *h, int depth)
{
	struct hdr sub;
	size_t end = b->off + h->len;
	int r;

	if (depth > MAX_DEPTH)
		return bad("it nests too deeply");
	if ((h->tag & 0x1f) != 0x04)
		return bad("the content is not an OCTET STRING");
	if (!h->constructed)
		return move_bytes(b, h->len, 1);
	for (;;) {
		if (!h->indefinite && b->off >= end)
			return b->off == end ? 0 : bad("a length does not add up");
		if ((r = read_hdr(b, &sub)) < 0)
			return r;
		if (is_eoc(&sub))
			return h->indefinite ? 0 : bad("an end-of-contents inside a definite length");
		if ((r = stream_octets(b, &sub, depth + 1)) < 0)
			return r;
	}
}

/* Read exactly the header of a definite or indefinite element and check
 * its tag; opening it means its children follow. */
static int
expect(struct ber *b, struct hdr *h, unsigned tag, const char *what)
{
	int r;

	if ((r = read_hdr(b, h)) < 0)
		return r;
	if (h->tag != tag)
		return bad(what);
	return 0;
}

/* Children of a constructed element until it ends: definite (by input
 * offset) or indefinite (by end-of-contents). Returns 1 while there is
 * another child (its header in *child), 0 at the end. */
struct frame {
	int indefinite;
	size_t end;
};

static int
next_child(struct ber *b, struct frame *f, struct hdr *child)
{
	int r;

	if (!f->indefinite && b->off >= f->end)
		return b->off == f->end ? 0 : bad("a length does not add up");
	if ((r = read_hdr(b, child)) < 0)
		return r;
	if (is_eoc(child))
		return f->indefinite ? 0 : bad("an end-of-contents inside a definite length");
	if (!f->indefinite && !child->indefinite && b->off + child->len > f->end)
		return bad("a length does not add up");
	return 1;
}

/* Called right after h's header was read. */
static void
frame_of(struct ber *b, const struct hdr *h, struct frame *f)
{
	f->indefinite = h->indefinite;
	f->end = b->off + h->len;
}

static const unsigned char EOC[2] = { 0, 0 };
static const unsigned char SEQ_INDEF[2] = { 0x30, 0x80 };
static const unsigned char CTX0_INDEF[2] = { 0xa0, 0x80 };

int
psm_cms_detach_stream(psm_pull_fn pull, void *pull_ud, psm_sink_fn sink, void *sink_ud,
                      unsigned char **der, size_t *der_len)
{
	struct ber *b;
	struct hdr h, ci, ctx0, sd, eci, child;
	struct frame fci, fctx, fsd, feci;
	unsigned char oid[sizeof(OID_SIGNED_DATA)];
	int r, n = 0, k;

	*der = NULL;
	*der_len = 0;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return PSM_ERR_NOMEM;
	b->pull = pull;
	b->ud = pull_ud;
	b->sink = sink;
	b->sink_ud = sink_ud;

	/* ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content } */
	if ((r = expect(b, &ci, 0x30, "it is not a ContentInfo")) < 0)
		goto out;
	frame_of(b, &ci, &fci);
	if ((r = next_child(b, &fci, &h)) <= 0) {
		r = r < 0 ? r : bad("it has no content type");
		goto out;
	}
	if (h.tag != 0x06 || h.len + 2 != sizeof(OID_SIGNED_DATA)) {
		r = bad("it is not a SignedData");
		goto out;
	}
	memcpy(oid, h.raw, 2);
	for (k = 2; k < (int)sizeof(oid); k++)
		if ((r = get_byte(b, &oid[k])) < 0)
			goto out;
	if (memcmp(oid, OID_SIGNED_DATA, sizeof(oid)) != 0) {
		r = bad("it is not a SignedData");
		goto out;
	}
	if ((r = next_child(b, &fci, &ctx0)) <= 0 || ctx0.tag != 0xa0) {
		r = r < 0 ? r : bad("it has no content");
		goto out;
	}
	frame_of(b, &ctx0, &fctx);
	if ((r = emit(b, SEQ_INDEF, 2)) < 0 || (r = emit(b, oid, sizeof(oid))) < 0 ||
	    (r = emit(b, CTX0_INDEF, 2)) < 0)
		goto out;

	/* SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, ... } */
	if ((r = next_child(b, &fctx, &sd)) <= 0 || sd.tag != 0x30) {
		r = r < 0 ? r : bad("the SignedData is missing");
		goto out;
	}
	frame_of(b, &sd, &fsd);
	if ((r = emit(b, SEQ_INDEF, 2)) < 0)
		goto out;
	while ((r = next_child(b, &fsd, &child)) > 0) {
		n++;
		if (n != 3) {
			if ((r = copy_element(b, &child, 0)) < 0)
				goto out;
			continue;
		}
		/* encapContentInfo ::= SEQUENCE { eContentType, [0] EXPLICIT OCTET STRING } */
		if (child.tag != 0x30) {
			r = bad("the encapsulated content info is missing");
			goto out;
		}
		eci = child;
		frame_of(b, &eci, &feci);
		if ((r = emit(b, SEQ_INDEF, 2)) < 0)
			goto out;
		if ((r = next_child(b, &feci, &h)) <= 0 || h.tag != 0x06) {
			r = r < 0 ? r : bad("the content type is missing");
			goto out;
		}
		if ((r = copy_element(b, &h, 0)) < 0)
			goto out;
		if ((r = next_child(b, &feci, &h)) < 0)
			goto out;
		if (r == 1) {
			struct hdr os;
			struct frame fe;

			if (h.tag != 0xa0) {
				r = bad("the encapsulated content is not tagged [0]");
				goto out;
			}
			frame_of(b, &h, &fe);
			if ((r = next_child(b, &fe, &os)) <= 0) {
				r = r < 0 ? r : bad("the encapsulated content is empty");
				goto out;
			}
			if ((r = stream_octets(b, &os, 0)) < 0)
				goto out;
			if ((r = next_child(b, &fe, &os)) != 0) {
				r = r < 0 ? r : bad("the encapsulated content has extra data");
				goto out;
			}
			if ((r = next_child(b, &feci, &h)) != 0) {
				r = r < 0 ? r : bad("the content info has extra data");
				goto out;
			}
		}
		if ((r = emit(b, EOC, 2)) < 0)
			goto out;
	}
	if (r < 0)
		goto out;
	if (n < 4) {
		r = bad("the SignedData has no signer infos");
		goto out;
	}
	/* close SignedData, [0], ContentInfo */
	if ((r = emit(b, EOC, 2)) < 0 || (r = emit(b, EOC, 2)) < 0 || (r = emit(b, EOC, 2)) < 0)
		goto out;
	*der = b->out;
	*der_len = b->nout;
	b->out = NULL; /* transferred */
	r = 0;
out:
	free(b->out);
	free(b);
	return r;
}
