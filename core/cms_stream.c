/* p11smime: stream the content out of a BER SignedData, EnvelopedData or
 * AuthEnvelopedData (see cms_stream.h). */
#include "config.h"

#include "cms_stream.h"
#include "error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_META (16u * 1024 * 1024)   /* certificates, signer infos, recipient infos, ... */
#define MAX_DEPTH 64
#define MAX_MAC 16                     /* an AES-GCM tag (RFC 5084 section 3.2) */

static const unsigned char OID_SIGNED_DATA[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02
};
/* RFC 5652 section 6.1 */
static const unsigned char OID_ENVELOPED_DATA[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03
};
/* RFC 5083 section 1: id-ct-authEnvelopedData 1.2.840.113549.1.9.16.1.23 */
static const unsigned char OID_AUTH_ENVELOPED_DATA[] = {
	0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17
};
#define MAX_OID sizeof(OID_AUTH_ENVELOPED_DATA)

struct ber {
	psm_pull_fn pull;
	void *ud;
	unsigned char buf[65536];
	size_t pos, len;
	int eof;
	size_t off;            /* input bytes consumed so far */
	psm_sink_fn sink;
	void *sink_ud;
	const char *kind;      /* "signed-data": for the error details */
	const char *too_large; /* the detail when the meta data passes MAX_META */
	unsigned char *out;    /* the structure without its content, being rebuilt */
	size_t nout, cap;
	size_t nmeta;          /* meta data bytes, kept or not */
	int discard;           /* 1: emit() only counts */
};

static int
bad(const struct ber *b, const char *what)
{
	psm_error_set("the %s is malformed: %s" PSM_HINT_DAMAGED, b->kind, what);
	return PSM_ERR_MALFORMED;
}

static struct ber *
ber_new(psm_pull_fn pull, void *pull_ud, psm_sink_fn sink, void *sink_ud, const char *kind,
        const char *too_large)
{
	struct ber *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->pull = pull;
	b->ud = pull_ud;
	b->sink = sink;
	b->sink_ud = sink_ud;
	b->kind = kind;
	b->too_large = too_large;
	return b;
}

static void
ber_free(struct ber *b)
{
	if (b == NULL)
		return;
	free(b->out);
	free(b);
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
		return bad(b, "it ends too early");
	*c = b->buf[b->pos++];
	b->off++;
	return 0;
}

/* Meta data: appended to the rebuilt structure, or only counted while
 * b->discard is set; either way capped by MAX_META. */
