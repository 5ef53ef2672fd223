/* Unit tests for psm_cms_envelope_stream (core/cms_stream.c).
 *
 * EnvelopedData (AES-256-CBC) and AuthEnvelopedData (AES-256-GCM) are made
 * in memory by OpenSSL's CMS_encrypt, as DER and as streamed BER, walked in
 * odd chunks and decrypted the way a caller does: the header goes through
 * d2i_CMS_ContentInfo, CMS_decrypt_set1_pkey_and_peer and CMS_dataInit,
 * and the cipher BIO's EVP_CIPHER_CTX runs over the streamed ciphertext.
 *
 * Nothing here depends on OpenSSL parsing a message it did not write
 * itself: the hand-edited messages (attributes put in, content re-cut) are
 * compared with the message OpenSSL made, and only the header the walker
 * hands on goes through d2i_CMS_ContentInfo. (OpenSSL before 3.0.22 tags
 * AuthEnvelopedData's authAttrs [2] and unauthAttrs [3] instead of RFC
 * 5083's [1] and [2], so it refuses an RFC-conformant unauthAttrs.)
 *
 * A failing assertion leaks nothing: every allocation is registered
 * (track) and what a failed test left is freed by its teardown; the
 * walker's callbacks never assert (a longjmp out of the library would leak
 * its state), they record the first problem and stop the walk.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cms_stream.h"
#include "error.h"

#define KIB 1024
#define MIB (1024 * 1024)
#define MALFORMED_PREFIX "the enveloped-data is malformed: "

/* ------------------------------------------------------------------ */
/* What a test allocated, freed by the teardown when an assertion ends  */
/* the test early.                                                     */

typedef void (*release_fn)(void *);

struct live {
	void *p;
	release_fn fn;
};

#define MAX_LIVE 64
static struct live LIVE[MAX_LIVE];

static void *
track(void *p, release_fn fn)
{
	size_t i;

	assert_non_null(p);
	for (i = 0; i < MAX_LIVE; i++)
		if (LIVE[i].p == NULL) {
			LIVE[i].p = p;
			LIVE[i].fn = fn;
			return p;
		}
	fn(p);
	fail_msg("more than %d live allocations", MAX_LIVE);
	return NULL;
}

static struct live *
live_of(const void *p)
{
	size_t i;

	for (i = 0; p != NULL && i < MAX_LIVE; i++)
		if (LIVE[i].p == p)
			return &LIVE[i];
	return NULL;
}

/* Free p (NULL is fine) and forget it. */
static void
release(void *p)
{
	struct live *l = live_of(p);

	if (p == NULL)
		return;
	if (l == NULL) {
		fail_msg("%p was not allocated by this test", p);
		return;
	}
	l->p = NULL;
	l->fn(p);
}

static void
free_bio(void *p)
{
	BIO_free(p);
}

static void
free_bio_all(void *p)
{
	BIO_free_all(p);
}

static void
free_cms(void *p)
{
	CMS_ContentInfo_free(p);
}

static int
release_all(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < MAX_LIVE; i++)
		if (LIVE[i].p != NULL) {
			LIVE[i].fn(LIVE[i].p);
			LIVE[i].p = NULL;
		}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Keys and certificates, made once for the group.                    */

struct fx {
	EVP_PKEY *rsa, *ec;
	X509 *rsa_cert, *ec_cert;
	STACK_OF(X509) *to;     /* both: a ktri and a kari recipient */
};

static X509 *
self_signed(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	int ok = x != NULL && n != NULL;

	ok = ok && X509_set_version(x, 2);
	ok = ok && ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	ok = ok && X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
	                                      -1, -1, 0);
	ok = ok && X509_set_subject_name(x, n) && X509_set_issuer_name(x, n);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL;
	ok = ok && X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL;
	ok = ok && X509_set_pubkey(x, key);
	ok = ok && X509_sign(x, key, EVP_sha256()) > 0;
	X509_NAME_free(n);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
group_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	*state = f;
	f->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	f->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (f->rsa == NULL || f->ec == NULL)
		return -1;
	f->rsa_cert = self_signed(f->rsa, "rsa recipient");
	f->ec_cert = self_signed(f->ec, "ec recipient");
	if (f->rsa_cert == NULL || f->ec_cert == NULL || (f->to = sk_X509_new_null()) == NULL)
		return -1;
	if (!sk_X509_push(f->to, f->rsa_cert) || !sk_X509_push(f->to, f->ec_cert))
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fx *f = *state;

	if (f == NULL)
		return 0;
	sk_X509_free(f->to);
	X509_free(f->rsa_cert);
	X509_free(f->ec_cert);
	EVP_PKEY_free(f->rsa);
	EVP_PKEY_free(f->ec);
	free(f);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Buffers and messages                                                */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		struct live *l = live_of(b->p);
		unsigned char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		assert_non_null(np);
		if (l != NULL)
			l->p = np;
		else
			track(np, free);
		b->p = np;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
buf_free(struct buf *b)
{
	release(b->p);
	memset(b, 0, sizeof(*b));
}

/* n random bytes; release() them. */
static unsigned char *
random_bytes(size_t n)
{
	unsigned char *p = track(malloc(n + 1), free);

	assert_int_equal(RAND_bytes(p, (int)n + 1), 1);
	return p;
}

enum { CBC = 0, GCM = 1 };
enum { DER = 0, BER = 1 };

