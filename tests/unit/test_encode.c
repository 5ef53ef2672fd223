/* Unit tests: streaming base64, quoted-printable and line-end filters. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "encode.h"

struct out {
	char buf[65536];
	size_t len;
};

static int
sink(void *ud, const void *p, size_t n)
{
	struct out *o = ud;

	assert_true(o->len + n < sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return 0;
}

/* Feed s in chunks of `step` bytes (1 = byte at a time). */
static const char *
qp(struct out *o, const char *s, size_t step)
{
	psm_qpenc e;
	size_t i, n = strlen(s);

	memset(o, 0, sizeof(*o));
	psm_qpenc_init(&e, "\r\n", sink, o);
	for (i = 0; i < n; i += step)
		assert_int_equal(psm_qpenc_update(&e, s + i, n - i < step ? n - i : step), 0);
	assert_int_equal(psm_qpenc_final(&e), 0);
	return o->buf;
}

static void
test_qp_plain_text_is_unchanged_but_crlf(void **state)
{
	struct out o;

	assert_string_equal(qp(&o, "hello world\nsecond line\n", 1000),
	                    "hello world\r\nsecond line\r\n");
}

static void
test_qp_encodes_eight_bit_and_equals(void **state)
{
	struct out o;

	assert_string_equal(qp(&o, "caf\xc3\xa9 = 1\n", 1000), "caf=C3=A9 =3D 1\r\n");
}

static void
test_qp_encodes_trailing_whitespace(void **state)
{
	struct out o;

	assert_string_equal(qp(&o, "trail \nand tab\t\r\n", 1000), "trail=20\r\nand tab=09\r\n");
}

static void
test_qp_protects_from_at_line_start(void **state)
{
	struct out o;

	assert_string_equal(qp(&o, "From me\nnot From\n", 1000), "=46rom me\r\nnot From\r\n");
}

static void
test_qp_soft_breaks_long_lines(void **state)
{
	struct out o;
	char in[301];
	const char *p, *eol;

	memset(in, 'a', 300);
	in[300] = '\0';
	qp(&o, in, 7);
	for (p = o.buf; (eol = strstr(p, "\r\n")) != NULL; p = eol + 2)
		assert_true(eol - p <= 76);
}

static void
test_qp_without_final_newline_ends_with_soft_break(void **state)
{
	struct out o;

	assert_string_equal(qp(&o, "no newline", 1000), "no newline=\r\n");
}

static void
test_qp_byte_at_a_time_equals_one_shot(void **state)
{
	static const char text[] = "From x\r\n\xff\xfe tab\t\nline \r\n=end \rcr\n";
	struct out a, b;

	qp(&a, text, 1);
	qp(&b, text, 1000);
	assert_string_equal(a.buf, b.buf);
}

static void
test_qp_lone_cr_is_data(void **state)
{
	struct out o;

	assert_string_equal(qp(&o, "a\rb\n", 1000), "a=0Db\r\n");
}

static void
b64_roundtrip(size_t n, size_t step)
{
	unsigned char *in = malloc(n + 1), *dec = malloc(n + 8);
	struct out o;
	psm_b64enc e;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int outl = 0, fl = 0;
	size_t i;
	const char *p, *eol;

	for (i = 0; i < n; i++)
		in[i] = (unsigned char)(i * 131 + 7);
	memset(&o, 0, sizeof(o));
	psm_b64enc_init(&e, "\r\n", sink, &o);
	for (i = 0; i < n; i += step)
		assert_int_equal(psm_b64enc_update(&e, in + i, n - i < step ? n - i : step), 0);
	assert_int_equal(psm_b64enc_final(&e), 0);
	for (p = o.buf; (eol = strstr(p, "\r\n")) != NULL; p = eol + 2)
		assert_true(eol - p <= 76);
	assert_true(*p == '\0');  /* ends with a line end */
	EVP_DecodeInit(ctx);
	assert_true(EVP_DecodeUpdate(ctx, dec, &outl, (unsigned char *)o.buf, (int)o.len) >= 0);
	assert_true(EVP_DecodeFinal(ctx, dec + outl, &fl) == 1);
	assert_int_equal((size_t)(outl + fl), n);
	assert_memory_equal(dec, in, n);
	EVP_ENCODE_CTX_free(ctx);
	free(in);
	free(dec);
}

/* Decode s fed in chunks of step characters; returns the length or -1. */
static long
b64dec(const char *s, size_t step, unsigned char *out)
{
	psm_b64dec d;
	size_t i, n = strlen(s);
	long k, total = 0;

	psm_b64dec_init(&d);
	for (i = 0; i < n; i += step) {
		if ((k = psm_b64dec_update(&d, s + i, n - i < step ? n - i : step, out + total)) < 0)
			return -1;
		total += k;
	}
	return psm_b64dec_final(&d) == 0 ? total : -1;
}

