/* p11smime: the layers of a message (see inspect.h). */
#include "config.h"

#include "inspect.h"
#include "message-int.h"
#include "mime_reader.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>

#define MAX_LAYERS 8
#define MAX_PARTS 1000

static int
add_layer(psm_inspection *in, psm_msg *m, int kind, psm_layer **out)
{
	const char *ctv = psm_msg_header(m, "Content-Type");
	psm_layer *g;
	char *st;

	if ((g = realloc(in->layers, (in->n + 1) * sizeof(*g))) == NULL)
		return PSM_ERR_NOMEM;
	in->layers = g;
	*out = &g[in->n++];
	memset(*out, 0, sizeof(**out));
	(*out)->kind = kind;
	psm_msg_media_type(ctv, (*out)->media_type, sizeof((*out)->media_type));
	if ((st = psm_msg_param(ctv, "smime-type")) != NULL) {
		snprintf((*out)->smime_type, sizeof((*out)->smime_type), "%s", st);
		free(st);
	}
	return 0;
}

/* ---- an encrypted layer: who may read it, and how it is protected ------- */

struct env_desc {
	psm_layer *l;
	int got;
};

static int
env_header(void *ud, const unsigned char *der, size_t len, int auth)
{
	struct env_desc *e = ud;
	const unsigned char *p = der;
	CMS_ContentInfo *hdr = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	int r;

	if (hdr == NULL) {
		ERR_clear_error();
		psm_error_set("the enveloped-data cannot be read (its recipient information is "
		              "damaged); ask the sender to send it again");
		return PSM_ERR_MALFORMED;
	}
	e->l->authenticated = auth;
	psm_cms_content_cipher(hdr, e->l->cipher, sizeof(e->l->cipher));
	r = psm_cms_recipients_list(hdr, &e->l->rcpt, &e->l->nrcpt);
	CMS_ContentInfo_free(hdr);
	if (r < 0)
		return r;
	e->got = 1;
	return PSM_ERR_VERIFY;      /* enough: the content needs a key */
}

static int
env_skip(void *ud, const void *buf, size_t len)
{
	(void)ud;
	(void)buf;
	(void)len;
	return 0;
}

static int
describe_envelope(psm_msg *m, psm_layer *l)
{
	struct psm_b64pull pull;
	struct env_desc e = { l, 0 };
	unsigned char mac[16];
	size_t mac_len = sizeof(mac);
	int r;

	memset(&pull, 0, sizeof(pull));
	pull.in = &m->in;
	psm_b64dec_init(&pull.dec);
	r = psm_cms_envelope_stream(psm_msg_b64_pull, &pull, env_header, &e, env_skip, NULL, mac,
	                            &mac_len);
	return e.got ? 0 : r;
}

/* ---- a plain layer: its MIME tree ---------------------------------------- */

struct tree {
	psm_layer *l;
	size_t cur[101];            /* the open part at each depth */
};

static int
tree_event(void *ud, const psm_mime_event *ev)
{
	struct tree *t = ud;
	psm_layer *l = t->l;
	psm_part_desc *g, *d;
	const char *fn;

	switch (ev->type) {
	case PSM_MIME_ENTITY_BEGIN:
		if (l->nparts >= MAX_PARTS || ev->depth > 100)
			return 0;
		if ((g = realloc(l->parts, (l->nparts + 1) * sizeof(*g))) == NULL)
			return PSM_ERR_NOMEM;
		l->parts = g;
		d = &g[l->nparts];
		memset(d, 0, sizeof(*d));
		d->depth = ev->depth;
		snprintf(d->type, sizeof(d->type), "%s/%s", ev->ctype->type, ev->ctype->subtype);
		snprintf(d->cte, sizeof(d->cte), "%s", ev->cte == PSM_MIME_CTE_BASE64 ? "base64" :
		         ev->cte == PSM_MIME_CTE_QP ? "quoted-printable" :
		         ev->cte == PSM_MIME_CTE_8BIT ? "8bit" :
		         ev->cte == PSM_MIME_CTE_BINARY ? "binary" : "7bit");
		fn = psm_mime_ctype_param(ev->ctype, "name");
		if (fn != NULL && (d->filename = strdup(fn)) == NULL)
			return PSM_ERR_NOMEM;
		t->cur[ev->depth] = l->nparts++;
		return 0;
	case PSM_MIME_BODY:
		if (ev->depth <= 100 && t->cur[ev->depth] < l->nparts)
			l->parts[t->cur[ev->depth]].size += ev->len;
		return 0;
	default:
		return 0;
	}
}