static void
bio_to_buf(BIO *bio, struct buf *m)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	assert_true(n > 0);
	memset(m, 0, sizeof(*m));
	buf_add(m, p, (size_t)n);
}

/* CMS_encrypt content to both recipients: DER, or streamed BER (indefinite
 * lengths, the content in constructed OCTET STRING pieces). */
static void
make_msg(const struct fx *f, const unsigned char *content, size_t n, int gcm, int ber,
         int detached, struct buf *m)
{
	BIO *in = track(BIO_new_mem_buf(content, (int)n), free_bio);
	BIO *out = track(BIO_new(BIO_s_mem()), free_bio);
	unsigned flags = CMS_BINARY | (ber ? CMS_STREAM : 0);
	CMS_ContentInfo *cms;

	cms = track(CMS_encrypt(f->to, in, gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc(), flags),
	            free_cms);
	if (detached)
		assert_int_equal(CMS_set_detached(cms, 1), 1);
	if (ber)
		assert_int_equal(i2d_CMS_bio_stream(out, cms, in, (int)flags), 1);
	else
		assert_int_equal(i2d_CMS_bio(out, cms), 1);
	bio_to_buf(out, m);
	release(cms);
	release(in);
	release(out);
}

/* The ciphertext as OpenSSL reads it from a message it made itself. */
static void
full_ciphertext(const struct buf *m, struct buf *ct)
{
	const unsigned char *q = m->p;
	CMS_ContentInfo *cms = track(d2i_CMS_ContentInfo(NULL, &q, (long)m->len), free_cms);
	ASN1_OCTET_STRING **pos;

	pos = CMS_get0_content(cms);
	assert_non_null(pos);
	assert_non_null(*pos);
	memset(ct, 0, sizeof(*ct));
	buf_add(ct, ASN1_STRING_get0_data(*pos), (size_t)ASN1_STRING_length(*pos));
	release(cms);
}

/* ------------------------------------------------------------------ */
/* The input, pulled in chunks                                         */

static const size_t ODD[] = { 1, 7, 4096, 3, 65536, 13, 100000, 0 };
static const size_t ONE[] = { 1, 0 };
static const size_t SEVEN[] = { 7, 0 };
static const size_t PAGE[] = { 4096, 0 };
static const size_t *const PATTERNS[] = { ODD, ONE, SEVEN, PAGE };

struct src {
	const unsigned char *p;
	size_t len, pos;
	const size_t *chunks;   /* sizes handed out in turn, 0-terminated */
	size_t ci;
	int zeros_forever;      /* after p: an endless run of zero bytes */
	size_t pulled;          /* bytes handed out */
};

static void
src_init(struct src *s, const struct buf *m, const size_t *chunks)
{
	memset(s, 0, sizeof(*s));
	s->p = m->p;
	s->len = m->len;
	s->chunks = chunks;
}

static int
pull(void *ud, unsigned char *buf, size_t cap, size_t *got)
{
	struct src *s = ud;
	size_t n = s->chunks[s->ci];

	if (s->chunks[++s->ci] == 0)
		s->ci = 0;
	if (n > cap)
		n = cap;
	if (s->pos >= s->len && s->zeros_forever) {
		memset(buf, 0, n);
	} else {
		if (n > s->len - s->pos)
			n = s->len - s->pos;
		memcpy(buf, s->p + s->pos, n);
		s->pos += n;
	}
	s->pulled += n;
	*got = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The caller's side: header -> cipher context, content -> plaintext    */

struct dec {
	EVP_PKEY *key;          /* NULL: only record what arrives */
	X509 *cert;
	int header_ret;         /* returned by on_header */
	int sink_ret;           /* returned by the sink */
	const char *failed;     /* the first problem a callback met */
	int headers, auth, type, nri;
	size_t sinks;
	struct buf hdr, ct, pt;
	CMS_ContentInfo *cms;
	BIO *bio;
	EVP_CIPHER_CTX *ctx;    /* the cipher BIO's */
};

static void
dec_init(struct dec *d, EVP_PKEY *key, X509 *cert)
{
	memset(d, 0, sizeof(*d));
	d->key = key;
	d->cert = cert;
}

static void
dec_free(struct dec *d)
{
	release(d->bio);
	release(d->cms);
	d->bio = NULL;
	d->cms = NULL;
	buf_free(&d->hdr);
	buf_free(&d->ct);
	buf_free(&d->pt);
}

/* What the caller does with the header: parse it, unwrap the content
 * key for its recipient, and take the cipher context CMS_dataInit sets up.
 * NULL, or what went wrong (it is called from the walker: no asserts). */
static const char *
dec_begin(struct dec *d, const unsigned char *der, size_t len)
{
	const unsigned char *q = der;
	BIO *bio;

	if ((d->cms = d2i_CMS_ContentInfo(NULL, &q, (long)len)) == NULL)
		return "OpenSSL does not read the header handed on";
	track(d->cms, free_cms);
	if (q != der + len)
		return "the header handed on has bytes after it";
	d->type = OBJ_obj2nid(CMS_get0_type(d->cms));
	d->nri = sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(d->cms));
	if (d->key == NULL)
		return NULL;
	if (CMS_decrypt_set1_pkey_and_peer(d->cms, d->key, d->cert, NULL) != 1)
		return "the content key is not recovered from the header";
	if ((bio = CMS_dataInit(d->cms, NULL)) == NULL)
		return "CMS_dataInit failed on the header";
	d->bio = track(bio, free_bio_all);
	if (BIO_get_cipher_ctx(d->bio, &d->ctx) != 1 || d->ctx == NULL)
		return "the header gives no cipher context";
	return NULL;
}

