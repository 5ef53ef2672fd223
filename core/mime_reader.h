/* p11smime: a streaming MIME reader (push parser) with hard caps.
 *
 * Bytes are pushed in with psm_mime_reader_feed() in chunks of any size
 * and come out as events to one callback: the structure of the message
 * (entities, RFC 2046 multiparts) and its bytes exactly as they were in the
 * input, nothing decoded. Bodies stream through; the reader keeps only one
 * header block (under max_header) and the start of the current line while
 * it may still be a boundary delimiter, so memory stays bounded by the
 * limits whatever the size of the message.
 *
 * Event order for a multipart:
 *   ENTITY_BEGIN(mp) PREAMBLE*
 *     { ENTITY_BEGIN(child) ... ENTITY_END(child) }*   (PART_RAW of each
 *                               child interleaved in input order, between
 *                               the child's BEGIN and END)
 *   EPILOGUE* ENTITY_END(mp)
 * and for a leaf: ENTITY_BEGIN BODY* ENTITY_END.
 *
 * Boundaries (RFC 2046 section 5.1.1): a delimiter line is "--" boundary,
 * optionally "--" (close delimiter), optional transport padding (SP/HTAB),
 * then a line end (or the end of input). The line end before a delimiter
 * line belongs to the delimiter, not to the part before it. A line that
 * matches the boundary of any enclosing multipart ends whatever is open
 * inside it (outermost match wins: RFC 2046 forbids a boundary inside an
 * encapsulated part); the inner multiparts are then reported truncated.
 * After a close delimiter the multipart's own boundary is no longer looked
 * for (the rest is epilogue).
 *
 * Line ends are LF or CRLF, each as found; a lone CR is data. message/rfc822
 * and every non-multipart type are leaves (feed the body to another reader
 * to descend into it); a multipart's Content-Transfer-Encoding is ignored.
 * A multipart without a boundary parameter is read as a leaf.
 *
 * A leading mbox "From " line is not skipped: see
 * psm_mime_is_mbox_from_line().
 */
#ifndef P11SMIME_MIME_READER_H
#define P11SMIME_MIME_READER_H

#include <stddef.h>

#include "mime_header.h"

typedef struct psm_mime_limits {
	size_t max_header;      /* bytes of one entity's header block, the
	                           empty line included (default 64 KiB) */
	size_t max_line;        /* how far into a body line a delimiter is
	                           looked for (transport padding included);
	                           a longer line is data (default 1 MiB) */
	unsigned max_depth;     /* deepest entity; the message is depth 0
	                           (default 32) */
	size_t max_boundary;    /* boundary length (default 70, RFC 2046) */
	size_t max_parts;       /* body parts in the whole message
	                           (default 10000) */
	unsigned flags;         /* PSM_MIME_READ_* options (default 0) */
} psm_mime_limits;

/* A body part whose first line is no header field (and not empty) is read
 * as a part without headers whose body starts at that line, as OpenSSL
 * and GMime read it (`openssl smime -sign` without -text makes such
 * parts). Without this flag such a part is PSM_ERR_MALFORMED, as RFC 2046
 * wants (body-part := MIME-part-headers [CRLF *OCTET]). PART_RAW is the
 * same either way. */
#define PSM_MIME_READ_HEADERLESS_PARTS 0x1u

/* The defaults above. */
void psm_mime_limits_default(psm_mime_limits *lim);

typedef enum psm_mime_event_type {
	PSM_MIME_ENTITY_BEGIN = 1,
	PSM_MIME_BODY,          /* bytes of a leaf's body, as in the input */
	PSM_MIME_PREAMBLE,      /* bytes of a multipart's preamble */
	PSM_MIME_EPILOGUE,      /* bytes of a multipart's epilogue */
	PSM_MIME_PART_RAW,      /* bytes of a body part as the parent's
	                           delimiters cut it (RFC 1847 section 2.1,
	                           RFC 8551 section 3.5: what a
	                           multipart/signed signs) */
	PSM_MIME_ENTITY_END
} psm_mime_event_type;

/* ENTITY_END flags */
#define PSM_MIME_TRUNCATED 0x1u /* a multipart whose close delimiter never
                                   came (end of input, or an enclosing
                                   multipart's delimiter) */

typedef struct psm_mime_event {
	psm_mime_event_type type;
	unsigned depth;         /* the entity's depth; for PART_RAW the depth
	                           of the child whose bytes these are */
	size_t index;           /* the entity's index among its parent's body
	                           parts (0 for the message itself) */
	/* ENTITY_BEGIN and ENTITY_END: owned by the reader, valid until the
	 * callback for this entity's ENTITY_END returns */
	const psm_mime_headers *headers;
	const psm_mime_ctype *ctype;    /* = psm_mime_headers_ctype(headers) */
	psm_mime_cte cte;
	int is_multipart;
	const char *boundary;   /* is_multipart: the boundary (NUL-terminated) */
	/* BODY, PREAMBLE, EPILOGUE, PART_RAW: valid during the callback */
	const unsigned char *data;
	size_t len;             /* never 0 */
	unsigned flags;         /* ENTITY_END: PSM_MIME_TRUNCATED */
} psm_mime_event;

/* A non-zero return stops the reader: feed()/finish() return that value,
 * and so does every later call. The callback must not call the reader. */
typedef int (*psm_mime_cb)(void *ud, const psm_mime_event *ev);

typedef struct psm_mime_reader psm_mime_reader;

/* A reader that calls cb(ud, event). lim may be NULL (defaults); a zero
 * field also means its default. PSM_ERR_USAGE when max_line is too short
 * to hold a delimiter of max_boundary (max_boundary + 5 bytes) or
 * max_depth is above 100000; *out is then NULL. Free with
 * psm_mime_reader_free(). */
int psm_mime_reader_new(const psm_mime_limits *lim, psm_mime_cb cb, void *ud,
                        psm_mime_reader **out);
void psm_mime_reader_free(psm_mime_reader *r);

/* Push len more bytes of input. Events for everything that can be decided
 * are delivered before it returns. PSM_ERR_MALFORMED (with a detail naming
 * the cap or the syntax error) stops the reader for good. */
int psm_mime_reader_feed(psm_mime_reader *r, const void *buf, size_t len);

/* The end of input: flush what is held back, end every open entity
 * (multiparts without their close delimiter flagged PSM_MIME_TRUNCATED).
 * A body part that began (delimiter line seen) but received no byte before
 * the end of input is not reported. Feeding after finish is a usage
 * error. */
int psm_mime_reader_finish(psm_mime_reader *r);

/* Bytes allocated for the reader's buffers right now (header block, held
 * line start), for tests of its memory bound: at most max_header +
 * max_line whatever the input, and in practice a few KiB unless a header
 * block or a padded delimiter line is long. */
size_t psm_mime_reader_buffered(const psm_mime_reader *r);

#endif
