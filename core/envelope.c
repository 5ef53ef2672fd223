/* p11smime: encrypting and decrypting RFC 5322 messages as streams.
 *
 * Encrypt: the routing headers stay outside; the body entity (signed
 * first for sign-encrypt) is encrypted as it streams into an
 * application/pkcs7-mime part. Decrypt: the base64 body is decoded and
 * decrypted as it is read (core/cms_decrypt.c); the routing headers and
 * the decrypted entity go to a sink that the caller holds back until the
 * decryption is known to be good.
 */
#include "config.h"

#include "message.h"
#include "message-int.h"
#include "mime_header.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

/* ---- encrypting --------------------------------------------------------- */

static int
bio_sink(void *ud, const void *buf, size_t len)
{
	if (len > 0 && BIO_write(ud, buf, (int)len) != (int)len)
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "encrypting the content");
	return 0;
}

int
psm_msg_encrypt(psm_msg *m, const psm_encrypt_params *ep, EVP_PKEY *sign_key,
                const psm_sign_params *sp, psm_outfile *out)
{
	const char *eol = m->crlf ? "\r\n" : "\n";
	psm_msg_sink o = { psm_outfile_sink, out, eol, 1 };
	psm_cms_encryptor *enc = NULL;
	psm_b64enc b64;
	BIO *b64bio = NULL, *content = NULL;
	char line[512];
	int r;

	if (!psm_cipher_known(ep->cipher != NULL ? ep->cipher : "aes-256-gcm")) {
		psm_error_set("unknown cipher '%s'; use aes-256-gcm, aes-128-gcm, aes-256-cbc "
		              "or aes-128-cbc", ep->cipher);
		return PSM_ERR_USAGE;
	}
	psm_b64enc_init(&b64, eol, psm_outfile_sink, out);
	if ((b64bio = psm_msg_b64_bio_new(&b64)) == NULL)
		return PSM_ERR_NOMEM;
	snprintf(line, sizeof(line),
	         "MIME-Version: 1.0%sContent-Type: application/pkcs7-mime; smime-type=%s;%s"
	         "\tname=\"smime.p7m\"%sContent-Transfer-Encoding: base64%s"
	         "Content-Disposition: attachment; filename=\"smime.p7m\"%s"
	         "Content-Description: S/MIME Encrypted Message%s%s",
	         eol, psm_cipher_is_aead(ep->cipher != NULL ? ep->cipher : "aes-256-gcm")
	                  ? "authEnveloped-data" : "enveloped-data",
	         eol, eol, eol, eol, eol, eol);
	if ((r = psm_msg_put_outer(m, &o)) < 0 || (r = o.fn(o.ud, line, strlen(line))) < 0)
		goto out;
	/* the content key is made and encrypted to each recipient here */
	if ((r = psm_cms_encryptor_new(ep, b64bio, &enc, &content)) < 0)
		goto out;
	if (sign_key != NULL) {
		psm_msg_sink in = { bio_sink, content, "\r\n", 0 };

		r = psm_msg_sign_to(m, sign_key, sp, &in);
	} else {
		r = psm_msg_write_entity(m, content);
	}
	if (r < 0 || (r = psm_cms_encryptor_finish(enc)) < 0 || (r = psm_b64enc_final(&b64)) < 0)
		goto out;
	r = 0;
out:
	psm_cms_encryptor_free(enc);
	BIO_free(b64bio);
	return r;
}

int
psm_msg_recipients(const psm_msg *m, char ***out)
{
	static const char *const names[] = { "To", "Cc", "Bcc", NULL };
	char **all = NULL;
	size_t n = 0, i, k, j;

	*out = NULL;
	for (k = 0; names[k] != NULL; k++) {
		for (i = 0; i < m->nf; i++) {
			char **list = NULL;

			if (strcasecmp(m->f[i].name, names[k]) != 0)
				continue;
			if (psm_mime_addr_list(m->f[i].value, &list) < 0) {
				psm_error_set("the %s: field cannot be read as a list of addresses; "
				              "give the recipients with --to instead", names[k]);
				psm_mime_addr_list_free(all);
				return PSM_ERR_MALFORMED;
			}
			for (j = 0; list[j] != NULL; j++) {
				size_t d;
				int dup = 0;
				char **g;

				for (d = 0; d < n; d++)
					dup |= strcasecmp(all[d], list[j]) == 0;
				if (dup)
					continue;
				if ((g = realloc(all, (n + 2) * sizeof(*g))) == NULL ||
				    (g[n] = strdup(list[j])) == NULL) {
					if (g != NULL)
						all = g;
					psm_mime_addr_list_free(list);
					psm_mime_addr_list_free(all);
					return PSM_ERR_NOMEM;
				}
				all = g;
				all[++n] = NULL;
			}
			psm_mime_addr_list_free(list);
		}
	}
	if (all == NULL && (all = calloc(1, sizeof(*all))) == NULL)
		return PSM_ERR_NOMEM;
	*out = all;
	return 0;
}

