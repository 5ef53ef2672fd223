/* Unit tests for core/error.c (the error enum, sentences and the per-thread
 * detail) and tokens/ckr.c (CK_RV -> psm_err at the PKCS#11 boundary). */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ckr.h"
#include "error.h"

/* The detail buffer in core/error.c holds this many bytes with the NUL. */
#define DETAIL_CAP 512

static int
setup(void **state)
{
	psm_error_clear();
	ERR_clear_error();
	return 0;
}

static int
teardown(void **state)
{
	psm_error_clear();
	ERR_clear_error();
	return 0;
}

/* ------------------------------------------------------------------ */
/* psm_strerror                                                        */

static void
test_strerror_gives_distinct_sentence_for_every_code(void **state)
{
	int e, f;

	for (e = PSM_OK; e > PSM_ERR__LAST; e--) {
		const char *s = psm_strerror(e);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, "unknown error");
		for (f = PSM_OK; f > e; f--)
			assert_string_not_equal(s, psm_strerror(f));
	}
}

static void
test_strerror_ok_is_success(void **state)
{
	assert_string_equal(psm_strerror(PSM_OK), "success");
}

static void
test_strerror_out_of_range_is_unknown_error(void **state)
{
	static const int bad[] = {
		PSM_ERR__LAST, PSM_ERR__LAST - 1, 1, 42, -1000, INT_MIN, INT_MAX,
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *s = psm_strerror(bad[i]);

		assert_non_null(s);
		assert_string_equal(s, "unknown error");
	}
}

/* ------------------------------------------------------------------ */
/* psm_error_set / psm_error_detail / psm_error_clear                  */

static void
test_error_detail_is_empty_initially(void **state)
{
	const char *d = psm_error_detail();

	assert_non_null(d);
	assert_string_equal(d, "");
}

static void
test_error_set_formats_detail(void **state)
{
	psm_error_set("reading '%s': %d bytes", "cert.pem", 42);
	assert_string_equal(psm_error_detail(), "reading 'cert.pem': 42 bytes");
}

static void
test_error_set_overwrites_previous_detail(void **state)
{
	psm_error_set("first %s", "detail");
	psm_error_set("second");
	assert_string_equal(psm_error_detail(), "second");
}

static void
test_error_set_does_not_reinterpret_arguments(void **state)
{
	psm_error_set("%s", "100%s%n%d");
	assert_string_equal(psm_error_detail(), "100%s%n%d");
}

static void
test_error_clear_empties_detail(void **state)
{
	psm_error_set("something failed");
	psm_error_clear();
	assert_string_equal(psm_error_detail(), "");
}

