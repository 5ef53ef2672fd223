/* libFuzzer harness: header blocks and structured header values
 * (core/mime_header.c). The first input byte picks the parse flags; the
 * rest is parsed as a header block, every field value then goes through
 * the Content-Type, Content-Disposition, Content-Transfer-Encoding and
 * address-list parsers, and so does the whole input as one value. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mime_header.h"

static void
check_params(const psm_mime_param *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i].name == NULL || p[i].value == NULL || p[i].value[p[i].value_len] != '\0')
			__builtin_trap();
		/* names are lower case, joined (no RFC 2231 "*") */
		if (strchr(p[i].name, '*') != NULL)
			__builtin_trap();
		for (const char *c = p[i].name; *c != '\0'; c++) {
			if (*c >= 'A' && *c <= 'Z')
				__builtin_trap();
		}
		if (psm_mime_param_find(p, n, p[i].name) == NULL)
			__builtin_trap();
	}
}

static void
values(const char *v)
{
	psm_mime_ctype *ct = NULL;
	psm_mime_disp *d = NULL;
	psm_mime_cte cte;
	char *tok = NULL, **addrs = NULL;
	size_t i;

	if (psm_mime_ctype_parse(v, &ct) == 0) {
		if (ct->type[0] == '\0' || ct->subtype[0] == '\0')
			__builtin_trap();
		check_params(ct->params, ct->nparams);
		(void)psm_mime_ctype_param(ct, "boundary");
	} else if (ct != NULL) {
		__builtin_trap();
	}
	psm_mime_ctype_free(ct);
	if (psm_mime_disp_parse(v, &d) == 0)
		check_params(d->params, d->nparams);
	else if (d != NULL)
		__builtin_trap();
	psm_mime_disp_free(d);
	if (psm_mime_cte_parse(v, &cte, &tok) == 0 && (tok == NULL || tok[0] == '\0'))
		__builtin_trap();
	free(tok);
	if (psm_mime_addr_list(v, &addrs) == 0) {
		for (i = 0; addrs[i] != NULL; i++) {
			if (strchr(addrs[i], '@') == NULL)
				__builtin_trap();
		}
	} else if (addrs != NULL) {
		__builtin_trap();
	}
	psm_mime_addr_list_free(addrs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	psm_mime_headers *h = NULL;
	const unsigned char *raw;
	size_t len, used = 0, end, i, sum = 0, rawlen;
	char *s;
	unsigned flags;

	if (size < 1)
		return 0;
	flags = data[0] & 1 ? PSM_MIME_HDR_DIGEST_CHILD : 0;
	data++;
	len = size - 1;

	end = psm_mime_header_block_end(data, len);
	if (psm_mime_headers_parse(data, len, flags, &used, &h) == 0) {
		if (end != 0 && used != end)
			__builtin_trap();
		if (used > len || psm_mime_headers_ctype(h) == NULL)
			__builtin_trap();
		raw = psm_mime_headers_raw(h, &rawlen);
		for (i = 0; i < psm_mime_headers_count(h); i++) {
			const psm_mime_field *f = psm_mime_headers_at(h, i);

			/* the fields tile the block exactly */
			if (f->raw != raw + sum || memcmp(f->raw, data + sum, f->raw_len) != 0)
				__builtin_trap();
			sum += f->raw_len;
			if (psm_mime_headers_find(h, f->name) == NULL)
				__builtin_trap();
			values(f->value);
		}
		if (sum != rawlen)
			__builtin_trap();
		(void)psm_mime_headers_cte(h, NULL);
	} else if (h != NULL || used != 0) {
		__builtin_trap();
	}
	psm_mime_headers_free(h);

	/* the whole input as one value */
	if ((s = malloc(len + 1)) == NULL)
		return 0;
	memcpy(s, data, len);
	s[len] = '\0';
	values(s);
	free(s);
	return 0;
}