/* ---- what a message is ---------------------------------------------------- */

int
psm_msg_kind(const psm_msg *m)
{
	const char *ctv = psm_msg_header(m, "Content-Type");
	char type[128], *st;
	int kind = PSM_MSG_PLAIN;

	psm_msg_media_type(ctv, type, sizeof(type));
	if (strcmp(type, "multipart/signed") == 0)
		return PSM_MSG_SIGNED;
	if (strcmp(type, "application/octet-stream") == 0) {
		/* RFC 8551 section 3.2.2: some agents send smime.p7m this way */
		char *name = psm_msg_param(ctv, "name");
		size_t n = name != NULL ? strlen(name) : 0;

		kind = n >= 4 && strcasecmp(name + n - 4, ".p7m") == 0 ? PSM_MSG_UNKNOWN_PKCS7
		                                                        : PSM_MSG_PLAIN;
		free(name);
		return kind;
	}
	if (strcmp(type, "application/pkcs7-mime") != 0 &&
	    strcmp(type, "application/x-pkcs7-mime") != 0)
		return PSM_MSG_PLAIN;
	st = psm_msg_param(ctv, "smime-type");
	if (st != NULL) {
		if (strcasecmp(st, "enveloped-data") == 0 || strcasecmp(st, "authEnveloped-data") == 0)
			kind = PSM_MSG_ENCRYPTED;
		else if (strcasecmp(st, "signed-data") == 0)
			kind = PSM_MSG_SIGNED;
		else
			kind = PSM_MSG_OTHER;
		free(st);
		return kind;
	}
	/* no smime-type (older clients): the content itself decides */
	return PSM_MSG_UNKNOWN_PKCS7;
}

/* ---- decrypting ----------------------------------------------------------- */

#define MAX_INNER_HEADER (256 * 1024)

/* The decrypted entity on its way out. Its header block is held until it
 * is complete: a field it carries besides Content-* (protected headers,
 * RFC 9788: Subject, From, ...) replaces the outer field of that name,
 * which was only a copy, or a decoy; MIME-Version is written once. Content
 * without a header block is text/plain (RFC 2045), and gets an empty line
 * before it. Line ends become the input's. */
struct inner {
	psm_msg *m;
	psm_msg_sink o;
	psm_crlf eol;
	int in_header;
	char *hdr;                  /* the header block so far */
	size_t len, cap;
	size_t line_start;          /* where the current line begins in hdr */
};

/* "Name:" at the start of a line (RFC 5322 field-name: printable ASCII). */
static int
is_field_line(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != ':'; i++)
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] > 126)
			return 0;
	return i > 0 && i < n;
}

/* Is name one of the inner block's own fields (not Content-*)? */
static int
inner_has(const struct inner *in, const char *name)
{
	size_t nl = strlen(name), i = 0;

	while (i < in->len) {
		const char *line = in->hdr + i, *nx = memchr(line, '\n', in->len - i);
		size_t ll = nx != NULL ? (size_t)(nx - line) + 1 : in->len - i;

		if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0 &&
		    strncasecmp(name, "Content-", 8) != 0)
			return 1;
		i += ll;
	}
	return 0;
}

static int
skip_outer(void *ud, const char *name)
{
	return inner_has(ud, name);
}

/* The header block is complete (or there is none): write the outer
 * fields, MIME-Version, and the inner fields. */