static int
emit(struct ber *b, const void *p, size_t n)
{
	if (n > MAX_META - b->nmeta)
		return bad(b, b->too_large);
	b->nmeta += n;
	if (b->discard)
		return 0;
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
		return bad(b, "high tag numbers are not used in CMS");
	h->tag = c;
	h->constructed = (c & 0x20) != 0;
	if ((r = get_byte(b, &c)) < 0)
		return r;
	h->raw[h->nraw++] = c;
	if (c == 0x80) {
		if (!h->constructed)
			return bad(b, "a primitive element has an indefinite length");
		h->indefinite = 1;
		return 0;
	}
	if (c < 0x80) {
		h->len = c;
		return 0;
	}
	n = c & 0x7f;
	if (n > 8)
		return bad(b, "a length is too large");
	for (i = 0; i < n; i++) {
		if ((r = get_byte(b, &c)) < 0)
			return r;
		h->raw[h->nraw++] = c;
		if (h->len > (SIZE_MAX >> 8))
			return bad(b, "a length is too large");
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
			return bad(b, "it ends too early");
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
		return bad(b, "it nests too deeply");
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

/* Read past one whole element (header h just read): it counts as meta
 * data but is not kept. */
static int
skip_element(struct ber *b, const struct hdr *h)
{
	int r;

	b->discard = 1;
	r = copy_element(b, h, 0);
	b->discard = 0;
	return r;
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
		return bad(b, what);
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
		return b->off == f->end ? 0 : bad(b, "a length does not add up");
	if ((r = read_hdr(b, child)) < 0)
		return r;
	if (is_eoc(child))
		return f->indefinite ? 0 : bad(b, "an end-of-contents inside a definite length");
	if (!f->indefinite && !child->indefinite && b->off + child->len > f->end)
		return bad(b, "a length does not add up");
	return 1;
}

/* Called right after h's header was read. */
static void
frame_of(struct ber *b, const struct hdr *h, struct frame *f)
{
	f->indefinite = h->indefinite;
	f->end = b->off + h->len;
}

/* The element ends here: no further child. */
static int
expect_end(struct ber *b, struct frame *f, const char *what)
{
	struct hdr h;
	int r;

	if ((r = next_child(b, f, &h)) != 0)
		return r < 0 ? r : bad(b, what);
	return 0;
}

static int stream_octets(struct ber *b, const struct hdr *h, int depth);

/* Stream the contents of h to the sink: primitive, or constructed of
 * OCTET STRING pieces (X.690 section 8.7.3), themselves nested at will. */
static int
stream_contents(struct ber *b, const struct hdr *h, int depth)
{
	struct hdr sub;
	size_t end = b->off + h->len;
	int r;

	if (!h->constructed)
		return move_bytes(b, h->len, 1);
	for (;;) {
		if (!h->indefinite && b->off >= end)
			return b->off == end ? 0 : bad(b, "a length does not add up");
		if ((r = read_hdr(b, &sub)) < 0)
			return r;
		if (is_eoc(&sub))
			return h->indefinite ? 0 : bad(b, "an end-of-contents inside a definite length");
		if ((r = stream_octets(b, &sub, depth + 1)) < 0)
			return r;
	}
}

/* Stream an OCTET STRING (primitive, or constructed of pieces) to the sink. */
static int
stream_octets(struct ber *b, const struct hdr *h, int depth)
{
	if (depth > MAX_DEPTH)
		return bad(b, "it nests too deeply");
	if ((h->tag & 0x1f) != 0x04)
		return bad(b, "the content is not an OCTET STRING");
	return stream_contents(b, h, depth);
}

static const unsigned char EOC[2] = { 0, 0 };
static const unsigned char SEQ_INDEF[2] = { 0x30, 0x80 };
static const unsigned char CTX0_INDEF[2] = { 0xa0, 0x80 };

/* A content type this walk accepts: its whole DER OID (tag and length
 * included) and the detail when its [0] content is not a SEQUENCE. */
struct cms_type {
	const unsigned char *oid;
	size_t oid_len;
	const char *missing;
};

/* ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
 * (RFC 5652 section 3), opened down to the SEQUENCE of its content, and
 * re-emitted with indefinite lengths. f[0..2] get the frames of the
 * ContentInfo, the [0] and the content. Returns the index in types of the
 * content type found. */
static int
open_content_info(struct ber *b, const struct cms_type *types, int ntypes, const char *not_it,
                  struct frame f[3])
{
	struct hdr h;
	unsigned char oid[MAX_OID];
	int r, i, k;

	if ((r = expect(b, &h, 0x30, "it is not a ContentInfo")) < 0)
		return r;
	frame_of(b, &h, &f[0]);
	if ((r = next_child(b, &f[0], &h)) <= 0)
		return r < 0 ? r : bad(b, "it has no content type");
	for (i = 0; i < ntypes; i++)
		if (h.tag == 0x06 && h.len + 2 == types[i].oid_len)
			break;
	if (i == ntypes)
		return bad(b, not_it);
	memcpy(oid, h.raw, 2);
	for (k = 2; k < (int)types[i].oid_len; k++)
		if ((r = get_byte(b, &oid[k])) < 0)
			return r;
	for (i = 0; i < ntypes; i++)
		if (types[i].oid_len == h.len + 2 && memcmp(oid, types[i].oid, types[i].oid_len) == 0)
			break;
	if (i == ntypes)
		return bad(b, not_it);
	if ((r = next_child(b, &f[0], &h)) <= 0 || h.tag != 0xa0)
		return r < 0 ? r : bad(b, "it has no content");
	frame_of(b, &h, &f[1]);
	if ((r = emit(b, SEQ_INDEF, 2)) < 0 || (r = emit(b, oid, types[i].oid_len)) < 0 ||
	    (r = emit(b, CTX0_INDEF, 2)) < 0)
		return r;
	if ((r = next_child(b, &f[1], &h)) <= 0 || h.tag != 0x30)
		return r < 0 ? r : bad(b, types[i].missing);
	frame_of(b, &h, &f[2]);
	if ((r = emit(b, SEQ_INDEF, 2)) < 0)
		return r;
	return i;
}

static const struct cms_type SIGNED_TYPES[] = {
	{ OID_SIGNED_DATA, sizeof(OID_SIGNED_DATA), "the SignedData is missing" },
};

int
psm_cms_detach_stream(psm_pull_fn pull, void *pull_ud, psm_sink_fn sink, void *sink_ud,
                      unsigned char **der, size_t *der_len)
{
	struct ber *b;
	struct hdr h, eci, child;
	struct frame f[3], feci;
	int r, n = 0;

	*der = NULL;
	*der_len = 0;
	if ((b = ber_new(pull, pull_ud, sink, sink_ud, "signed-data",
	                 "its certificates and signer information are too large")) == NULL)
		return PSM_ERR_NOMEM;

	if ((r = open_content_info(b, SIGNED_TYPES, 1, "it is not a SignedData", f)) < 0)
		goto out;

	/* SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, ... } */
	while ((r = next_child(b, &f[2], &child)) > 0) {
		n++;
		if (n != 3) {
			if ((r = copy_element(b, &child, 0)) < 0)
				goto out;
			continue;
		}
		/* encapContentInfo ::= SEQUENCE { eContentType, [0] EXPLICIT OCTET STRING } */
		if (child.tag != 0x30) {
			r = bad(b, "the encapsulated content info is missing");
			goto out;
		}
		eci = child;
		frame_of(b, &eci, &feci);
		if ((r = emit(b, SEQ_INDEF, 2)) < 0)
			goto out;
		if ((r = next_child(b, &feci, &h)) <= 0 || h.tag != 0x06) {
			r = r < 0 ? r : bad(b, "the content type is missing");
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
				r = bad(b, "the encapsulated content is not tagged [0]");
				goto out;
			}
			frame_of(b, &h, &fe);
			if ((r = next_child(b, &fe, &os)) <= 0) {
				r = r < 0 ? r : bad(b, "the encapsulated content is empty");
				goto out;
			}
			if ((r = stream_octets(b, &os, 0)) < 0)
				goto out;
			if ((r = expect_end(b, &fe, "the encapsulated content has extra data")) < 0 ||
			    (r = expect_end(b, &feci, "the content info has extra data")) < 0)
				goto out;
		}
		if ((r = emit(b, EOC, 2)) < 0)
			goto out;
	}
	if (r < 0)
		goto out;
	if (n < 4) {
		r = bad(b, "the SignedData has no signer infos");
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
	ber_free(b);
	return r;
}

/* EnvelopedData (RFC 5652 section 6.1) and AuthEnvelopedData (RFC 5083
 * section 2.1) share their start:
 *   version, originatorInfo [0] IMPLICIT OPTIONAL, recipientInfos SET,
 *   EncryptedContentInfo ::= SEQUENCE { contentType,
 *     contentEncryptionAlgorithm, encryptedContent [0] IMPLICIT OPTIONAL }
 * then EnvelopedData has unprotectedAttrs [1] OPTIONAL; AuthEnvelopedData
 * authAttrs [1] OPTIONAL, mac OCTET STRING, unauthAttrs [2] OPTIONAL. */
static const struct cms_type ENVELOPED_TYPES[] = {
	{ OID_ENVELOPED_DATA, sizeof(OID_ENVELOPED_DATA), "the EnvelopedData is missing" },
	{ OID_AUTH_ENVELOPED_DATA, sizeof(OID_AUTH_ENVELOPED_DATA),
	  "the AuthEnvelopedData is missing" },
};

/* A mac that stands in for the real one in the header handed on: OpenSSL
 * wants one to parse an AuthEnvelopedData. */
static const unsigned char MAC_PLACEHOLDER[2 + MAX_MAC] = { 0x04, MAX_MAC };

/* Read the version: EnvelopedData 0, 2, 3 or 4 (RFC 5652 section 6.1),
 * AuthEnvelopedData 0 (RFC 5083 section 2.1). */
static int
env_version(struct ber *b, struct frame *fed, int auth)
{
	struct hdr h;
	unsigned char v;
	int r;

	if ((r = next_child(b, fed, &h)) <= 0 || h.tag != 0x02 || h.len != 1)
		return r < 0 ? r : bad(b, "the version is missing");
	if ((r = get_byte(b, &v)) < 0)
		return r;
	if (auth ? v != 0 : (v != 0 && v != 2 && v != 3 && v != 4))
		return bad(b, "its version is unknown");
	if ((r = emit(b, h.raw, h.nraw)) < 0 || (r = emit(b, &v, 1)) < 0)
		return r;
	return 0;
}

/* From the version to the content-encryption algorithm, copied into the
 * header and closed; *feci is left open at the encrypted content. */
static int
env_header(struct ber *b, struct frame *fed, struct frame *feci, int auth)
{
	struct hdr h;
	int r;

	if ((r = env_version(b, fed, auth)) < 0)
		return r;
	if ((r = next_child(b, fed, &h)) <= 0)
		return r < 0 ? r : bad(b, "the recipient infos are missing");
	if (h.tag == 0xa0) {   /* originatorInfo */
		if ((r = copy_element(b, &h, 0)) < 0)
			return r;
		if ((r = next_child(b, fed, &h)) <= 0)
			return r < 0 ? r : bad(b, "the recipient infos are missing");
	}
	if (h.tag != 0x31)
		return bad(b, "the recipient infos are missing");
	if ((r = copy_element(b, &h, 0)) < 0)
		return r;
	if ((r = next_child(b, fed, &h)) <= 0 || h.tag != 0x30)
		return r < 0 ? r : bad(b, "the encrypted content info is missing");
	frame_of(b, &h, feci);
	if ((r = emit(b, SEQ_INDEF, 2)) < 0)
		return r;
	if ((r = next_child(b, feci, &h)) <= 0 || h.tag != 0x06)
		return r < 0 ? r : bad(b, "the content type is missing");
	if ((r = copy_element(b, &h, 0)) < 0)
		return r;
	if ((r = next_child(b, feci, &h)) <= 0 || h.tag != 0x30)
		return r < 0 ? r : bad(b, "the content-encryption algorithm is missing");
	if ((r = copy_element(b, &h, 0)) < 0)
		return r;
	/* close EncryptedContentInfo, (mac,) (Auth)EnvelopedData, [0], ContentInfo */
	if ((r = emit(b, EOC, 2)) < 0 ||
	    (auth && (r = emit(b, MAC_PLACEHOLDER, sizeof(MAC_PLACEHOLDER))) < 0) ||
	    (r = emit(b, EOC, 2)) < 0 || (r = emit(b, EOC, 2)) < 0 || (r = emit(b, EOC, 2)) < 0)
		return r;
	return 0;
}

/* encryptedContent [0] IMPLICIT OCTET STRING: primitive (0x80) or
 * constructed of OCTET STRING pieces (0xa0), to the sink. */
static int
env_content(struct ber *b, struct frame *feci)
{
	struct hdr h;
	int r;

	if ((r = next_child(b, feci, &h)) < 0)
		return r;
	if (r == 0) {
		psm_error_set("the enveloped-data carries no content" PSM_HINT_DAMAGED);
		return PSM_ERR_MALFORMED;
	}
	if (h.tag != 0x80 && h.tag != 0xa0)
		return bad(b, "the encrypted content is not tagged [0]");
	if ((r = stream_contents(b, &h, 0)) < 0)
		return r;
	return expect_end(b, feci, "the encrypted content info has extra data");
}

struct mac_sink {
	struct ber *b;
	unsigned char *mac;
	size_t cap, len;
};

static int
mac_add(void *ud, const void *buf, size_t len)
{
	struct mac_sink *m = ud;

	if (len > m->cap - m->len)
		return bad(m->b, "its authentication tag is too long");
	memcpy(m->mac + m->len, buf, len);
	m->len += len;
	return 0;
}

/* The mac, an OCTET STRING (primitive or constructed), into m. */
static int
env_mac(struct ber *b, const struct hdr *h, struct mac_sink *m)
{
	psm_sink_fn sink = b->sink;
	void *sink_ud = b->sink_ud;
	int r;

	if (h->tag != 0x04 && h->tag != 0x24)
		return bad(b, "its authentication tag is missing");
	b->sink = mac_add;
	b->sink_ud = m;
	r = stream_octets(b, h, 0);
	b->sink = sink;
	b->sink_ud = sink_ud;
	if (r < 0)
		return r;
	return m->len > 0 ? 0 : bad(b, "its authentication tag is empty");
}

/* What follows the EncryptedContentInfo, to the end of the
 * (Auth)EnvelopedData: attributes are read past, the mac is kept. */
static int
env_trailer(struct ber *b, struct frame *fed, int auth, struct mac_sink *m)
{
	struct hdr h;
	int r;

	if ((r = next_child(b, fed, &h)) < 0)
		return r;
	if (r == 1 && h.tag == 0xa1) {
		if (auth) {
			psm_error_set("authenticated attributes in AuthEnvelopedData are not supported");
			return PSM_ERR_MALFORMED;
		}
		/* unprotectedAttrs */
		if ((r = skip_element(b, &h)) < 0 || (r = next_child(b, fed, &h)) < 0)
			return r;
	}
	if (auth) {
		if (r == 0)
			return bad(b, "its authentication tag is missing");
		if ((r = env_mac(b, &h, m)) < 0 || (r = next_child(b, fed, &h)) < 0)
			return r;
		/* unauthAttrs */
		if (r == 1 && h.tag == 0xa2 &&
		    ((r = skip_element(b, &h)) < 0 || (r = next_child(b, fed, &h)) < 0))
			return r;
	}
	return r == 0 ? 0 : bad(b, "it has extra data after the encrypted content");
}

/* After the ContentInfo only zero bytes (end-of-contents padding) may follow. */
static int
expect_eof(struct ber *b)
{
	int r;

	for (;;) {
		if ((r = fill(b)) < 0)
			return r;
		if (b->pos >= b->len)
			return 0;
		if (b->buf[b->pos++] != 0)
			return bad(b, "data follows it");
		b->off++;
	}
}

int
psm_cms_envelope_stream(psm_pull_fn pull, void *pull_ud, psm_env_header_fn on_header,
                        void *header_ud, psm_sink_fn sink, void *sink_ud, unsigned char *mac,
                        size_t *mac_len)
{
	struct ber *b;
	struct frame f[3], feci;
	struct mac_sink m;
	int r, auth;

	memset(&m, 0, sizeof(m));
	m.mac = mac;
	m.cap = *mac_len < MAX_MAC ? *mac_len : MAX_MAC;
	*mac_len = 0;
	if ((b = ber_new(pull, pull_ud, sink, sink_ud, "enveloped-data",
	                 "its recipient information is too large")) == NULL)
		return PSM_ERR_NOMEM;
	m.b = b;
	if ((r = open_content_info(b, ENVELOPED_TYPES, 2,
	                           "it is not an EnvelopedData or AuthEnvelopedData", f)) < 0)
		goto out;
	auth = r == 1;
	if ((r = env_header(b, &f[2], &feci, auth)) < 0 ||
	    (r = on_header(header_ud, b->out, b->nout, auth)) < 0 ||
	    (r = env_content(b, &feci)) < 0 || (r = env_trailer(b, &f[2], auth, &m)) < 0 ||
	    (r = expect_end(b, &f[1], "its content has extra data")) < 0 ||
	    (r = expect_end(b, &f[0], "the content info has extra data")) < 0 ||
	    (r = expect_eof(b)) < 0)
		goto out;
	*mac_len = m.len;
	r = 0;
out:
	ber_free(b);
	return r;
}
