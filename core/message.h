/* p11smime: an RFC 5322 message read as a stream, signed or verified.
 *
 * psm_msg_open() reads only the top-level header block; the body stays in
 * the input until psm_msg_sign() or psm_msg_verify() streams it through,
 * so memory stays flat whatever the message size.
 */
#ifndef P11SMIME_MESSAGE_H
#define P11SMIME_MESSAGE_H

#include <stddef.h>

#include <openssl/evp.h>

#include "cms_decrypt.h"
#include "cms_encrypt.h"
#include "cms_sign.h"
#include "cms_verify.h"
#include "outfile.h"

typedef struct psm_msg psm_msg;

/* Read the header block from fd (not closed; read to EOF later).
 * PSM_ERR_MALFORMED when it is not a message. Free with psm_msg_free(). */
int psm_msg_open(int fd, psm_msg **out);

/* Told, after each read of the message's input (fd) while it is signed,
 * verified, encrypted or decrypted, how many bytes were read so far (a
 * regular file may be read twice: its position then says how far). For a
 * progress display; it must not fail. */
typedef void (*psm_progress_fn)(void *ud, int fd, unsigned long long nread);
void psm_msg_set_progress(psm_msg *m, psm_progress_fn fn, void *ud);
void psm_msg_free(psm_msg *m);

/* The From: address (lower case), or NULL. Owned by m. */
const char *psm_msg_from(const psm_msg *m);

/* Sign: the top-level routing headers stay outside, the body entity (with
 * its Content-* headers, put in canonical form and re-encoded where it
 * would not survive transport, RFC 8551 section 3.1) is signed, detached
 * (multipart/signed) or opaque (application/pkcs7-mime signed-data). */
int psm_msg_sign(psm_msg *m, EVP_PKEY *key, const psm_sign_params *p, psm_outfile *out);

/* Verify a multipart/signed or application/pkcs7-mime signed-data
 * message (also the x-pkcs7 names). The signed content (the inner entity)
 * goes to content_out (may be NULL); *res says what was found. Returns 0
 * when a check ran, PSM_ERR_MALFORMED when the message is not signed or
 * not readable. */
int psm_msg_verify(psm_msg *m, const psm_verify_params *p, psm_outfile *content_out,
                   psm_verify_result **res);

/* psm_msg_verify, writing to out the message as a reader sees it: m's
 * routing headers (From, To, Subject, ...), MIME-Version, then the signed
 * entity, in the signed content's CRLF line ends. For a signed message
 * found inside an encrypted one. */
int psm_msg_verify_unwrap(psm_msg *m, const psm_verify_params *p, psm_outfile *out,
                          psm_verify_result **res);

/* The To, Cc and Bcc addresses (lower case, each once), NULL-terminated.
 * Free with psm_mime_addr_list_free(). */
int psm_msg_recipients(const psm_msg *m, char ***out);

/* What the message's top-level Content-Type says it is. */
enum {
	PSM_MSG_PLAIN = 0,
	PSM_MSG_SIGNED,             /* multipart/signed or signed-data */
	PSM_MSG_ENCRYPTED,          /* enveloped-data or authEnveloped-data */
	PSM_MSG_UNKNOWN_PKCS7,      /* application/pkcs7-mime without smime-type */
	PSM_MSG_OTHER               /* certs-only, compressed-data, ... */
};
int psm_msg_kind(const psm_msg *m);

/* Encrypt to ep's recipients; when sign_key is not NULL, sign first (sp
 * as for psm_msg_sign) and encrypt the signed entity. The routing headers
 * (From, To, Subject, Date, ...) stay outside. */
int psm_msg_encrypt(psm_msg *m, const psm_encrypt_params *ep, EVP_PKEY *sign_key,
                    const psm_sign_params *sp, psm_outfile *out);

/* Decrypt an application/pkcs7-mime enveloped-data or authEnveloped-data
 * message with the key find picks. The routing headers and the decrypted
 * entity, with the input's line ends, go to sink, which must hold them
 * back until this returns 0 (an AES-GCM tag is checked at the end). */
int psm_msg_decrypt(psm_msg *m, psm_key_finder_fn find, void *find_ud, psm_sink_fn sink,
                    void *sink_ud, psm_decrypt_info *info);

#endif
