/* p11smime: what a message is, layer by layer, without any key.
 *
 * The security indicator a mail program draws as a padlock and a tick:
 * signed by whom (and whether that checks), encrypted for whom and how,
 * and the MIME structure of what can be seen. Signed layers are opened
 * (their content is spooled to a temporary file, never held in memory);
 * an encrypted layer is the last one: its content needs a key.
 */
#ifndef P11SMIME_INSPECT_H
#define P11SMIME_INSPECT_H

#include <stddef.h>

#include "message.h"

enum { PSM_LAYER_SIGNED = 1, PSM_LAYER_ENCRYPTED, PSM_LAYER_CONTENT };

typedef struct psm_part_desc {
	unsigned depth;
	char type[128];             /* type/subtype */
	char cte[24];               /* 7bit, base64, ... */
	char *filename;             /* or NULL */
	unsigned long long size;    /* body bytes as sent */
} psm_part_desc;

typedef struct psm_layer {
	int kind;
	char media_type[128];       /* multipart/signed, application/pkcs7-mime, ... */
	char smime_type[40];        /* signed-data, enveloped-data, ... or "" */
	psm_verify_result *sig;     /* SIGNED: the signature check */
	char cipher[48];            /* ENCRYPTED: the content cipher */
	int authenticated;          /* ENCRYPTED: AuthEnvelopedData (AES-GCM) */
	psm_rcpt_desc *rcpt;        /* ENCRYPTED: for whom */
	size_t nrcpt;
	psm_part_desc *parts;       /* CONTENT: the MIME tree, depth first */
	size_t nparts;
} psm_layer;

typedef struct psm_inspection {
	psm_layer *layers;          /* outermost first */
	size_t n;
} psm_inspection;

/* Walk m's layers. vp judges signatures (its from is the message's
 * From:); PSM_ERR_MALFORMED when a layer cannot be read. */
int psm_msg_inspect(psm_msg *m, const psm_verify_params *vp, psm_inspection **out);
void psm_inspection_free(psm_inspection *in);

#endif
