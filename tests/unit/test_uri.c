/* Unit tests for psm_p11_check_uri() (tokens/p11.c): pkcs11: URIs (RFC 7512)
 * parse, and never carry a PIN. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "p11.h"

#define POISON_DETAIL "poisoned detail"

static int
setup(void **state)
{
	/* an error path must replace this; a success leaves it alone */
	psm_error_set(POISON_DETAIL);
	return 0;
}

static int
teardown(void **state)
{
	psm_error_clear();
	return 0;
}

static void
assert_accepted(const char *uri)
{
	assert_int_equal(psm_p11_check_uri(uri), 0);
}

static void
assert_rejected(const char *uri)
{
	const char *d;

	assert_int_equal(psm_p11_check_uri(uri), PSM_ERR_URI);
	d = psm_error_detail();
	assert_non_null(d);
	assert_true(strlen(d) > 0);
	assert_string_not_equal(d, POISON_DETAIL);
}

/* A URI with a PIN in it is refused with a detail that points to
 * pin-source= and does not repeat the PIN. */
static void
assert_rejected_without_echo(const char *uri, const char *pin)
{
	const char *d;

	assert_rejected(uri);
	d = psm_error_detail();
	if (strstr(d, pin) != NULL)
		fail_msg("the error detail repeats the PIN '%s': %s", pin, d);
}

/* ------------------------------------------------------------------ */
/* accepted                                                            */

static void
test_uri_accepts_token_id_type(void **state)
{
	assert_accepted("pkcs11:token=x;id=%01;type=private");
}

static void
test_uri_accepts_module_path_query(void **state)
{
	assert_accepted("pkcs11:token=x;id=%01;type=private?module-path=/x.so");
}

static void
test_uri_accepts_pin_source_query(void **state)
{
	assert_accepted("pkcs11:token=x;id=%01;type=private?pin-source=file:/x");
}

static void
test_uri_accepts_module_path_and_pin_source(void **state)
{
	assert_accepted("pkcs11:token=x;id=%01?module-path=/x.so&pin-source=file:/x");
}

static void
test_uri_accepts_bare_scheme(void **state)
{
	assert_accepted("pkcs11:");
}

static void
test_uri_accepts_percent_encoded_label(void **state)
{
	assert_accepted("pkcs11:token=My%20Token;object=Alice%27s%20key;id=%a0%B1");
}

static void
test_uri_success_keeps_detail(void **state)
{
	assert_accepted("pkcs11:token=x");
	assert_string_equal(psm_error_detail(), POISON_DETAIL);
}

/* ------------------------------------------------------------------ */
/* rejected                                                            */

static void
test_uri_rejects_missing_scheme(void **state)
{
	assert_rejected("token=x;id=%01;type=private");
}

static void
test_uri_rejects_other_scheme(void **state)
{
	assert_rejected("file:///x.so");
}

static void
test_uri_rejects_empty_string(void **state)
{
	assert_rejected("");
}

static void
test_uri_rejects_malformed_percent_encoding(void **state)
{
	assert_rejected("pkcs11:id=%zz");
}

static void
test_uri_rejects_truncated_percent_encoding(void **state)
{
	assert_rejected("pkcs11:id=%0");
}

static void
test_uri_rejects_pin_value_in_query(void **state)
{
	assert_rejected_without_echo("pkcs11:token=x;id=%01;type=private?pin-value=S3cr3tPIN",
	                             "S3cr3tPIN");
	assert_non_null(strstr(psm_error_detail(), "pin-source"));
}

static void
test_uri_rejects_pin_value_in_path(void **state)
{
	assert_rejected_without_echo("pkcs11:token=x;pin-value=S3cr3tPIN;id=%01", "S3cr3tPIN");
	assert_non_null(strstr(psm_error_detail(), "pin-source"));
}

static void
test_uri_rejects_pin_value_next_to_module_path(void **state)
{
	assert_rejected_without_echo("pkcs11:token=x?module-path=/x.so&pin-value=S3cr3tPIN",
	                             "S3cr3tPIN");
	assert_non_null(strstr(psm_error_detail(), "pin-source"));
}

static void
test_uri_rejects_pin_value_next_to_pin_source(void **state)
{
	assert_rejected_without_echo("pkcs11:token=x?pin-source=file:/x&pin-value=S3cr3tPIN",
	                             "S3cr3tPIN");
	assert_non_null(strstr(psm_error_detail(), "pin-source"));
}

static void
test_uri_rejects_percent_encoded_pin_value(void **state)
{
	const char *uri = "pkcs11:token=x?pin-value=%39%38%37%36%35%34";

	assert_rejected_without_echo(uri, "987654");
	assert_rejected_without_echo(uri, "%39%38%37%36%35%34");
}

static void
test_uri_rejects_empty_pin_value(void **state)
{
	assert_rejected("pkcs11:token=x?pin-value=");
	assert_non_null(strstr(psm_error_detail(), "pin-source"));
}

static void
test_uri_parse_error_does_not_echo_pin_value(void **state)
{
	/* malformed for another reason, and carrying a PIN as well */
	assert_rejected_without_echo("pkcs11:id=%zz?pin-value=S3cr3tPIN", "S3cr3tPIN");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_uri_accepts_token_id_type),
		T(test_uri_accepts_module_path_query),
		T(test_uri_accepts_pin_source_query),
		T(test_uri_accepts_module_path_and_pin_source),
		T(test_uri_accepts_bare_scheme),
		T(test_uri_accepts_percent_encoded_label),
		T(test_uri_success_keeps_detail),

		T(test_uri_rejects_missing_scheme),
		T(test_uri_rejects_other_scheme),
		T(test_uri_rejects_empty_string),
		T(test_uri_rejects_malformed_percent_encoding),
		T(test_uri_rejects_truncated_percent_encoding),
		T(test_uri_rejects_pin_value_in_query),
		T(test_uri_rejects_pin_value_in_path),
		T(test_uri_rejects_pin_value_next_to_module_path),
		T(test_uri_rejects_pin_value_next_to_pin_source),
		T(test_uri_rejects_percent_encoded_pin_value),
		T(test_uri_rejects_empty_pin_value),
		T(test_uri_parse_error_does_not_echo_pin_value),
	};

	return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