static const char *
dec_update(struct dec *d, const void *p, size_t n)
{
	unsigned char out[65536 + 64];
	int outl = 0;

	if (n > 65536)
		return "a piece of content larger than 64 KiB";
	if (EVP_DecryptUpdate(d->ctx, out, &outl, p, (int)n) != 1)
		return "EVP_DecryptUpdate failed";
	buf_add(&d->pt, out, (size_t)outl);
	return NULL;
}

/* EVP_DecryptFinal_ex's verdict, the tag set first for GCM. */
static int
dec_final(struct dec *d, unsigned char *mac, size_t mac_len)
{
	unsigned char out[64];
	int outl = 0, ok;

	if (mac_len > 0)
		assert_int_equal(EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_SET_TAG, (int)mac_len, mac),
		                 1);
	ok = EVP_DecryptFinal_ex(d->ctx, out, &outl);
	if (ok == 1)
		buf_add(&d->pt, out, (size_t)outl);
	return ok;
}

/* The callbacks record the first problem and stop the walk with it. */
static int
callback_failed(struct dec *d, const char *why)
{
	if (d->failed == NULL)
		d->failed = why;
	return PSM_ERR_INTERNAL;
}

static int
on_header(void *ud, const unsigned char *der, size_t len, int auth)
{
	struct dec *d = ud;
	const char *why;

	d->headers++;
	d->auth = auth;
	if (d->sinks != 0)
		return callback_failed(d, "the header came after content");
	buf_add(&d->hdr, der, len);
	if (d->header_ret != 0)
		return d->header_ret;
	if ((why = dec_begin(d, der, len)) != NULL)
		return callback_failed(d, why);
	return 0;
}

static int
sink(void *ud, const void *p, size_t n)
{
	struct dec *d = ud;
	const char *why;

	d->sinks++;
	if (d->headers != 1)
		return callback_failed(d, "content came before the header");
	if (d->sink_ret != 0)
		return d->sink_ret;
	buf_add(&d->ct, p, n);
	if (d->ctx != NULL && (why = dec_update(d, p, n)) != NULL)
		return callback_failed(d, why);
	return 0;
}

/* Walk m in the given chunks. */
static int
walk(const struct buf *m, const size_t *chunks, struct dec *d, unsigned char *mac,
     size_t *mac_len)
{
	struct src s;
	int r;

	src_init(&s, m, chunks);
	psm_error_clear();
	r = psm_cms_envelope_stream(pull, &s, on_header, d, sink, d, mac, mac_len);
	if (d->failed != NULL)
		fail_msg("%s", d->failed);
	return r;
}

static void
assert_malformed(int r, const char *detail_prefix)
{
	assert_int_equal(r, PSM_ERR_MALFORMED);
	assert_memory_equal(psm_error_detail(), detail_prefix, strlen(detail_prefix));
}

/* ------------------------------------------------------------------ */
/* Round trips                                                         */

/* Decrypt the streamed ciphertext with a fresh context from the header. */
static int
redecrypt(const struct dec *from, EVP_PKEY *key, X509 *cert, unsigned char *mac, size_t mac_len)
{
	struct dec d;
	size_t i;
	int ok;

	dec_init(&d, key, cert);
	assert_null(dec_begin(&d, from->hdr.p, from->hdr.len));
	for (i = 0; i < from->ct.len; i += 65536)
		assert_null(dec_update(&d, from->ct.p + i,
		                       from->ct.len - i < 65536 ? from->ct.len - i : 65536));
	ok = dec_final(&d, mac, mac_len);
	if (ok == 1) {
		assert_int_equal(d.pt.len, from->pt.len);
		assert_memory_equal(d.pt.p, from->pt.p, d.pt.len);
	}
	dec_free(&d);
	return ok;
}

/* Walk m in chunks, decrypt as it streams, and check everything; ref is
 * the message OpenSSL made (m itself, or what m was edited from), whose
 * ciphertext the walk must hand on. */
static void
check_walk(const struct buf *m, const struct buf *ref, const size_t *chunks, int gcm,
           const unsigned char *content, size_t n, EVP_PKEY *key, X509 *cert)
{
	struct dec d;
	struct buf ct;
	unsigned char mac[16];
	size_t mac_len = sizeof(mac);

	dec_init(&d, key, cert);
	assert_int_equal(walk(m, chunks, &d, mac, &mac_len), 0);
	assert_int_equal(d.headers, 1);
	assert_int_equal(d.auth, gcm);
	assert_int_equal(d.type, gcm ? NID_id_smime_ct_authEnvelopedData : NID_pkcs7_enveloped);
	assert_int_equal(d.nri, 2);
	assert_int_equal(mac_len, gcm ? 16 : 0);

	full_ciphertext(ref, &ct);
	assert_int_equal(d.ct.len, ct.len);
	assert_memory_equal(d.ct.p, ct.p, ct.len);
	assert_int_equal(ct.len, gcm ? n : (n / 16 + 1) * 16);
	if (chunks == ONE)
		assert_int_equal(d.sinks, ct.len);
	buf_free(&ct);

	assert_int_equal(dec_final(&d, mac, mac_len), 1);
	assert_int_equal(d.pt.len, n);
	if (n > 0)
		assert_memory_equal(d.pt.p, content, n);
	if (gcm) {
		/* the tampered twin: one flipped bit in the mac */
		mac[mac_len - 1] ^= 0x01;
		assert_int_equal(redecrypt(&d, key, cert, mac, mac_len), 0);
		mac[mac_len - 1] ^= 0x01;
		assert_int_equal(redecrypt(&d, key, cert, mac, mac_len), 1);
		/* without the real tag, the placeholder one is checked */
		assert_int_equal(redecrypt(&d, key, cert, NULL, 0), 0);
	}
	dec_free(&d);
}

