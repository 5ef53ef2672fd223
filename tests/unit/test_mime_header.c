/* Unit tests for core/mime_header.c: header blocks (RFC 5322 folding),
 * Content-Type / Content-Disposition parameters (RFC 2045, RFC 2231),
 * Content-Transfer-Encoding and address lists. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "mime_header.h"

#define POISON ((void *)(uintptr_t)0x5a5a5a5a)

static psm_mime_headers *
parse_ok(const char *s)
{
	psm_mime_headers *h = POISON;

	assert_int_equal(psm_mime_headers_parse(s, strlen(s), 0, NULL, &h), 0);
	assert_non_null(h);
	assert_ptr_not_equal(h, POISON);
	return h;
}

static void
parse_fails(const char *s, const char *detail)
{
	psm_mime_headers *h = POISON;
	size_t used = 12345;

	psm_error_clear();
	assert_int_equal(psm_mime_headers_parse(s, strlen(s), 0, &used, &h), PSM_ERR_MALFORMED);
	assert_null(h);
	assert_int_equal(used, 0);
	assert_non_null(strstr(psm_error_detail(), detail));
}

static psm_mime_ctype *
ctype_ok(const char *s)
{
	psm_mime_ctype *ct = POISON;

	assert_int_equal(psm_mime_ctype_parse(s, &ct), 0);
	assert_non_null(ct);
	assert_ptr_not_equal(ct, POISON);
	return ct;
}

/* ------------------------------------------------------------------ */
/* Header blocks                                                       */

static void
test_headers_fields_in_order_with_names_as_written(void **state)
{
	psm_mime_headers *h = parse_ok("From: a@example.com\r\nX-Mixed-CASE: v\r\n\r\nbody");

	assert_int_equal(psm_mime_headers_count(h), 2);
	assert_string_equal(psm_mime_headers_at(h, 0)->name, "From");
	assert_string_equal(psm_mime_headers_at(h, 0)->value, "a@example.com");
	assert_string_equal(psm_mime_headers_at(h, 1)->name, "X-Mixed-CASE");
	assert_null(psm_mime_headers_at(h, 2));
	psm_mime_headers_free(h);
}

static void
test_headers_unfolding_removes_line_ends_only(void **state)
{
	psm_mime_headers *h = parse_ok("Subject: a long\r\n  folded\r\n\tsubject  \r\n\r\n");

	/* RFC 5322 section 2.2.3: CRLF removed, the WSP that followed kept */
	assert_string_equal(psm_mime_headers_at(h, 0)->value, "a long  folded\tsubject");
	psm_mime_headers_free(h);
}

static void
test_headers_unfolding_with_lf_line_ends(void **state)
{
	psm_mime_headers *h = parse_ok("Subject: one\n two\nTo: x@y\n\n");

	assert_int_equal(psm_mime_headers_count(h), 2);
	assert_string_equal(psm_mime_headers_at(h, 0)->value, "one two");
	assert_string_equal(psm_mime_headers_at(h, 1)->value, "x@y");
	psm_mime_headers_free(h);
}

static void
test_headers_value_starting_on_continuation_line(void **state)
{
	psm_mime_headers *h = parse_ok("Subject:\r\n hello\r\n\r\n");

	assert_string_equal(psm_mime_headers_at(h, 0)->value, "hello");
	psm_mime_headers_free(h);
}

static void
test_headers_raw_bytes_are_exact(void **state)
{
	static const char blk[] = "A: 1\r\n  2\r\nB : x\nC:y\r\n\r\nbody";
	psm_mime_headers *h = parse_ok(blk);
	const psm_mime_field *f;
	const unsigned char *raw;
	size_t len;

	f = psm_mime_headers_at(h, 0);
	assert_int_equal(f->raw_len, 11);
	assert_memory_equal(f->raw, "A: 1\r\n  2\r\n", 11);
	f = psm_mime_headers_at(h, 1);
	assert_int_equal(f->raw_len, 6);
	assert_memory_equal(f->raw, "B : x\n", 6);
	f = psm_mime_headers_at(h, 2);
	assert_int_equal(f->raw_len, 5);
	assert_memory_equal(f->raw, "C:y\r\n", 5);
	raw = psm_mime_headers_raw(h, &len);
	assert_int_equal(len, 22);
	assert_memory_equal(raw, blk, 22);
	psm_mime_headers_free(h);
}

