/* p11smime: MIME header blocks and the structured fields S/MIME needs.
 *
 * A header block (RFC 5322 section 2.2) is parsed into a list of fields,
 * each kept three ways: its name as written, its unfolded value and the
 * exact bytes it had in the input. Content-Type and Content-Disposition
 * parameters follow RFC 2045 section 5.1 with RFC 2231 continuations and
 * charsets; Content-Transfer-Encoding becomes an enum; address lists
 * (RFC 5322 section 3.4) give their addr-specs.
 *
 * Everything here works on bounded buffers; the streaming reader
 * (mime_reader.h) collects one header block under its cap and calls
 * psm_mime_headers_parse(). Nothing here prints or exits.
 */
#ifndef P11SMIME_MIME_HEADER_H
#define P11SMIME_MIME_HEADER_H

#include <stddef.h>

/* One header field. All pointers are owned by the psm_mime_headers it came
 * from and stay valid until psm_mime_headers_free(). */
typedef struct psm_mime_field {
	const char *name;           /* as written, without obsolete WSP before
	                               the colon; NUL-terminated */
	const char *value;          /* unfolded (the line ends of folded lines
	                               removed, the WSP kept, RFC 5322 section
	                               2.2.3), leading and trailing WSP removed */
	const unsigned char *raw;   /* the field's exact bytes, line ends and
	                               continuation lines included */
	size_t raw_len;
} psm_mime_field;

/* One parameter of a Content-Type or Content-Disposition, RFC 2231
 * sections joined and percent-decoding undone. */
typedef struct psm_mime_param {
	char *name;                 /* lower-cased, without "*N" / "*" */
	char *value;                /* decoded bytes, value_len of them, plus a
	                               terminating NUL (an encoded %00 would
	                               show as an embedded NUL: use value_len) */
	size_t value_len;
	char *charset;              /* RFC 2231 charset, lower-cased, or NULL
	                               when none was given. For "utf-8" and
	                               "us-ascii" value is UTF-8; for any other
	                               charset value holds the raw bytes in that
	                               charset (no conversion is done) */
	char *language;             /* RFC 2231 language tag or NULL */
} psm_mime_param;

/* A parsed Content-Type. type and subtype are lower-cased. */
typedef struct psm_mime_ctype {
	char *type;
	char *subtype;
	psm_mime_param *params;
	size_t nparams;
	int defaulted;              /* no usable Content-Type field: the default
	                               of RFC 2045 section 5.2 (text/plain;
	                               charset=us-ascii, or message/rfc822 in a
	                               multipart/digest) was applied */
	int invalid;                /* a Content-Type field was present but did
	                               not parse (defaulted is then 1 too) */
} psm_mime_ctype;

/* A parsed Content-Disposition (RFC 2183). type is lower-cased. */
typedef struct psm_mime_disp {
	char *type;
	psm_mime_param *params;
	size_t nparams;
} psm_mime_disp;

typedef enum psm_mime_cte {
	PSM_MIME_CTE_7BIT = 0,      /* also the default when absent */
	PSM_MIME_CTE_8BIT,
	PSM_MIME_CTE_BINARY,
	PSM_MIME_CTE_QP,            /* quoted-printable */
	PSM_MIME_CTE_BASE64,
	PSM_MIME_CTE_OTHER          /* an unknown token (x-uuencode, ...) */
} psm_mime_cte;

typedef struct psm_mime_headers psm_mime_headers;

/* psm_mime_headers_parse() flags */
#define PSM_MIME_HDR_DIGEST_CHILD 0x1u  /* the entity is a part of a
                                           multipart/digest: a missing
                                           Content-Type means message/rfc822
                                           (RFC 2046 section 5.1.5) */

/* Parse the header block in buf[0..len). Lines end in LF or CRLF. Parsing
 * stops after the first empty line (which is consumed) or at len; a last
 * line without a line end is accepted. *used (may be NULL) receives the
 * bytes consumed, the empty line included.
 *
 * PSM_ERR_MALFORMED (with a detail) for a line without a colon, an empty or
 * invalid field name, a continuation line before any field, a NUL byte, or
 * a second Content-Type or Content-Transfer-Encoding field (ambiguous
 * framing). An unparsable Content-Type value is not an error: the default
 * applies and psm_mime_headers_ctype()->invalid is set.
 *
 * A leading mbox "From " line is not a header: see
 * psm_mime_is_mbox_from_line(). *out is freed with psm_mime_headers_free(). */
int psm_mime_headers_parse(const void *buf, size_t len, unsigned flags, size_t *used,
                           psm_mime_headers **out);