static void
roundtrips(const struct fx *f, int gcm, int ber)
{
	static const size_t sizes[] = { 0, 1, 100 * KIB, 3 * MIB };
	size_t i, j;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *content;
		struct buf m;

		/* OpenSSL 3.0 cannot stream an AuthEnvelopedData of nothing:
		 * i2d_CMS_bio_stream fails, the error queue empty. The DER one
		 * and the hand-made nested pieces cover empty content. */
		if (gcm && ber && sizes[i] == 0)
			continue;
		content = random_bytes(sizes[i]);
		make_msg(f, content, sizes[i], gcm, ber, 0, &m);
		for (j = 0; j < sizeof(PATTERNS) / sizeof(PATTERNS[0]); j++)
			check_walk(&m, &m, PATTERNS[j], gcm, content, sizes[i], f->rsa, f->rsa_cert);
		buf_free(&m);
		release(content);
	}
}

static void
test_enveloped_der_decrypts_from_the_stream(void **state)
{
	roundtrips(*state, CBC, DER);
}

static void
test_enveloped_ber_decrypts_from_the_stream(void **state)
{
	roundtrips(*state, CBC, BER);
}

static void
test_auth_enveloped_der_decrypts_and_checks_the_mac(void **state)
{
	roundtrips(*state, GCM, DER);
}

static void
test_auth_enveloped_ber_decrypts_and_checks_the_mac(void **state)
{
	roundtrips(*state, GCM, BER);
}

static void
test_ec_recipient_decrypts_from_the_header(void **state)
{
	const struct fx *f = *state;
	unsigned char *content = random_bytes(100 * KIB);
	int gcm, ber;

	for (gcm = 0; gcm <= 1; gcm++)
		for (ber = 0; ber <= 1; ber++) {
			struct buf m;

			make_msg(f, content, 100 * KIB, gcm, ber, 0, &m);
			check_walk(&m, &m, ODD, gcm, content, 100 * KIB, f->ec, f->ec_cert);
			buf_free(&m);
		}
	release(content);
}

/* ------------------------------------------------------------------ */
/* Hand-made variants: the DER message re-encoded with indefinite       */
/* lengths, so that elements can be put in without fixing lengths.    */

/* A definite-length TLV at p: header length and content length. */
static void
tlv(const unsigned char *p, size_t *hl, size_t *len)
{
	size_t i, n;

	if (p[1] < 0x80) {
		*hl = 2;
		*len = p[1];
		return;
	}
	n = p[1] & 0x7f;
	assert_true(n >= 1 && n <= 4);
	*len = 0;
	for (i = 0; i < n; i++)
		*len = (*len << 8) | p[2 + i];
	*hl = 2 + n;
}

static void
put_hdr(struct buf *o, unsigned char tag, size_t len)
{
	unsigned char h[6] = { tag };
	size_t n = 2;

	if (len < 0x80) {
		h[1] = (unsigned char)len;
	} else if (len < 0x100) {
		h[1] = 0x81;
		h[2] = (unsigned char)len;
		n = 3;
	} else if (len < 0x10000) {
		h[1] = 0x82;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		n = 4;
	} else {
		h[1] = 0x84;
		h[2] = (unsigned char)(len >> 24);
		h[3] = (unsigned char)(len >> 16);
		h[4] = (unsigned char)(len >> 8);
		h[5] = (unsigned char)len;
		n = 6;
	}
	buf_add(o, h, n);
}

static void
put_octets(struct buf *o, const unsigned char *p, size_t n)
{
	put_hdr(o, 0x04, n);
	buf_add(o, p, n);
}

static const unsigned char EOC2[2] = { 0, 0 };
static const unsigned char INDEF_SEQ[2] = { 0x30, 0x80 };
static const unsigned char INDEF_CTX0[2] = { 0xa0, 0x80 };

enum content_form {
	AS_IS,          /* copied */
	NESTED,         /* constructed pieces, nested, definite and indefinite */
	HUGE_LENGTH,    /* primitive, with a length far beyond the input */
};

struct edit {
	enum content_form form;
	struct buf after_eci;   /* inserted after the EncryptedContentInfo */
	struct buf at_end;      /* inserted at the end of the (Auth)EnvelopedData */
	int mac_grow;           /* the mac gets one byte more */
};