static void
test_headers_whitespace_before_colon_tolerated(void **state)
{
	psm_mime_headers *h = parse_ok("Subject \t: obsolete\r\n\r\n");

	assert_string_equal(psm_mime_headers_at(h, 0)->name, "Subject");
	assert_string_equal(psm_mime_headers_at(h, 0)->value, "obsolete");
	assert_non_null(psm_mime_headers_find(h, "subject"));
	psm_mime_headers_free(h);
}

static void
test_headers_stop_at_empty_line(void **state)
{
	static const char msg[] = "A: 1\r\nB: 2\r\n\r\nC: not a header\r\n";
	psm_mime_headers *h = POISON;
	size_t used = 0;

	assert_int_equal(psm_mime_headers_parse(msg, strlen(msg), 0, &used, &h), 0);
	assert_int_equal(used, 14);
	assert_int_equal(psm_mime_headers_count(h), 2);
	assert_null(psm_mime_headers_find(h, "C"));
	psm_mime_headers_free(h);
}

static void
test_headers_last_line_without_line_end(void **state)
{
	psm_mime_headers *h = parse_ok("A: 1\r\nB: 2");

	assert_int_equal(psm_mime_headers_count(h), 2);
	assert_string_equal(psm_mime_headers_at(h, 1)->value, "2");
	psm_mime_headers_free(h);
}

static void
test_headers_empty_block(void **state)
{
	psm_mime_headers *h = POISON;
	size_t used = 0;

	assert_int_equal(psm_mime_headers_parse("\r\nbody", 6, 0, &used, &h), 0);
	assert_int_equal(used, 2);
	assert_int_equal(psm_mime_headers_count(h), 0);
	assert_true(psm_mime_headers_ctype(h)->defaulted);
	psm_mime_headers_free(h);
}

static void
test_headers_line_without_colon_rejected(void **state)
{
	parse_fails("From: a@b\r\nthis is body text\r\n\r\n", "without a colon");
}

static void
test_headers_continuation_before_any_field_rejected(void **state)
{
	parse_fails("  folded: nothing\r\n\r\n", "continuation");
}

static void
test_headers_empty_name_rejected(void **state)
{
	parse_fails(": value\r\n\r\n", "without a name");
}

static void
test_headers_space_inside_name_rejected(void **state)
{
	parse_fails("Bad Name: value\r\n\r\n", "invalid header field name");
}

static void
test_headers_nul_byte_rejected(void **state)
{
	static const char blk[] = "A: x\0y\r\n\r\n";
	psm_mime_headers *h = POISON;

	assert_int_equal(psm_mime_headers_parse(blk, sizeof(blk) - 1, 0, NULL, &h), PSM_ERR_MALFORMED);
	assert_null(h);
	assert_non_null(strstr(psm_error_detail(), "NUL"));
}

static void
test_headers_duplicate_content_type_rejected(void **state)
{
	parse_fails("Content-Type: text/plain\r\ncontent-type: multipart/mixed; boundary=x\r\n\r\n",
	            "more than one Content-Type");
}

static void
test_headers_find_first_and_next_case_insensitive(void **state)
{
	psm_mime_headers *h = parse_ok("Received: 1\r\nTo: x@y\r\nRECEIVED: 2\r\nreceived: 3\r\n\r\n");
	const psm_mime_field *f;

	f = psm_mime_headers_find(h, "received");
	assert_non_null(f);
	assert_string_equal(f->value, "1");
	f = psm_mime_headers_find_next(h, f, "Received");
	assert_string_equal(f->value, "2");
	f = psm_mime_headers_find_next(h, f, "Received");
	assert_string_equal(f->value, "3");
	assert_null(psm_mime_headers_find_next(h, f, "Received"));
	assert_null(psm_mime_headers_find(h, "Cc"));
	psm_mime_headers_free(h);
}

static void
test_header_block_end_found_or_not(void **state)
{
	assert_int_equal(psm_mime_header_block_end("A: 1\r\n\r\nbody", 12), 8);
	assert_int_equal(psm_mime_header_block_end("A: 1\n\nbody", 10), 6);
	assert_int_equal(psm_mime_header_block_end("\r\n", 2), 2);
	assert_int_equal(psm_mime_header_block_end("A: 1\r\n", 6), 0);
	assert_int_equal(psm_mime_header_block_end("A: 1\r\n\r", 7), 0);
	assert_int_equal(psm_mime_header_block_end("", 0), 0);
}

