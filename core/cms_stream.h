/* p11smime: an encapsulated SignedData (opaque S/MIME) read as a stream.
 *
 * d2i would hold the whole message in memory. Instead the BER is walked
 * as it arrives: the eContent octets stream out to a sink (to be hashed
 * and spooled), and everything else (digest algorithms, certificates,
 * signer infos: small) is rebuilt into a detached SignedData that OpenSSL
 * parses. Lengths of the enclosing structures are re-emitted as
 * indefinite (BER, X.690 section 8.1.3.6), which the signature does not
 * cover.
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

#endif
