/* p11smime: an encapsulated SignedData (opaque S/MIME), EnvelopedData or
 * AuthEnvelopedData read as a stream.
 *
 * d2i would hold the whole message in memory. Instead the BER is walked
 * as it arrives: the content octets stream out to a sink (to be hashed
 * and spooled, or decrypted), and everything else (digest algorithms,
 * certificates, signer infos, recipient infos: small) is rebuilt into the
 * same structure without its content, which OpenSSL parses. Lengths of
 * the enclosing structures are re-emitted as indefinite (BER, X.690
 * section 8.1.3.6), which neither a signature nor a mac covers.
 */
#ifndef P11SMIME_CMS_STREAM_H
#define P11SMIME_CMS_STREAM_H

#include <stddef.h>

#include "encode.h"

/* Pull up to cap bytes into buf; *got = 0 at the end of the input. */
typedef int (*psm_pull_fn)(void *ud, unsigned char *buf, size_t cap, size_t *got);

/* Walk a ContentInfo/SignedData from pull; eContent octets go to sink.
 * *der (malloc'd, *der_len bytes) is the SignedData without its content.
 * PSM_ERR_MALFORMED with a detail when the input is not a SignedData. */
int psm_cms_detach_stream(psm_pull_fn pull, void *pull_ud, psm_sink_fn sink, void *sink_ud,
                          unsigned char **der, size_t *der_len);

/* The start of an EnvelopedData (RFC 5652 section 6.1) or, auth = 1, an
 * AuthEnvelopedData (RFC 5083), for the recipient to find its key: der
 * (der_len bytes, BER, owned by the walk and valid during the call only)
 * is a ContentInfo that d2i_CMS_ContentInfo() parses, holding version,
 * originatorInfo, recipientInfos and an EncryptedContentInfo of content
 * type and content-encryption algorithm only: no encryptedContent, no
 * attributes, and for AuthEnvelopedData a mac of 16 zero bytes standing
 * in for the real one. Returns 0, or a psm_err that stops the walk. */
typedef int (*psm_env_header_fn)(void *ud, const unsigned char *der, size_t der_len, int auth);

/* Walk a ContentInfo holding an EnvelopedData or AuthEnvelopedData from
 * pull: on_header once the content-encryption algorithm is read, then the
 * encrypted content octets to sink as they arrive, then the rest. For an
 * AuthEnvelopedData the mac (the AES-GCM tag, 1 to 16 bytes) is copied to
 * mac; *mac_len is its capacity on entry (16 holds any) and its length on
 * return, 0 for an EnvelopedData. Unprotected and unauthenticated
 * attributes are read past.
 * PSM_ERR_MALFORMED with a detail when the input is not one of those two,
 * ends early, has data other than zero bytes after the ContentInfo, holds
 * authenticated attributes, a mac longer than its room, or no content
 * (detached: on_header has been called). A negative return from
 * on_header or sink stops the walk and is returned. */
int psm_cms_envelope_stream(psm_pull_fn pull, void *pull_ud,
                            psm_env_header_fn on_header, void *header_ud,
                            psm_sink_fn sink, void *sink_ud,
                            unsigned char *mac, size_t *mac_len);

#endif