static void
test_mbox_from_line_detected(void **state)
{
	assert_true(psm_mime_is_mbox_from_line("From alice@example.com Mon Jan 1\n", 33));
	assert_false(psm_mime_is_mbox_from_line("From: alice@example.com\n", 24));
	assert_false(psm_mime_is_mbox_from_line("From", 4));
	/* and the parser does not take it for a header (the colons of the
	 * time make it look like a field with a space in its name) */
	parse_fails("From alice@example.com Mon Jan  1 00:00:00 2024\r\nFrom: a@b\r\n\r\n",
	            "invalid header field name");
}

/* ------------------------------------------------------------------ */
/* Content-Type                                                        */

static void
test_ctype_lowercases_type_and_parameter_names(void **state)
{
	psm_mime_ctype *ct = ctype_ok("Multipart/SIGNED; Protocol=\"application/pkcs7-signature\"; "
	                              "MICALG=SHA-256; Boundary=AbC");

	assert_string_equal(ct->type, "multipart");
	assert_string_equal(ct->subtype, "signed");
	assert_int_equal(ct->nparams, 3);
	assert_string_equal(ct->params[0].name, "protocol");
	assert_string_equal(psm_mime_ctype_param(ct, "micalg"), "SHA-256");
	/* values keep their case: a boundary is case-sensitive */
	assert_string_equal(psm_mime_ctype_param(ct, "boundary"), "AbC");
	assert_true(psm_mime_ctype_is(ct, "MULTIPART", "Signed"));
	assert_true(psm_mime_ctype_is(ct, "multipart", NULL));
	assert_false(psm_mime_ctype_is(ct, "multipart", "mixed"));
	assert_false(ct->defaulted);
	psm_mime_ctype_free(ct);
}