static int
inner_flush(struct inner *in, int headerless)
{
	size_t i = 0;
	int r, dropping = 0;

	in->in_header = 0;
	if ((r = psm_msg_put_outer_except(in->m, &in->o, skip_outer, in)) < 0 ||
	    (r = in->o.fn(in->o.ud, "MIME-Version: 1.0", 17)) < 0 ||
	    (r = in->o.fn(in->o.ud, in->o.eol, strlen(in->o.eol))) < 0)
		return r;
	if (headerless) {
		if ((r = psm_crlf_update(&in->eol, "\r\n", 2)) < 0)
			return r;
		return psm_crlf_update(&in->eol, in->hdr, in->len);
	}
	while (i < in->len) {
		const char *line = in->hdr + i, *nx = memchr(line, '\n', in->len - i);
		size_t ll = nx != NULL ? (size_t)(nx - line) + 1 : in->len - i;

		if (line[0] != ' ' && line[0] != '\t')
			dropping = strncasecmp(line, "MIME-Version:", 13) == 0;
		if (!dropping && (r = psm_crlf_update(&in->eol, line, ll)) < 0)
			return r;
		i += ll;
	}
	return 0;
}

static int
inner_sink(void *ud, const void *buf, size_t len)
{
	struct inner *in = ud;
	const char *p = buf;
	int r;

	while (len > 0 && in->in_header) {
		const char *line;
		size_t ll;

		if (in->len == in->cap) {
			size_t ncap = in->cap ? in->cap * 2 : 4096;
			char *g;

			if (ncap > MAX_INNER_HEADER) {
				/* no header block is this long: pass it on as it is */
				if ((r = inner_flush(in, 0)) < 0)
					return r;
				return inner_sink(in, p, len);
			}
			if ((g = realloc(in->hdr, ncap)) == NULL)
				return PSM_ERR_NOMEM;
			in->hdr = g;
			in->cap = ncap;
		}
		in->hdr[in->len++] = *p++;
		len--;
		if (in->hdr[in->len - 1] != '\n')
			continue;
		line = in->hdr + in->line_start;
		ll = in->len - in->line_start;
		if (ll == 1 || (ll == 2 && line[0] == '\r')) {
			if ((r = inner_flush(in, 0)) < 0)       /* the empty line ends it */
				return r;
		} else if (in->line_start == 0 && !is_field_line(line, ll)) {
			if ((r = inner_flush(in, 1)) < 0)       /* no header block at all */
				return r;
		} else {
			in->line_start = in->len;
		}
	}
	return len > 0 ? psm_crlf_update(&in->eol, p, len) : 0;
}

int
psm_msg_decrypt(psm_msg *m, psm_key_finder_fn find, void *find_ud, psm_sink_fn sink,
                void *sink_ud, psm_decrypt_info *info)
{
	const char *eol = m->crlf ? "\r\n" : "\n";
	psm_msg_sink o = { sink, sink_ud, eol, 1 };
	struct psm_b64pull pull;
	struct inner *in = NULL;
	const char *ctev = psm_msg_header(m, "Content-Transfer-Encoding");
	int kind = psm_msg_kind(m), r;

	memset(info, 0, sizeof(*info));
	if (kind != PSM_MSG_ENCRYPTED && kind != PSM_MSG_UNKNOWN_PKCS7) {
		char type[128];

		psm_msg_media_type(psm_msg_header(m, "Content-Type"), type, sizeof(type));
		psm_error_set(kind == PSM_MSG_SIGNED ? "the message is signed, not encrypted: use verify"
		              : "the message is not encrypted (its Content-Type is %s)", type);
		return PSM_ERR_MALFORMED;
	}
	if (ctev == NULL || strcasecmp(ctev, "base64") != 0) {
		psm_error_set("the encrypted part is not base64 (Content-Transfer-Encoding: %s)"
		              PSM_HINT_DAMAGED, ctev != NULL ? ctev : "7bit");
		return PSM_ERR_MALFORMED;
	}
	if ((in = calloc(1, sizeof(*in))) == NULL)
		return PSM_ERR_NOMEM;
	in->in_header = 1;
	in->m = m;
	in->o = o;
	psm_crlf_init(&in->eol, eol, sink, sink_ud);
	memset(&pull, 0, sizeof(pull));
	pull.in = &m->in;
	psm_b64dec_init(&pull.dec);
	if ((r = psm_cms_decrypt_stream(psm_msg_b64_pull, &pull, find, find_ud, inner_sink, in,
	                                info)) < 0)
		goto out;
	/* content that ended inside its header block */
	if (in->in_header &&
	    (r = inner_flush(in, in->len > 0 && !is_field_line(in->hdr, in->len))) < 0)
		goto out;
	r = psm_crlf_final(&in->eol);
out:
	if (in->hdr != NULL)
		OPENSSL_cleanse(in->hdr, in->cap);
	free(in->hdr);
	OPENSSL_cleanse(in, sizeof(*in));
	free(in);
	return r;
}