static void
test_b64dec_agrees_with_the_encoder(void **state)
{
	unsigned char in[3000], dec[3100];
	struct out o;
	psm_b64enc e;
	size_t n, i, step;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 77 + 3);
	for (n = 0; n < sizeof(in); n += n < 20 ? 1 : 97) {
		memset(&o, 0, sizeof(o));
		psm_b64enc_init(&e, "\n", sink, &o);
		assert_int_equal(psm_b64enc_update(&e, in, n), 0);
		assert_int_equal(psm_b64enc_final(&e), 0);
		for (step = 1; step < 80; step += 13) {
			assert_int_equal(b64dec(o.buf, step, dec), (long)n);
			assert_memory_equal(dec, in, n);
		}
	}
}

static void
test_b64dec_padding_white_space_and_errors(void **state)
{
	unsigned char dec[64];

	(void)state;
	assert_int_equal(b64dec("aGVsbG8=", 8, dec), 5);
	assert_memory_equal(dec, "hello", 5);
	assert_int_equal(b64dec("aGVs\r\nbA==\r\n", 3, dec), 4);
	assert_memory_equal(dec, "hell", 4);
	assert_int_equal(b64dec(" aGVs bG8h \t", 1, dec), 6);
	assert_int_equal(b64dec("aGVsbG8", 8, dec), -1);       /* cut short */
	assert_int_equal(b64dec("aGV$bG8h", 8, dec), -1);      /* not base64 */
	assert_int_equal(b64dec("aGVsbA==aGVs", 4, dec), -1);  /* data after padding */
	assert_int_equal(b64dec("a===", 4, dec), -1);
	assert_int_equal(b64dec("", 1, dec), 0);
}

static void
test_b64_roundtrips_every_length_and_chunking(void **state)
{
	size_t n, step;

	for (n = 0; n < 200; n += 13)
		for (step = 1; step < 10; step += 4)
			b64_roundtrip(n, step);
	b64_roundtrip(10000, 4096);
}

static void
test_b64_empty_input_is_empty(void **state)
{
	struct out o;
	psm_b64enc e;

	memset(&o, 0, sizeof(o));
	psm_b64enc_init(&e, "\n", sink, &o);
	assert_int_equal(psm_b64enc_final(&e), 0);
	assert_int_equal(o.len, 0);
}

static const char *
crlf(struct out *o, const char *s, size_t step)
{
	psm_crlf c;
	size_t i, n = strlen(s);

	memset(o, 0, sizeof(*o));
	psm_crlf_init(&c, "\r\n", sink, o);
	for (i = 0; i < n; i += step)
		assert_int_equal(psm_crlf_update(&c, s + i, n - i < step ? n - i : step), 0);
	assert_int_equal(psm_crlf_final(&c), 0);
	return o->buf;
}

static void
test_crlf_converts_lf_and_keeps_crlf(void **state)
{
	struct out o;
	size_t step;

	for (step = 1; step < 6; step++)
		assert_string_equal(crlf(&o, "a\nb\r\nc\rd\r\r\n\n", step), "a\r\nb\r\nc\rd\r\r\n\r\n");
}

static void
test_crlf_long_input_without_line_ends(void **state)
{
	static char big[60000];
	psm_crlf c;
	struct out *o = calloc(1, sizeof(*o));

	memset(big, 'x', sizeof(big) - 1);
	psm_crlf_init(&c, "\r\n", sink, o);
	assert_int_equal(psm_crlf_update(&c, big, 40000), 0);
	assert_int_equal(psm_crlf_update(&c, "\n", 1), 0);
	assert_int_equal(psm_crlf_final(&c), 0);
	assert_int_equal(o->len, 40002);
	free(o);
}

static void
test_crlf_keeps_trailing_lone_cr(void **state)
{
	struct out o;

	assert_string_equal(crlf(&o, "x\r", 1), "x\r");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qp_plain_text_is_unchanged_but_crlf),
		cmocka_unit_test(test_qp_encodes_eight_bit_and_equals),
		cmocka_unit_test(test_qp_encodes_trailing_whitespace),
		cmocka_unit_test(test_qp_protects_from_at_line_start),
		cmocka_unit_test(test_qp_soft_breaks_long_lines),
		cmocka_unit_test(test_qp_without_final_newline_ends_with_soft_break),
		cmocka_unit_test(test_qp_byte_at_a_time_equals_one_shot),
		cmocka_unit_test(test_qp_lone_cr_is_data),
		cmocka_unit_test(test_b64_roundtrips_every_length_and_chunking),
		cmocka_unit_test(test_b64_empty_input_is_empty),
		cmocka_unit_test(test_b64dec_agrees_with_the_encoder),
		cmocka_unit_test(test_b64dec_padding_white_space_and_errors),
		cmocka_unit_test(test_crlf_converts_lf_and_keeps_crlf),
		cmocka_unit_test(test_crlf_keeps_trailing_lone_cr),
		cmocka_unit_test(test_crlf_long_input_without_line_ends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