static void
test_ctype_quoted_boundary_with_escapes(void **state)
{
	psm_mime_ctype *ct = ctype_ok("multipart/mixed; boundary=\"a \\\"quoted\\\" b;c=d\\\\\"");

	assert_string_equal(psm_mime_ctype_param(ct, "boundary"), "a \"quoted\" b;c=d\\");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_comments_tolerated(void **state)
{
	psm_mime_ctype *ct = ctype_ok("(lead) multipart (a (nested) comment) / mixed (x) ; "
	                              "boundary (c) = \"b1\" (trailing) ; charset=x (end)");

	assert_string_equal(ct->type, "multipart");
	assert_string_equal(ct->subtype, "mixed");
	assert_string_equal(psm_mime_ctype_param(ct, "boundary"), "b1");
	assert_string_equal(psm_mime_ctype_param(ct, "charset"), "x");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_unquoted_value_with_tspecials_tolerated(void **state)
{
	/* common in the wild though "=" is a tspecial */
	psm_mime_ctype *ct = ctype_ok("multipart/alternative; boundary=----=_Part_1_2.3");

	assert_string_equal(psm_mime_ctype_param(ct, "boundary"), "----=_Part_1_2.3");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_trailing_and_empty_semicolons(void **state)
{
	psm_mime_ctype *ct = ctype_ok("text/plain;; charset=utf-8;");

	assert_int_equal(ct->nparams, 1);
	assert_string_equal(psm_mime_ctype_param(ct, "charset"), "utf-8");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_bad_parameter_skipped(void **state)
{
	psm_mime_ctype *ct = ctype_ok("text/plain; novalue; name=two words; x=\"unterminated; charset=a");

	/* the unterminated quote eats the rest */
	assert_null(psm_mime_ctype_param(ct, "novalue"));
	assert_null(psm_mime_ctype_param(ct, "name"));
	assert_null(psm_mime_ctype_param(ct, "x"));
	assert_null(psm_mime_ctype_param(ct, "charset"));
	psm_mime_ctype_free(ct);

	ct = ctype_ok("text/plain; name=two words; charset=a");
	assert_null(psm_mime_ctype_param(ct, "name"));
	assert_string_equal(psm_mime_ctype_param(ct, "charset"), "a");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_duplicate_parameter_rejected(void **state)
{
	psm_mime_ctype *ct = POISON;

	assert_int_equal(psm_mime_ctype_parse("multipart/mixed; boundary=a; BOUNDARY=b", &ct),
	                 PSM_ERR_MALFORMED);
	assert_null(ct);
	assert_non_null(strstr(psm_error_detail(), "boundary"));
}

static void
test_ctype_unparsable_rejected(void **state)
{
	static const char *bad[] = {
		"", "text", "text/", "/plain", "text/plain garbage", "text/plain (unterminated",
		"te xt/plain", "text/pl@in",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		psm_mime_ctype *ct = POISON;

		assert_int_equal(psm_mime_ctype_parse(bad[i], &ct), PSM_ERR_MALFORMED);
		assert_null(ct);
	}
}

static void
test_ctype_rfc2231_continuations_joined(void **state)
{
	psm_mime_ctype *ct = ctype_ok("message/external-body; access-type=URL; "
	                              "URL*1=\"cs.utk.edu/pub/moore/\"; URL*0=\"ftp://\"; "
	                              "URL*2=\"bulk-mailer/bulk-mailer.tar\"");
	const psm_mime_param *p = psm_mime_param_find(ct->params, ct->nparams, "url");

	assert_non_null(p);
	assert_string_equal(p->value, "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
	assert_null(p->charset);
	psm_mime_ctype_free(ct);
}

static void
test_ctype_rfc2231_charset_utf8_decoded(void **state)
{
	psm_mime_ctype *ct = ctype_ok("text/plain; name*=utf-8'en'%E2%82%AC%20rate.txt");
	const psm_mime_param *p = psm_mime_param_find(ct->params, ct->nparams, "name");

	assert_non_null(p);
	assert_string_equal(p->value, "\xe2\x82\xac rate.txt");
	assert_int_equal(p->value_len, 12);
	assert_string_equal(p->charset, "utf-8");
	assert_string_equal(p->language, "en");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_rfc2231_sections_with_charset(void **state)
{
	psm_mime_ctype *ct = ctype_ok("application/x-stuff; "
	                              "title*0*=us-ascii'en'This%20is%20even%20more%20; "
	                              "title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"");
	const psm_mime_param *p = psm_mime_param_find(ct->params, ct->nparams, "title");

	/* RFC 2231 section 4.1's example */
	assert_string_equal(p->value, "This is even more ***fun*** isn't it!");
	assert_string_equal(p->charset, "us-ascii");
	assert_string_equal(p->language, "en");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_rfc2231_other_charset_kept_raw(void **state)
{
	psm_mime_ctype *ct = ctype_ok("text/plain; name*=ISO-8859-1''caf%E9");
	const psm_mime_param *p = psm_mime_param_find(ct->params, ct->nparams, "name");

	assert_string_equal(p->value, "caf\xe9");
	assert_string_equal(p->charset, "iso-8859-1");
	assert_null(p->language);
	psm_mime_ctype_free(ct);
}

static void
test_ctype_rfc2231_extended_preferred_over_plain(void **state)
{
	psm_mime_ctype *ct = ctype_ok("text/plain; name=\"fallback.txt\"; name*=utf-8''real.txt");

	assert_int_equal(ct->nparams, 1);
	assert_string_equal(psm_mime_ctype_param(ct, "name"), "real.txt");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_rfc2231_gap_ends_value_and_bad_escape_kept(void **state)
{
	psm_mime_ctype *ct = ctype_ok("text/plain; a*0=x; a*2=z; b*=''100%zz%4");

	assert_string_equal(psm_mime_ctype_param(ct, "a"), "x");
	assert_string_equal(psm_mime_ctype_param(ct, "b"), "100%zz%4");
	psm_mime_ctype_free(ct);
}

static void
test_ctype_rfc2231_duplicate_section_rejected(void **state)
{
	psm_mime_ctype *ct = POISON;

	assert_int_equal(psm_mime_ctype_parse("text/plain; a*0=x; a*0=y", &ct), PSM_ERR_MALFORMED);
	assert_null(ct);
}

static void
test_ctype_default_when_missing(void **state)
{
	psm_mime_headers *h = parse_ok("Subject: no type\r\n\r\n");
	const psm_mime_ctype *ct = psm_mime_headers_ctype(h);

	assert_string_equal(ct->type, "text");
	assert_string_equal(ct->subtype, "plain");
	assert_string_equal(psm_mime_ctype_param(ct, "charset"), "us-ascii");
	assert_true(ct->defaulted);
	assert_false(ct->invalid);
	psm_mime_headers_free(h);
}

static void
test_ctype_default_when_unparsable(void **state)
{
	psm_mime_headers *h = parse_ok("Content-Type: multipart\r\n\r\n");
	const psm_mime_ctype *ct = psm_mime_headers_ctype(h);

	assert_true(psm_mime_ctype_is(ct, "text", "plain"));
	assert_true(ct->defaulted);
	assert_true(ct->invalid);
	psm_mime_headers_free(h);
}

static void
test_ctype_default_in_digest_is_message_rfc822(void **state)
{
	psm_mime_headers *h = POISON;

	assert_int_equal(psm_mime_headers_parse("\r\n", 2, PSM_MIME_HDR_DIGEST_CHILD, NULL, &h), 0);
	assert_true(psm_mime_ctype_is(psm_mime_headers_ctype(h), "message", "rfc822"));
	assert_true(psm_mime_headers_ctype(h)->defaulted);
	psm_mime_headers_free(h);
}

/* ------------------------------------------------------------------ */
/* Content-Transfer-Encoding                                           */

static void
test_cte_known_tokens_case_insensitive(void **state)
{
	static const struct {
		const char *v;
		psm_mime_cte cte;
		const char *tok;
	} cases[] = {
		{ "7bit", PSM_MIME_CTE_7BIT, "7bit" },
		{ "8BIT", PSM_MIME_CTE_8BIT, "8bit" },
		{ " Binary ", PSM_MIME_CTE_BINARY, "binary" },
		{ "Quoted-Printable", PSM_MIME_CTE_QP, "quoted-printable" },
		{ "base64 (the usual)", PSM_MIME_CTE_BASE64, "base64" },
		{ "x-uuencode", PSM_MIME_CTE_OTHER, "x-uuencode" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		psm_mime_cte cte = (psm_mime_cte)99;
		char *tok = POISON;

		assert_int_equal(psm_mime_cte_parse(cases[i].v, &cte, &tok), 0);
		assert_int_equal(cte, cases[i].cte);
		assert_string_equal(tok, cases[i].tok);
		free(tok);
	}
}

static void
test_cte_default_is_7bit(void **state)
{
	psm_mime_headers *h = parse_ok("Content-Type: text/plain\r\n\r\n");
	const char *tok = NULL;
	psm_mime_cte cte = (psm_mime_cte)99;

	assert_int_equal(psm_mime_headers_cte(h, &tok), PSM_MIME_CTE_7BIT);
	assert_string_equal(tok, "7bit");
	psm_mime_headers_free(h);
	assert_int_equal(psm_mime_cte_parse(NULL, &cte, NULL), 0);
	assert_int_equal(cte, PSM_MIME_CTE_7BIT);
}

static void
test_cte_malformed_value(void **state)
{
	psm_mime_cte cte = PSM_MIME_CTE_7BIT;
	char *tok = POISON;
	psm_mime_headers *h;
	const char *t = NULL;

	assert_int_equal(psm_mime_cte_parse("base64 garbage", &cte, &tok), PSM_ERR_MALFORMED);
	assert_int_equal(cte, PSM_MIME_CTE_OTHER);
	assert_null(tok);
	/* in a header block it reads as an unknown encoding */
	h = parse_ok("Content-Transfer-Encoding: Base64 Garbage\r\n\r\n");
	assert_int_equal(psm_mime_headers_cte(h, &t), PSM_MIME_CTE_OTHER);
	assert_string_equal(t, "base64 garbage");
	psm_mime_headers_free(h);
}

static void
test_cte_in_headers(void **state)
{
	psm_mime_headers *h = parse_ok("Content-Transfer-Encoding: BASE64\r\n\r\n");
	const char *t = NULL;

	assert_int_equal(psm_mime_headers_cte(h, &t), PSM_MIME_CTE_BASE64);
	assert_string_equal(t, "base64");
	psm_mime_headers_free(h);
}

/* ------------------------------------------------------------------ */
/* Content-Disposition                                                 */

static void
test_disp_attachment_with_filename(void **state)
{
	psm_mime_disp *d = POISON;
	const psm_mime_param *p;

	assert_int_equal(psm_mime_disp_parse("Attachment; FileName=\"smime.p7s\"; size=42", &d), 0);
	assert_string_equal(d->type, "attachment");
	p = psm_mime_param_find(d->params, d->nparams, "filename");
	assert_non_null(p);
	assert_string_equal(p->value, "smime.p7s");
	psm_mime_disp_free(d);
}

static void
test_disp_rfc2231_filename(void **state)
{
	psm_mime_disp *d = POISON;
	const psm_mime_param *p;

	assert_int_equal(psm_mime_disp_parse("attachment; filename*0*=utf-8''%C3%A9t%C3%A9; "
	                                     "filename*1=\".pdf\"", &d), 0);
	p = psm_mime_param_find(d->params, d->nparams, "filename");
	assert_string_equal(p->value, "\xc3\xa9t\xc3\xa9.pdf");
	assert_string_equal(p->charset, "utf-8");
	psm_mime_disp_free(d);
}

static void
test_disp_unparsable_rejected(void **state)
{
	psm_mime_disp *d = POISON;

	assert_int_equal(psm_mime_disp_parse("; filename=x", &d), PSM_ERR_MALFORMED);
	assert_null(d);
	psm_mime_disp_free(NULL);
	psm_mime_ctype_free(NULL);
	psm_mime_headers_free(NULL);
	psm_mime_addr_list_free(NULL);
}

/* ------------------------------------------------------------------ */
/* Address lists                                                       */

static char **
addrs_ok(const char *v)
{
	char **l = POISON;

	assert_int_equal(psm_mime_addr_list(v, &l), 0);
	assert_non_null(l);
	assert_ptr_not_equal(l, POISON);
	return l;
}

static void
test_addr_plain_and_angle(void **state)
{
	char **l = addrs_ok("Alice@Example.COM, Bob <BOB@example.com>");

	assert_string_equal(l[0], "alice@example.com");
	assert_string_equal(l[1], "bob@example.com");
	assert_null(l[2]);
	psm_mime_addr_list_free(l);
}

static void
test_addr_display_name_with_comma_in_quotes(void **state)
{
	char **l = addrs_ok("\"Doe, John <fake@evil.example>\" <john@example.com>, "
	                    "\"Roe, Jane\" <jane@example.com>");

	assert_string_equal(l[0], "john@example.com");
	assert_string_equal(l[1], "jane@example.com");
	assert_null(l[2]);
	psm_mime_addr_list_free(l);
}

static void
test_addr_groups(void **state)
{
	char **l = addrs_ok("undisclosed-recipients:;");

	assert_null(l[0]);
	psm_mime_addr_list_free(l);
	l = addrs_ok("Team: a@example.com, B <b@example.com>; c@example.com, Empty:;");
	assert_string_equal(l[0], "a@example.com");
	assert_string_equal(l[1], "b@example.com");
	assert_string_equal(l[2], "c@example.com");
	assert_null(l[3]);
	psm_mime_addr_list_free(l);
}

static void
test_addr_comments(void **state)
{
	char **l = addrs_ok("(lead) alice (the (nested) boss) @ (x) example.com (trail), "
	                    "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>");

	assert_string_equal(l[0], "alice@example.com");
	assert_string_equal(l[1], "pete@silly.test");
	assert_null(l[2]);
	psm_mime_addr_list_free(l);
}

static void
test_addr_quoted_local_part(void **state)
{
	char **l = addrs_ok("\"simple\"@example.com, \"john doe\"@example.com, \"a\\\"b\"@x.test");

	/* needs no quotes: unquoted (the same mailbox, RFC 5321 4.1.2) */
	assert_string_equal(l[0], "simple@example.com");
	assert_string_equal(l[1], "\"john doe\"@example.com");
	assert_string_equal(l[2], "\"a\\\"b\"@x.test");
	psm_mime_addr_list_free(l);
}

static void
test_addr_obsolete_route_and_domain_literal(void **state)
{
	char **l = addrs_ok("<@relay1.test,@relay2.test:joe@example.com>, x@[192.0.2.1]");

	assert_string_equal(l[0], "joe@example.com");
	assert_string_equal(l[1], "x@[192.0.2.1]");
	psm_mime_addr_list_free(l);
}

static void
test_addr_bare_names_skipped_and_duplicates_dropped(void **state)
{
	char **l = addrs_ok("Doe, John <john@example.com>, JOHN@example.com, root");

	assert_string_equal(l[0], "john@example.com");
	assert_null(l[1]);
	psm_mime_addr_list_free(l);
}

static void
test_addr_malformed_rejected(void **state)
{
	static const char *bad[] = {
		"\"unterminated@example.com", "a@example.com (open", "<a@example.com",
		"a@[192.0.2.1", "two words@example.com", "a@@example.com", "a@example..com",
		"a@", "@example.com", "a <b@c> <d@e>",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char **l = POISON;

		assert_int_equal(psm_mime_addr_list(bad[i], &l), PSM_ERR_MALFORMED);
		assert_null(l);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers_fields_in_order_with_names_as_written),
		cmocka_unit_test(test_headers_unfolding_removes_line_ends_only),
		cmocka_unit_test(test_headers_unfolding_with_lf_line_ends),
		cmocka_unit_test(test_headers_value_starting_on_continuation_line),
		cmocka_unit_test(test_headers_raw_bytes_are_exact),
		cmocka_unit_test(test_headers_whitespace_before_colon_tolerated),
		cmocka_unit_test(test_headers_stop_at_empty_line),
		cmocka_unit_test(test_headers_last_line_without_line_end),
		cmocka_unit_test(test_headers_empty_block),
		cmocka_unit_test(test_headers_line_without_colon_rejected),
		cmocka_unit_test(test_headers_continuation_before_any_field_rejected),
		cmocka_unit_test(test_headers_empty_name_rejected),
		cmocka_unit_test(test_headers_space_inside_name_rejected),
		cmocka_unit_test(test_headers_nul_byte_rejected),
		cmocka_unit_test(test_headers_duplicate_content_type_rejected),
		cmocka_unit_test(test_headers_find_first_and_next_case_insensitive),
		cmocka_unit_test(test_header_block_end_found_or_not),
		cmocka_unit_test(test_mbox_from_line_detected),
		cmocka_unit_test(test_ctype_lowercases_type_and_parameter_names),
		cmocka_unit_test(test_ctype_quoted_boundary_with_escapes),
		cmocka_unit_test(test_ctype_comments_tolerated),
		cmocka_unit_test(test_ctype_unquoted_value_with_tspecials_tolerated),
		cmocka_unit_test(test_ctype_trailing_and_empty_semicolons),
		cmocka_unit_test(test_ctype_bad_parameter_skipped),
		cmocka_unit_test(test_ctype_duplicate_parameter_rejected),
		cmocka_unit_test(test_ctype_unparsable_rejected),
		cmocka_unit_test(test_ctype_rfc2231_continuations_joined),
		cmocka_unit_test(test_ctype_rfc2231_charset_utf8_decoded),
		cmocka_unit_test(test_ctype_rfc2231_sections_with_charset),
		cmocka_unit_test(test_ctype_rfc2231_other_charset_kept_raw),
		cmocka_unit_test(test_ctype_rfc2231_extended_preferred_over_plain),
		cmocka_unit_test(test_ctype_rfc2231_gap_ends_value_and_bad_escape_kept),
		cmocka_unit_test(test_ctype_rfc2231_duplicate_section_rejected),
		cmocka_unit_test(test_ctype_default_when_missing),
		cmocka_unit_test(test_ctype_default_when_unparsable),
		cmocka_unit_test(test_ctype_default_in_digest_is_message_rfc822),
		cmocka_unit_test(test_cte_known_tokens_case_insensitive),
		cmocka_unit_test(test_cte_default_is_7bit),
		cmocka_unit_test(test_cte_malformed_value),
		cmocka_unit_test(test_cte_in_headers),
		cmocka_unit_test(test_disp_attachment_with_filename),
		cmocka_unit_test(test_disp_rfc2231_filename),
		cmocka_unit_test(test_disp_unparsable_rejected),
		cmocka_unit_test(test_addr_plain_and_angle),
		cmocka_unit_test(test_addr_display_name_with_comma_in_quotes),
		cmocka_unit_test(test_addr_groups),
		cmocka_unit_test(test_addr_comments),
		cmocka_unit_test(test_addr_quoted_local_part),
		cmocka_unit_test(test_addr_obsolete_route_and_domain_literal),
		cmocka_unit_test(test_addr_bare_names_skipped_and_duplicates_dropped),
		cmocka_unit_test(test_addr_malformed_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