void psm_mime_headers_free(psm_mime_headers *h);

/* Where the header block in buf[0..len) ends: the offset just after its
 * empty line, or 0 when buf holds no empty line yet. An empty header block
 * (buf starts with a line end) gives 1 or 2. */
size_t psm_mime_header_block_end(const void *buf, size_t len);

/* 1 when buf starts with an mbox separator line ("From " at the very start
 * of a message, RFC 4155), which a caller should skip before parsing. */
int psm_mime_is_mbox_from_line(const void *buf, size_t len);

/* The fields, in input order. Owned by h. */
size_t psm_mime_headers_count(const psm_mime_headers *h);
const psm_mime_field *psm_mime_headers_at(const psm_mime_headers *h, size_t i);

/* The first field called name (ASCII case-insensitive), or NULL; then the
 * next one after prev. Owned by h. */
const psm_mime_field *psm_mime_headers_find(const psm_mime_headers *h, const char *name);
const psm_mime_field *psm_mime_headers_find_next(const psm_mime_headers *h,
                                                 const psm_mime_field *prev,
                                                 const char *name);

/* The bytes of all fields (the terminating empty line not included).
 * Owned by h. */
const unsigned char *psm_mime_headers_raw(const psm_mime_headers *h, size_t *len);

/* The entity's Content-Type, defaults applied; never NULL. Owned by h. */
const psm_mime_ctype *psm_mime_headers_ctype(const psm_mime_headers *h);

/* The entity's Content-Transfer-Encoding (7bit when absent). *token (may
 * be NULL) receives its lower-cased name ("base64", "x-uuencode", ...),
 * owned by h. An unparsable value gives PSM_MIME_CTE_OTHER. */
psm_mime_cte psm_mime_headers_cte(const psm_mime_headers *h, const char **token);

/* Parse a Content-Type value (the part after the colon). Comments (RFC 822
 * CFWS) are skipped; a parameter that does not parse is skipped; the same
 * parameter given twice makes the whole value unparsable.
 * PSM_ERR_MALFORMED when type/subtype do not parse (the caller then applies
 * the default, see psm_mime_ctype_default()). Free with
 * psm_mime_ctype_free(). */
int psm_mime_ctype_parse(const char *value, psm_mime_ctype **out);

/* text/plain; charset=us-ascii with defaulted set. */
int psm_mime_ctype_default(psm_mime_ctype **out);
void psm_mime_ctype_free(psm_mime_ctype *ct);

/* 1 when ct is type/subtype (ASCII case-insensitive; subtype NULL matches
 * any subtype). */
int psm_mime_ctype_is(const psm_mime_ctype *ct, const char *type, const char *subtype);

/* The value of parameter name (lower case) or NULL. Owned by ct. */
const char *psm_mime_ctype_param(const psm_mime_ctype *ct, const char *name);

/* Parse a Content-Disposition value, same parameter syntax as Content-Type.
 * PSM_ERR_MALFORMED when the disposition type is not a token. Free with
 * psm_mime_disp_free(). */
int psm_mime_disp_parse(const char *value, psm_mime_disp **out);
void psm_mime_disp_free(psm_mime_disp *d);

/* The parameter called name (lower case) among params[0..n), or NULL. */
const psm_mime_param *psm_mime_param_find(const psm_mime_param *params, size_t n,
                                          const char *name);

/* Parse a Content-Transfer-Encoding value (NULL: absent, 7bit). *token
 * (may be NULL) receives the lower-cased token, malloc'd, for the caller to
 * free(). PSM_ERR_MALFORMED when the value is not one token (comments
 * allowed); *cte is then PSM_MIME_CTE_OTHER. */
int psm_mime_cte_parse(const char *value, psm_mime_cte *cte, char **token);

/* The addr-specs of an address list (From:, To:, Cc:, ... values, RFC 5322
 * section 3.4): display names, comments, quoted strings, groups
 * ("undisclosed-recipients:;") and angle addresses are understood; each
 * result is local@domain, lower-cased (ASCII), a quoted local part
 * unquoted when it needs no quotes. Entries that hold no "@" (a bare
 * display name) are skipped. *out is a NULL-terminated array, empty when
 * no address was found; free with psm_mime_addr_list_free().
 * PSM_ERR_MALFORMED for an unterminated quoted string, comment, angle
 * address or domain literal, or an entry with an "@" that is no addr-spec. */
int psm_mime_addr_list(const char *value, char ***out);
void psm_mime_addr_list_free(char **list);

#endif