static void
test_error_set_truncates_long_detail(void **state)
{
	size_t n = 4 * DETAIL_CAP;
	char *big = malloc(n + 1);
	const char *d;
	size_t i;

	assert_non_null(big);
	for (i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = '\0';

	psm_error_set("%s", big);
	d = psm_error_detail();
	assert_int_equal(strlen(d), DETAIL_CAP - 1);
	assert_memory_equal(d, big, DETAIL_CAP - 1);

	/* a shorter detail afterwards is not polluted by the long one */
	psm_error_set("short");
	assert_string_equal(psm_error_detail(), "short");
	free(big);
}

static void
test_error_set_truncates_long_formatted_detail(void **state)
{
	psm_error_set("%0*d|%s", 3 * DETAIL_CAP, 7, "tail");
	assert_int_equal(strlen(psm_error_detail()), DETAIL_CAP - 1);
	assert_null(strstr(psm_error_detail(), "tail"));
}

struct thread_result {
	char seen_before[64];
	char seen_after[64];
};

static void *
thread_main(void *arg)
{
	struct thread_result *res = arg;

	snprintf(res->seen_before, sizeof(res->seen_before), "%s", psm_error_detail());
	psm_error_set("set by the other thread");
	snprintf(res->seen_after, sizeof(res->seen_after), "%s", psm_error_detail());
	return NULL;
}

static void
test_error_detail_is_per_thread(void **state)
{
	struct thread_result res;
	pthread_t th;

	memset(&res, 0, sizeof(res));
	psm_error_set("set by the main thread");
	assert_int_equal(pthread_create(&th, NULL, thread_main, &res), 0);
	assert_int_equal(pthread_join(th, NULL), 0);

	assert_string_equal(res.seen_before, "");
	assert_string_equal(res.seen_after, "set by the other thread");
	assert_string_equal(psm_error_detail(), "set by the main thread");
}

/* ------------------------------------------------------------------ */
/* psm_error_from_openssl                                              */

static void
test_error_from_openssl_returns_the_code_given(void **state)
{
	int e;

	for (e = PSM_OK; e > PSM_ERR__LAST; e--) {
		ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
		assert_int_equal(psm_error_from_openssl(e, "op"), e);
	}
	assert_int_equal(psm_error_from_openssl(PSM_ERR_CRYPTO, "op"), PSM_ERR_CRYPTO);
}

static void
test_error_from_openssl_appends_queue_reason(void **state)
{
	ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
	assert_int_equal(psm_error_from_openssl(PSM_ERR_MALFORMED, "reading 'x.pem'"),
	                 PSM_ERR_MALFORMED);
	assert_string_equal(psm_error_detail(), "reading 'x.pem': no start line");
}

static void
test_error_from_openssl_clears_queue(void **state)
{
	ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
	ERR_raise(ERR_LIB_PEM, PEM_R_BAD_END_LINE);
	assert_int_not_equal(ERR_peek_error(), 0);
	psm_error_from_openssl(PSM_ERR_CRYPTO, "x");
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_error_from_openssl_uses_first_queued_reason(void **state)
{
	ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
	ERR_raise(ERR_LIB_PEM, PEM_R_BAD_END_LINE);
	psm_error_from_openssl(PSM_ERR_CRYPTO, "parsing");
	assert_string_equal(psm_error_detail(), "parsing: no start line");
}

static void
test_error_from_openssl_after_failed_pem_parse(void **state)
{
	static const char junk[] = "this is not a certificate\n";
	BIO *bio = BIO_new_mem_buf(junk, (int)sizeof(junk) - 1);
	X509 *x;

	assert_non_null(bio);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_null(x);
	assert_int_not_equal(ERR_peek_error(), 0);

	assert_int_equal(psm_error_from_openssl(PSM_ERR_MALFORMED, "reading the certificate"),
	                 PSM_ERR_MALFORMED);
	assert_non_null(strstr(psm_error_detail(), "reading the certificate: "));
	assert_non_null(strstr(psm_error_detail(), "no start line"));
	assert_int_equal(ERR_peek_error(), 0);
	BIO_free(bio);
}

static void
test_error_from_openssl_with_empty_queue_keeps_what(void **state)
{
	psm_error_set("stale detail");
	assert_int_equal(ERR_peek_error(), 0);
	assert_int_equal(psm_error_from_openssl(PSM_ERR_CRYPTO, "signing"), PSM_ERR_CRYPTO);
	assert_string_equal(psm_error_detail(), "signing");
}

static void
test_error_from_openssl_truncates_long_what(void **state)
{
	char what[3 * DETAIL_CAP];

	memset(what, 'w', sizeof(what) - 1);
	what[sizeof(what) - 1] = '\0';
	ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
	psm_error_from_openssl(PSM_ERR_CRYPTO, what);
	assert_int_equal(strlen(psm_error_detail()), DETAIL_CAP - 1);
	assert_int_equal(ERR_peek_error(), 0);
}

/* ------------------------------------------------------------------ */
/* psm_ckr_to_err                                                      */

static void
test_ckr_ok_maps_to_zero(void **state)
{
	assert_int_equal(psm_ckr_to_err(CKR_OK, "logging in"), 0);
}

static void
test_ckr_pin_incorrect_names_pin_and_operation(void **state)
{
	const char *d;

	psm_error_set("poison");
	assert_int_equal(psm_ckr_to_err(CKR_PIN_INCORRECT, "logging in to token 'alice'"),
	                 PSM_ERR_PIN_INCORRECT);
	d = psm_error_detail();
	assert_non_null(strstr(d, "PIN"));
	assert_non_null(strstr(d, "logging in to token 'alice'"));
	assert_non_null(strstr(d, "CKR_PIN_INCORRECT"));
	assert_null(strstr(d, "poison"));
}

static void
test_ckr_pin_locked_says_how_to_unlock(void **state)
{
	const char *d;

	assert_int_equal(psm_ckr_to_err(CKR_PIN_LOCKED, "logging in to token 'alice'"),
	                 PSM_ERR_PIN_LOCKED);
	d = psm_error_detail();
	assert_non_null(strstr(d, "unlock"));
	assert_non_null(strstr(d, "logging in to token 'alice'"));
	assert_non_null(strstr(d, "CKR_PIN_LOCKED"));
}

static void
test_ckr_token_not_present_maps_to_token_absent(void **state)
{
	assert_int_equal(psm_ckr_to_err(CKR_TOKEN_NOT_PRESENT, "opening a session"),
	                 PSM_ERR_TOKEN_ABSENT);
	assert_non_null(strstr(psm_error_detail(), "opening a session"));
	assert_non_null(strstr(psm_error_detail(), "CKR_TOKEN_NOT_PRESENT"));
}

static void
test_ckr_device_removed_maps_to_token_absent(void **state)
{
	assert_int_equal(psm_ckr_to_err(CKR_DEVICE_REMOVED, "signing"), PSM_ERR_TOKEN_ABSENT);
	assert_non_null(strstr(psm_error_detail(), "CKR_DEVICE_REMOVED"));
}

static void
test_ckr_key_function_not_permitted_maps_to_key_usage(void **state)
{
	assert_int_equal(psm_ckr_to_err(CKR_KEY_FUNCTION_NOT_PERMITTED, "decrypting with key 'k'"),
	                 PSM_ERR_KEY_USAGE);
	assert_non_null(strstr(psm_error_detail(), "decrypting with key 'k'"));
	assert_non_null(strstr(psm_error_detail(), "CKR_KEY_FUNCTION_NOT_PERMITTED"));
}

static void
test_ckr_unknown_maps_to_token_error_with_hex_code(void **state)
{
	const char *d;

	assert_int_equal(psm_ckr_to_err(CKR_VENDOR_DEFINED | 0x42, "signing"), PSM_ERR_TOKEN);
	d = psm_error_detail();
	assert_non_null(strstr(d, "signing"));
	assert_non_null(strstr(d, "CKR_0x80000042"));

	assert_int_equal(psm_ckr_to_err((CK_RV)0x1234, "signing"), PSM_ERR_TOKEN);
	assert_non_null(strstr(psm_error_detail(), "CKR_0x"));
	assert_non_null(strstr(psm_error_detail(), "1234"));
}

static void
test_ckr_every_error_sets_a_detail(void **state)
{
	static const CK_RV rvs[] = {
		CKR_HOST_MEMORY, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE, CKR_PIN_EXPIRED,
		CKR_USER_PIN_NOT_INITIALIZED, CKR_SLOT_ID_INVALID, CKR_TOKEN_NOT_RECOGNIZED,
		CKR_USER_NOT_LOGGED_IN, CKR_FUNCTION_CANCELED, CKR_CANCEL,
		CKR_KEY_TYPE_INCONSISTENT, CKR_MECHANISM_INVALID, CKR_CRYPTOKI_NOT_INITIALIZED,
		CKR_TOKEN_WRITE_PROTECTED, CKR_SESSION_READ_ONLY, CKR_GENERAL_ERROR,
		CKR_DEVICE_ERROR, CKR_FUNCTION_FAILED,
	};
	size_t i;

	for (i = 0; i < sizeof(rvs) / sizeof(rvs[0]); i++) {
		int r;

		psm_error_clear();
		r = psm_ckr_to_err(rvs[i], "the-operation");
		assert_true(r < 0);
		assert_true(r > PSM_ERR__LAST);
		assert_non_null(strstr(psm_error_detail(), "the-operation"));
		assert_non_null(strstr(psm_error_detail(), psm_ckr_name(rvs[i])));
	}
}

/* ------------------------------------------------------------------ */
/* psm_ckr_name                                                        */

static void
test_ckr_name_of_known_codes(void **state)
{
	assert_string_equal(psm_ckr_name(CKR_OK), "CKR_OK");
	assert_string_equal(psm_ckr_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
	assert_string_equal(psm_ckr_name(CKR_PIN_LOCKED), "CKR_PIN_LOCKED");
	assert_string_equal(psm_ckr_name(CKR_TOKEN_NOT_PRESENT), "CKR_TOKEN_NOT_PRESENT");
	assert_string_equal(psm_ckr_name(CKR_KEY_FUNCTION_NOT_PERMITTED),
	                    "CKR_KEY_FUNCTION_NOT_PERMITTED");
}

static void
test_ckr_name_of_unknown_code_is_hex(void **state)
{
	assert_string_equal(psm_ckr_name(CKR_VENDOR_DEFINED | 0x42), "CKR_0x80000042");
	assert_string_equal(psm_ckr_name((CK_RV)0x1234), "CKR_0x00001234");
}

static void
test_ckr_name_of_widest_code_fits(void **state)
{
	char want[64];

	snprintf(want, sizeof(want), "CKR_0x%08lx", (unsigned long)(CK_RV)-1);
	assert_string_equal(psm_ckr_name((CK_RV)-1), want);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_strerror_gives_distinct_sentence_for_every_code),
		T(test_strerror_ok_is_success),
		T(test_strerror_out_of_range_is_unknown_error),

		T(test_error_detail_is_empty_initially),
		T(test_error_set_formats_detail),
		T(test_error_set_overwrites_previous_detail),
		T(test_error_set_does_not_reinterpret_arguments),
		T(test_error_clear_empties_detail),
		T(test_error_set_truncates_long_detail),
		T(test_error_set_truncates_long_formatted_detail),
		T(test_error_detail_is_per_thread),

		T(test_error_from_openssl_returns_the_code_given),
		T(test_error_from_openssl_appends_queue_reason),
		T(test_error_from_openssl_clears_queue),
		T(test_error_from_openssl_uses_first_queued_reason),
		T(test_error_from_openssl_after_failed_pem_parse),
		T(test_error_from_openssl_with_empty_queue_keeps_what),
		T(test_error_from_openssl_truncates_long_what),

		T(test_ckr_ok_maps_to_zero),
		T(test_ckr_pin_incorrect_names_pin_and_operation),
		T(test_ckr_pin_locked_says_how_to_unlock),
		T(test_ckr_token_not_present_maps_to_token_absent),
		T(test_ckr_device_removed_maps_to_token_absent),
		T(test_ckr_key_function_not_permitted_maps_to_key_usage),
		T(test_ckr_unknown_maps_to_token_error_with_hex_code),
		T(test_ckr_every_error_sets_a_detail),

		T(test_ckr_name_of_known_codes),
		T(test_ckr_name_of_unknown_code_is_hex),
		T(test_ckr_name_of_widest_code_fits),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