/* encryptedContent [0] of c (n bytes) in the given form. */
static void
put_content(struct buf *o, enum content_form form, const unsigned char *c, size_t n)
{
	size_t a = n / 5, b = 2 * n / 5, e = 3 * n / 5;
	struct buf def = { 0 };

	if (form == HUGE_LENGTH) {
		static const unsigned char huge[] = { 0x80, 0x88, 0x7f, 0xff, 0xff, 0xff,
		                                      0xff, 0xff, 0xff, 0xff };

		buf_add(o, huge, sizeof(huge));
		buf_add(o, c, n);
		return;
	}
	/* [0] { { c[0,a) { c[a,b) } } { c[b,e) c[e,n) } {} c[n,n) } */
	buf_add(o, (const unsigned char[]){ 0xa0, 0x80, 0x24, 0x80 }, 4);
	put_octets(o, c, a);
	buf_add(o, (const unsigned char[]){ 0x24, 0x80 }, 2);
	put_octets(o, c + a, b - a);
	buf_add(o, EOC2, 2);
	buf_add(o, EOC2, 2);
	put_octets(&def, c + b, e - b);
	put_octets(&def, c + e, n - e);
	put_hdr(o, 0x24, def.len);
	buf_add(o, def.p, def.len);
	buf_add(o, (const unsigned char[]){ 0x24, 0x80, 0x00, 0x00 }, 4);
	put_octets(o, c + n, 0);
	buf_add(o, EOC2, 2);
	buf_free(&def);
}

/* The DER message m rebuilt with indefinite lengths and the edits. */
static void
rebuild(const struct buf *m, const struct edit *ed, struct buf *o)
{
	const unsigned char *p = m->p, *end;
	size_t hl, len;

	memset(o, 0, sizeof(*o));
	tlv(p, &hl, &len);                      /* ContentInfo */
	p += hl;
	buf_add(o, INDEF_SEQ, 2);
	tlv(p, &hl, &len);                      /* contentType */
	buf_add(o, p, hl + len);
	p += hl + len;
	tlv(p, &hl, &len);                      /* [0] */
	p += hl;
	buf_add(o, INDEF_CTX0, 2);
	tlv(p, &hl, &len);                      /* (Auth)EnvelopedData */
	end = p + hl + len;
	p += hl;
	buf_add(o, INDEF_SEQ, 2);
	for (;;) {                              /* up to the EncryptedContentInfo */
		tlv(p, &hl, &len);
		if (p[0] == 0x30)
			break;
		buf_add(o, p, hl + len);
		p += hl + len;
	}
	p += hl;
	buf_add(o, INDEF_SEQ, 2);
	tlv(p, &hl, &len);                      /* contentType */
	buf_add(o, p, hl + len);
	p += hl + len;
	tlv(p, &hl, &len);                      /* contentEncryptionAlgorithm */
	buf_add(o, p, hl + len);
	p += hl + len;
	tlv(p, &hl, &len);                      /* [0] encryptedContent */
	assert_int_equal(p[0], 0x80);
	if (ed->form == AS_IS)
		buf_add(o, p, hl + len);
	else
		put_content(o, ed->form, p + hl, len);
	p += hl + len;
	buf_add(o, EOC2, 2);
	buf_add(o, ed->after_eci.p, ed->after_eci.len);
	while (p < end) {                       /* the mac, for AuthEnvelopedData */
		tlv(p, &hl, &len);
		if (p[0] == 0x04 && ed->mac_grow) {
			put_hdr(o, 0x04, len + 1);
			buf_add(o, p + hl, len);
			buf_add(o, "\x5a", 1);
		} else {
			buf_add(o, p, hl + len);
		}
		p += hl + len;
	}
	buf_add(o, ed->at_end.p, ed->at_end.len);
	buf_add(o, EOC2, 2);
	buf_add(o, EOC2, 2);
	buf_add(o, EOC2, 2);
}

static void
edit_free(struct edit *ed)
{
	buf_free(&ed->after_eci);
	buf_free(&ed->at_end);
}

/* The length of m rebuilt without edits. */
static size_t
rebuilt_len(const struct buf *m)
{
	const struct edit none = { .form = AS_IS };
	struct buf o;
	size_t n;

	rebuild(m, &none, &o);
	n = o.len;
	buf_free(&o);
	return n;
}

/* [tag] IMPLICIT SET OF Attribute, one attribute: id-at-commonName, NULL */
static void
put_attrs(struct buf *o, unsigned char tag)
{
	static const unsigned char attr[] = { 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03,
	                                      0x31, 0x02, 0x05, 0x00 };

	put_hdr(o, tag, sizeof(attr));
	buf_add(o, attr, sizeof(attr));
}

static void
test_nested_constructed_pieces_stream_in_order(void **state)
{
	const struct fx *f = *state;
	static const size_t sizes[] = { 0, 1, 37, 100 * KIB };
	size_t i;
	int gcm;

	for (gcm = 0; gcm <= 1; gcm++)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned char *content = random_bytes(sizes[i]);
			struct edit ed = { .form = NESTED };
			struct buf m, b;

			make_msg(f, content, sizes[i], gcm, DER, 0, &m);
			rebuild(&m, &ed, &b);
			check_walk(&b, &m, ODD, gcm, content, sizes[i], f->rsa, f->rsa_cert);
			check_walk(&b, &m, ONE, gcm, content, sizes[i], f->rsa, f->rsa_cert);
			buf_free(&b);
			buf_free(&m);
			release(content);
		}
}