static int
describe_tree(psm_msg *m, psm_layer *l)
{
	struct tree t;
	psm_mime_reader *rd = NULL;
	psm_mime_limits lim;
	int r;

	memset(&t, 0, sizeof(t));
	t.l = l;
	psm_mime_limits_default(&lim);
	lim.flags |= PSM_MIME_READ_HEADERLESS_PARTS;
	if ((r = psm_mime_reader_new(&lim, tree_event, &t, &rd)) < 0)
		return r;
	r = psm_msg_feed_body_headers(m, rd);
	while (r == 0) {
		if ((r = psm_rd_fill(&m->in)) < 0 || m->in.pos >= m->in.len)
			break;
		r = psm_mime_reader_feed(rd, m->in.buf + m->in.pos, m->in.len - m->in.pos);
		m->in.pos = m->in.len;
	}
	if (r == 0)
		r = psm_mime_reader_finish(rd);
	psm_mime_reader_free(rd);
	return r;
}

/* ---- the walk ------------------------------------------------------------- */

int
psm_msg_inspect(psm_msg *m, const psm_verify_params *vp0, psm_inspection **out)
{
	psm_inspection *in;
	psm_verify_params vp = *vp0;
	psm_msg *cur = m, *next = NULL;
	psm_outfile *spool = NULL;
	psm_layer *l;
	int fds[MAX_LAYERS], nfds = 0, fd = -1, r = 0, depth, i;

	*out = NULL;
	if ((in = calloc(1, sizeof(*in))) == NULL)
		return PSM_ERR_NOMEM;
	for (depth = 0; depth < MAX_LAYERS; depth++) {
		int kind = psm_msg_kind(cur);

		if (kind == PSM_MSG_SIGNED) {
			if ((r = add_layer(in, cur, PSM_LAYER_SIGNED, &l)) < 0 ||
			    (r = psm_outfile_open(NULL, 0, &spool)) < 0 ||
			    (r = psm_msg_verify(cur, &vp, spool, &l->sig)) < 0 ||
			    (r = psm_outfile_reread(spool, &fd)) < 0)
				break;
			fds[nfds++] = fd;
			/* the signed entity: the next layer */
			if ((r = psm_msg_open(fd, &next)) < 0)
				break;
			if (cur != m)
				psm_msg_free(cur);
			cur = next;
			next = NULL;
			psm_outfile_free(spool);     /* the descriptor keeps the data */
			spool = NULL;
			continue;
		}
		if (kind == PSM_MSG_ENCRYPTED || kind == PSM_MSG_UNKNOWN_PKCS7) {
			if ((r = add_layer(in, cur, PSM_LAYER_ENCRYPTED, &l)) == 0)
				r = describe_envelope(cur, l);
			break;
		}
		if ((r = add_layer(in, cur, PSM_LAYER_CONTENT, &l)) == 0)
			r = describe_tree(cur, l);
		break;
	}
	if (cur != m)
		psm_msg_free(cur);
	psm_outfile_free(spool);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	if (r < 0) {
		psm_inspection_free(in);
		return r;
	}
	*out = in;
	return 0;
}

void
psm_inspection_free(psm_inspection *in)
{
	size_t i, k;

	if (in == NULL)
		return;
	for (i = 0; i < in->n; i++) {
		psm_layer *l = &in->layers[i];

		psm_verify_result_free(l->sig);
		psm_rcpt_desc_free(l->rcpt, l->nrcpt);
		for (k = 0; k < l->nparts; k++)
			free(l->parts[k].filename);
		free(l->parts);
	}
	free(in->layers);
	free(in);
}
