/* p11smime: internals shared by the message layer (core/message.c: sign
 * and verify; core/envelope.c: encrypt and decrypt). */
#ifndef P11SMIME_MESSAGE_INT_H
#define P11SMIME_MESSAGE_INT_H

#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/evp.h>

#include "encode.h"
#include "message.h"

#define PSM_MSG_IO_CHUNK 65536

/* Buffered input. */
struct rd {
	int fd;
	unsigned char buf[PSM_MSG_IO_CHUNK];
	size_t pos, len;
	int eof;
	psm_progress_fn progress;   /* told after each read, or NULL */
	void *progress_ud;
	unsigned long long nread;   /* bytes read from fd so far */
};

/* Refill when empty; pos == len afterwards means the end of the input. */
int psm_rd_fill(struct rd *r);

struct field {
	char *name;
	char *value;      /* unfolded, without the line end */
	char *raw;        /* as read, line ends normalised to LF */
};

struct psm_msg {
	struct rd in;
	struct field *f;
	size_t nf;
	int crlf;         /* the input uses CRLF line ends */
	char *from;
};

/* Where a message layer is written: a psm_outfile, or the content BIO of
 * an enclosing layer (sign-encrypt). */
typedef struct psm_msg_sink {
	psm_sink_fn fn;
	void *ud;
	const char *eol;  /* line ends of what is written */
	int outer;        /* write the routing headers and MIME-Version too */
} psm_msg_sink;

/* The first field called name (unfolded value), or NULL. */
const char *psm_msg_header(const psm_msg *m, const char *name);
int psm_msg_is_content_field(const char *name);
/* "type/subtype" lower-cased (text/plain when absent or unreadable). */
void psm_msg_media_type(const char *v, char *buf, size_t len);
/* A Content-Type parameter (RFC 2231 decoded), malloc'd, or NULL. */
char *psm_msg_param(const char *v, const char *name);

/* The routing headers: every field but Content-* and MIME-Version. */
int psm_msg_put_outer(const psm_msg *m, const psm_msg_sink *o);
/* The same, leaving out the fields skip() says yes to. */
int psm_msg_put_outer_except(const psm_msg *m, const psm_msg_sink *o,
                             int (*skip)(void *ud, const char *name), void *ud);

/* Sign the body entity (see psm_msg_sign) into o. */
int psm_msg_sign_to(psm_msg *m, EVP_PKEY *key, const psm_sign_params *p, const psm_msg_sink *o);

/* The body entity in canonical form, re-encoded where it would not
 * survive transport, written to bio. */
int psm_msg_write_entity(psm_msg *m, BIO *bio);

/* Give a MIME reader the body entity's header block: the message's
 * Content-* fields, then the empty line (the body follows from m->in). */
struct psm_mime_reader;
int psm_msg_feed_body_headers(psm_msg *m, struct psm_mime_reader *rd);

/* A BIO whose writes go to a base64 encoder. */
BIO *psm_msg_b64_bio_new(psm_b64enc *enc);

/* Pull decoded bytes from the message's base64 body (a psm_pull_fn). */
struct psm_b64pull {
	struct rd *in;
	psm_b64dec dec;
	int done;
};
int psm_msg_b64_pull(void *ud, unsigned char *buf, size_t cap, size_t *got);

#endif