static void
test_unprotected_and_unauthenticated_attributes_are_read_past(void **state)
{
	const struct fx *f = *state;
	unsigned char content[100];
	int gcm;

	memset(content, 'a', sizeof(content));
	for (gcm = 0; gcm <= 1; gcm++) {
		struct edit ed = { .form = AS_IS };
		struct buf m, b;

		make_msg(f, content, sizeof(content), gcm, DER, 0, &m);
		/* EnvelopedData: unprotectedAttrs [1] after the content info;
		 * AuthEnvelopedData: unauthAttrs [2] after the mac */
		if (gcm)
			put_attrs(&ed.at_end, 0xa2);
		else
			put_attrs(&ed.after_eci, 0xa1);
		rebuild(&m, &ed, &b);
		/* the attributes are in the message walked, where RFC 5083 puts them */
		assert_int_equal(b.len, rebuilt_len(&m) + (gcm ? ed.at_end.len : ed.after_eci.len));
		assert_non_null(memmem(b.p, b.len, gcm ? ed.at_end.p : ed.after_eci.p,
		                       gcm ? ed.at_end.len : ed.after_eci.len));
		check_walk(&b, &m, SEVEN, gcm, content, sizeof(content), f->rsa, f->rsa_cert);
		edit_free(&ed);
		buf_free(&b);
		buf_free(&m);
	}
}

/* Walk m expecting a MALFORMED with the given detail prefix; the mac
 * length, poisoned before, is reset. */
static void
check_malformed(const struct buf *m, const size_t *chunks, const char *detail)
{
	struct dec d;
	unsigned char mac[16];
	size_t mac_len = sizeof(mac);

	dec_init(&d, NULL, NULL);
	assert_malformed(walk(m, chunks, &d, mac, &mac_len), detail);
	assert_int_equal(mac_len, 0);
	dec_free(&d);
}

/* The twin: an element the RFCs do not put there is not read past. After
 * the mac that includes unauthAttrs tagged [3], as OpenSSL's template before
 * 3.0.22 has it; after an EnvelopedData's content info, a [2]. */
static void
test_attributes_under_another_tag_are_extra_data(void **state)
{
	const struct fx *f = *state;
	int gcm;

	for (gcm = 0; gcm <= 1; gcm++) {
		struct edit ed = { .form = AS_IS };
		struct buf m, b;

		make_msg(f, (const unsigned char *)"hello", 5, gcm, DER, 0, &m);
		if (gcm)
			put_attrs(&ed.at_end, 0xa3);
		else
			put_attrs(&ed.after_eci, 0xa2);
		rebuild(&m, &ed, &b);
		check_malformed(&b, SEVEN,
		                MALFORMED_PREFIX "it has extra data after the encrypted content");
		edit_free(&ed);
		buf_free(&b);
		buf_free(&m);
	}
}

static void
test_authenticated_attributes_are_not_supported(void **state)
{
	const struct fx *f = *state;
	struct edit ed = { .form = AS_IS };
	struct buf m, b;

	make_msg(f, (const unsigned char *)"x", 1, GCM, DER, 0, &m);
	put_attrs(&ed.after_eci, 0xa1);
	rebuild(&m, &ed, &b);
	check_malformed(&b, ODD, "authenticated attributes in AuthEnvelopedData are not supported");
	edit_free(&ed);
	buf_free(&b);
	buf_free(&m);
}

static void
test_mac_longer_than_16_bytes_is_malformed(void **state)
{
	const struct fx *f = *state;
	struct edit ed = { .form = AS_IS, .mac_grow = 1 };
	struct buf m, b;

	make_msg(f, (const unsigned char *)"x", 1, GCM, DER, 0, &m);
	rebuild(&m, &ed, &b);
	check_malformed(&b, ODD, MALFORMED_PREFIX "its authentication tag is too long");
	buf_free(&b);
	buf_free(&m);
}

static void
test_mac_longer_than_its_room_is_malformed(void **state)
{
	const struct fx *f = *state;
	struct buf m;
	struct dec d;
	unsigned char mac[8];
	size_t mac_len = sizeof(mac);

	make_msg(f, (const unsigned char *)"x", 1, GCM, BER, 0, &m);
	dec_init(&d, NULL, NULL);
	assert_malformed(walk(&m, ODD, &d, mac, &mac_len),
	                 MALFORMED_PREFIX "its authentication tag is too long");
	assert_int_equal(mac_len, 0);
	dec_free(&d);
	buf_free(&m);
}

static void
test_absent_content_is_reported_after_the_header(void **state)
{
	const struct fx *f = *state;
	int gcm;

	for (gcm = 0; gcm <= 1; gcm++) {
		struct buf m;
		struct dec d;
		unsigned char mac[16];
		size_t mac_len = sizeof(mac);

		make_msg(f, (const unsigned char *)"x", 1, gcm, DER, 1, &m);
		dec_init(&d, f->rsa, f->rsa_cert);
		assert_int_equal(walk(&m, ODD, &d, mac, &mac_len), PSM_ERR_MALFORMED);
		assert_string_equal(psm_error_detail(), "the enveloped-data carries no content" PSM_HINT_DAMAGED);
		/* the header was handed on and decrypts to an empty cipher stream */
		assert_int_equal(d.headers, 1);
		assert_int_equal(d.sinks, 0);
		assert_non_null(d.ctx);
		dec_free(&d);
		buf_free(&m);
	}
}

/* ------------------------------------------------------------------ */
/* Malformed input                                                     */

