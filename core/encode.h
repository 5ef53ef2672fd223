/* p11smime: streaming transfer encodings for the content we sign.
 *
 * RFC 8551 section 3.1: data to be signed must survive transport
 * unchanged, so 8-bit text is sent quoted-printable and binary data base64
 * (RFC 2045 sections 6.7 and 6.8), with CRLF line ends in canonical form.
 * The encoders take input in chunks of any size and hand output to a sink;
 * their state is a few bytes, whatever the message size.
 */
#ifndef P11SMIME_ENCODE_H
#define P11SMIME_ENCODE_H

#include <stddef.h>

/* Where encoded bytes go. Returns 0 or a psm_err. */
typedef int (*psm_sink_fn)(void *ud, const void *buf, size_t len);

typedef struct psm_b64enc {
	psm_sink_fn sink;
	void *ud;
	const char *eol;          /* "\r\n" or "\n" */
	unsigned char in[3];
	size_t nin;
	size_t col;               /* characters on the current line */
	char out[8192];
	size_t nout;
} psm_b64enc;

/* Base64 with 76-character lines (RFC 2045 section 6.8). */
void psm_b64enc_init(psm_b64enc *e, const char *eol, psm_sink_fn sink, void *ud);
int psm_b64enc_update(psm_b64enc *e, const void *buf, size_t len);
/* Flush the last group, padding and a final line end. */
int psm_b64enc_final(psm_b64enc *e);

/* Base64 decoding as it streams by: white space and line ends are
 * skipped; anything else that is not base64 is an error. */
typedef struct psm_b64dec {
	unsigned acc;
	int n;                    /* characters in acc */
	int pad;                  /* '=' seen */
	int done;
} psm_b64dec;

void psm_b64dec_init(psm_b64dec *d);
/* Decode len characters into out (room for len / 4 * 3 + 3 bytes).
 * Returns the bytes written, or -1 for characters that are not base64. */
long psm_b64dec_update(psm_b64dec *d, const void *buf, size_t len, unsigned char *out);
/* 0 when the input ended on a whole group, -1 otherwise. */
int psm_b64dec_final(psm_b64dec *d);

typedef struct psm_qpenc {
	psm_sink_fn sink;
	void *ud;
	const char *eol;
	int binary_eol;           /* 0: text, line ends are kept as line breaks */
	int pending_cr;           /* a CR waiting for its LF */
	char line[80];            /* the current output line */
	size_t len;
	char ws[4];               /* a pending space or tab (encoded if it ends a line) */
	size_t nws;
	int at_line_start;
	char from[5];             /* "From " detection at line start */
	size_t nfrom;
} psm_qpenc;

/* Quoted-printable for text (RFC 2045 section 6.7): line ends in the input
 * (LF or CRLF) become eol; trailing white space is encoded so it survives;
 * "From " at the start of a line becomes "=46rom " (mbox safety); lines
 * are soft-broken before 76 characters. */
void psm_qpenc_init(psm_qpenc *e, const char *eol, psm_sink_fn sink, void *ud);
int psm_qpenc_update(psm_qpenc *e, const void *buf, size_t len);
int psm_qpenc_final(psm_qpenc *e);

/* Line-end canonicaliser: bare LF and CRLF both become eol ("\r\n" for the
 * canonical form of RFC 8551 section 3.1.1); a lone CR is kept as is. */
typedef struct psm_crlf {
	psm_sink_fn sink;
	void *ud;
	const char *eol;
	int pending_cr;
} psm_crlf;

void psm_crlf_init(psm_crlf *c, const char *eol, psm_sink_fn sink, void *ud);
int psm_crlf_update(psm_crlf *c, const void *buf, size_t len);
int psm_crlf_final(psm_crlf *c);

#endif