static void
test_truncation_at_every_offset_is_malformed(void **state)
{
	const struct fx *f = *state;
	int gcm, ber;

	for (gcm = 0; gcm <= 1; gcm++)
		for (ber = 0; ber <= 1; ber++) {
			struct buf m, cut;
			size_t n;

			make_msg(f, (const unsigned char *)"hello", 5, gcm, ber, 0, &m);
			for (n = 0; n < m.len; n++) {
				cut = m;
				cut.len = n;
				check_malformed(&cut, n % 2 ? ONE : ODD, MALFORMED_PREFIX);
			}
			buf_free(&m);
		}
}

static void
test_signed_data_is_malformed(void **state)
{
	const struct fx *f = *state;
	BIO *in = track(BIO_new_mem_buf("signed content", -1), free_bio);
	BIO *out = track(BIO_new(BIO_s_mem()), free_bio);
	CMS_ContentInfo *cms = track(CMS_sign(f->rsa_cert, f->rsa, NULL, in, CMS_BINARY), free_cms);
	struct buf m;

	assert_int_equal(i2d_CMS_bio(out, cms), 1);
	bio_to_buf(out, &m);
	check_malformed(&m, ODD,
	                MALFORMED_PREFIX "it is not an EnvelopedData or AuthEnvelopedData");
	buf_free(&m);
	release(cms);
	release(in);
	release(out);
}

static void
test_garbage_is_malformed(void **state)
{
	static const char *const texts[] = {
		"", "\x30", "\x30\x80", "\x30\x80\x00\x00", "\x30\x00", "\x04\x03" "abc",
		"MIME-Version: 1.0\r\n",
		/* an EnvelopedData OID with nothing after it */
		"\x30\x0b\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03",
		/* the OID in a long-form length */
		"\x30\x80\x06\x81\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03",
	};
	static const size_t lens[] = { 0, 1, 2, 4, 2, 5, 19, 13, 14 };
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct buf m = { (unsigned char *)(uintptr_t)texts[i], lens[i], 0 };

		check_malformed(&m, ODD, MALFORMED_PREFIX);
	}
	for (i = 0; i < 200; i++) {
		unsigned char *p = random_bytes(i * 7);
		struct buf m = { p, i * 7, 0 };

		if (i % 2 && m.len > 0)
			p[0] = 0x30;   /* get past the first check */
		check_malformed(&m, ODD, MALFORMED_PREFIX);
		release(p);
	}
}

static void
test_trailing_garbage_is_malformed(void **state)
{
	const struct fx *f = *state;
	int gcm, ber;

	for (gcm = 0; gcm <= 1; gcm++)
		for (ber = 0; ber <= 1; ber++) {
			struct buf m;

			make_msg(f, (const unsigned char *)"hello", 5, gcm, ber, 0, &m);
			buf_add(&m, "\0\0\x01", 3);
			check_malformed(&m, SEVEN, MALFORMED_PREFIX "data follows it");
			buf_free(&m);
		}
}

static void
test_trailing_zero_bytes_are_accepted(void **state)
{
	const struct fx *f = *state;
	static const unsigned char zeros[100];
	int gcm, ber;

	for (gcm = 0; gcm <= 1; gcm++)
		for (ber = 0; ber <= 1; ber++) {
			struct buf m;

			make_msg(f, (const unsigned char *)"hello", 5, gcm, ber, 0, &m);
			buf_add(&m, zeros, sizeof(zeros));
			check_walk(&m, &m, SEVEN, gcm, (const unsigned char *)"hello", 5, f->rsa,
			           f->rsa_cert);
			buf_free(&m);
		}
}

static void
test_huge_content_length_is_malformed(void **state)
{
	const struct fx *f = *state;
	struct edit ed = { .form = HUGE_LENGTH };
	struct buf m, b;

	make_msg(f, (const unsigned char *)"hello", 5, CBC, DER, 0, &m);
	rebuild(&m, &ed, &b);
	check_malformed(&b, ODD, MALFORMED_PREFIX "it ends too early");
	buf_free(&b);
	buf_free(&m);
}

static void
test_huge_content_info_length_is_malformed(void **state)
{
	const struct fx *f = *state;
	struct buf m, b = { 0 };
	size_t hl, len;

	/* 30 84 7f ff ff ff and the rest of a real message */
	make_msg(f, (const unsigned char *)"hello", 5, GCM, DER, 0, &m);
	tlv(m.p, &hl, &len);
	buf_add(&b, "\x30\x84\x7f\xff\xff\xff", 6);
	buf_add(&b, m.p + hl, m.len - hl);
	check_malformed(&b, ODD, MALFORMED_PREFIX "it ends too early");
	buf_free(&b);
	buf_free(&m);
}

/* Recipient infos of declared length 2^62, followed by endless zero
 * bytes: the walk stops at MAX_META, not at the end of the input. */
static void
test_huge_recipient_infos_stop_at_the_meta_cap(void **state)
{
	static const unsigned char start[] = {
		0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03,
		0xa0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x00,
		0x31, 0x88, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct buf m = { (unsigned char *)(uintptr_t)start, sizeof(start), 0 };
	struct src s;
	struct dec d;
	unsigned char mac[16];
	size_t mac_len = sizeof(mac);

	src_init(&s, &m, PAGE);
	s.zeros_forever = 1;
	dec_init(&d, NULL, NULL);
	assert_malformed(psm_cms_envelope_stream(pull, &s, on_header, &d, sink, &d, mac, &mac_len),
	                 MALFORMED_PREFIX "its recipient information is too large");
	assert_int_equal(d.headers, 0);
	assert_true(s.pulled < 17 * MIB);
	dec_free(&d);
}

static void
test_header_error_stops_the_walk_before_content(void **state)
{
	const struct fx *f = *state;
	struct buf m;
	struct dec d;
	unsigned char mac[16];
	size_t mac_len = sizeof(mac);

	make_msg(f, (const unsigned char *)"hello", 5, GCM, BER, 0, &m);
	dec_init(&d, NULL, NULL);
	d.header_ret = PSM_ERR_NOT_FOUND;
	assert_int_equal(walk(&m, ODD, &d, mac, &mac_len), PSM_ERR_NOT_FOUND);
	assert_int_equal(d.headers, 1);
	assert_int_equal(d.sinks, 0);
	assert_int_equal(mac_len, 0);
	dec_free(&d);
	buf_free(&m);
}

static void
test_sink_error_stops_the_walk(void **state)
{
	const struct fx *f = *state;
	struct buf m;
	struct dec d;
	unsigned char mac[16];
	size_t mac_len = sizeof(mac);

	make_msg(f, (const unsigned char *)"hello", 5, CBC, BER, 0, &m);
	dec_init(&d, NULL, NULL);
	d.sink_ret = PSM_ERR_IO;
	assert_int_equal(walk(&m, ODD, &d, mac, &mac_len), PSM_ERR_IO);
	assert_int_equal(d.sinks, 1);
	dec_free(&d);
	buf_free(&m);
}

/* The SignedData walker shares the reader: it still streams. */
static int
collect(void *ud, const void *p, size_t n)
{
	buf_add(ud, p, n);
	return 0;
}

static void
test_signed_data_walker_still_detaches_the_content(void **state)
{
	const struct fx *f = *state;
	unsigned char *content = random_bytes(100 * KIB);
	BIO *in = track(BIO_new_mem_buf(content, 100 * KIB), free_bio);
	BIO *out = track(BIO_new(BIO_s_mem()), free_bio);
	CMS_ContentInfo *cms = track(CMS_sign(f->rsa_cert, f->rsa, NULL, in, CMS_BINARY), free_cms);
	CMS_ContentInfo *det;
	struct buf m, got = { 0 };
	struct src s;
	unsigned char *der = NULL;
	const unsigned char *q;
	size_t der_len = 0;
	int r;

	assert_int_equal(i2d_CMS_bio(out, cms), 1);
	bio_to_buf(out, &m);
	src_init(&s, &m, ODD);
	r = psm_cms_detach_stream(pull, &s, collect, &got, &der, &der_len);
	if (der != NULL)
		track(der, free);
	assert_int_equal(r, 0);
	assert_int_equal(got.len, 100 * KIB);
	assert_memory_equal(got.p, content, got.len);
	q = der;
	det = track(d2i_CMS_ContentInfo(NULL, &q, (long)der_len), free_cms);
	assert_int_equal(OBJ_obj2nid(CMS_get0_type(det)), NID_pkcs7_signed);
	assert_int_equal(CMS_is_detached(det), 1);
	release(det);
	release(der);
	buf_free(&got);
	buf_free(&m);
	release(cms);
	release(in);
	release(out);
	release(content);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_enveloped_der_decrypts_from_the_stream, release_all),
		cmocka_unit_test_teardown(test_enveloped_ber_decrypts_from_the_stream, release_all),
		cmocka_unit_test_teardown(test_auth_enveloped_der_decrypts_and_checks_the_mac, release_all),
		cmocka_unit_test_teardown(test_auth_enveloped_ber_decrypts_and_checks_the_mac, release_all),
		cmocka_unit_test_teardown(test_ec_recipient_decrypts_from_the_header, release_all),
		cmocka_unit_test_teardown(test_nested_constructed_pieces_stream_in_order, release_all),
		cmocka_unit_test_teardown(test_unprotected_and_unauthenticated_attributes_are_read_past, release_all),
		cmocka_unit_test_teardown(test_attributes_under_another_tag_are_extra_data, release_all),
		cmocka_unit_test_teardown(test_authenticated_attributes_are_not_supported, release_all),
		cmocka_unit_test_teardown(test_mac_longer_than_16_bytes_is_malformed, release_all),
		cmocka_unit_test_teardown(test_mac_longer_than_its_room_is_malformed, release_all),
		cmocka_unit_test_teardown(test_absent_content_is_reported_after_the_header, release_all),
		cmocka_unit_test_teardown(test_truncation_at_every_offset_is_malformed, release_all),
		cmocka_unit_test_teardown(test_signed_data_is_malformed, release_all),
		cmocka_unit_test_teardown(test_garbage_is_malformed, release_all),
		cmocka_unit_test_teardown(test_trailing_garbage_is_malformed, release_all),
		cmocka_unit_test_teardown(test_trailing_zero_bytes_are_accepted, release_all),
		cmocka_unit_test_teardown(test_huge_content_length_is_malformed, release_all),
		cmocka_unit_test_teardown(test_huge_content_info_length_is_malformed, release_all),
		cmocka_unit_test_teardown(test_huge_recipient_infos_stop_at_the_meta_cap, release_all),
		cmocka_unit_test_teardown(test_header_error_stops_the_walk_before_content, release_all),
		cmocka_unit_test_teardown(test_sink_error_stops_the_walk, release_all),
		cmocka_unit_test_teardown(test_signed_data_walker_still_detaches_the_content, release_all),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
