/* libFuzzer harness: what `p11smime inspect` does with an untrusted
 * message, no key needed (core/inspect.c): psm_msg_open on the input (in a
 * memfd), then psm_msg_inspect with an empty trust store and nothing else
 * (no revocation, no AIA, no extra certificates). That walks
 * multipart/signed and opaque signed-data (signature parsing,
 * SMIMECapabilities, the streaming BER walkers), enveloped-data headers
 * (recipients, content cipher) and the MIME tree, through spool files.
 * The spool files go to a directory of this process's own under $TMPDIR;
 * an open file descriptor left behind after a run aborts. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "error.h"
#include "inspect.h"
#include "message.h"

static char spool_dir[4096];

static void
remove_spool_dir(void)
{
	rmdir(spool_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *t = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(spool_dir, sizeof(spool_dir), "%s/fuzz_inspect.XXXXXX",
	         t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(spool_dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	setenv("TMPDIR", spool_dir, 1);
	atexit(remove_spool_dir);
	return 0;
}

/* the lowest free descriptor: it must not move across a run */
static int
lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd < 0)
		abort();
	close(fd);
	return fd;
}

static void
touch(const char *s)
{
	if (s != NULL && strlen(s) > (size_t)1 << 30)
		abort();
}

static void
walk(const psm_inspection *in)
{
	size_t i, j;

	for (i = 0; i < in->n; i++) {
		const psm_layer *l = &in->layers[i];

		if (l->kind < PSM_LAYER_SIGNED || l->kind > PSM_LAYER_CONTENT)
			abort();
		if (memchr(l->media_type, 0, sizeof(l->media_type)) == NULL ||
		    memchr(l->smime_type, 0, sizeof(l->smime_type)) == NULL ||
		    memchr(l->cipher, 0, sizeof(l->cipher)) == NULL)
			abort();
		if (l->sig != NULL) {
			const psm_verify_result *v = l->sig;

			/* an empty store: nothing can be valid */
			if (v->valid)
				abort();
			touch(v->failure);
			touch(v->signer_subject);
			touch(v->signer_issuer);
			touch(v->anchor_subject);
			touch(v->nested);
			for (j = 0; v->signer_emails != NULL && v->signer_emails[j] != NULL; j++)
				touch(v->signer_emails[j]);
			if (v->capabilities != NULL && v->capabilities_len > 0) {
				volatile unsigned char c = v->capabilities[v->capabilities_len - 1];
				(void)c;
			}
		}
		for (j = 0; j < l->nrcpt; j++) {
			touch(l->rcpt[j].id);
			if (memchr(l->rcpt[j].key_management, 0, sizeof(l->rcpt[j].key_management)) == NULL)
				abort();
		}
		for (j = 0; j < l->nparts; j++) {
			const psm_part_desc *p = &l->parts[j];

			if (memchr(p->type, 0, sizeof(p->type)) == NULL ||
			    memchr(p->cte, 0, sizeof(p->cte)) == NULL)
				abort();
			touch(p->filename);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	psm_verify_params vp;
	psm_inspection *in = NULL;
	psm_msg *m = NULL;
	size_t off = 0;
	int fd, fd0, r;

	fd0 = lowest_free_fd();
	if ((fd = memfd_create("fuzz_inspect", MFD_CLOEXEC)) < 0)
		abort();
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	psm_error_clear();
	memset(&vp, 0, sizeof(vp));
	if ((vp.anchors = X509_STORE_new()) == NULL)
		abort();
	r = psm_msg_open(fd, &m);
	if (r == 0) {
		vp.from = psm_msg_from(m);
		touch(vp.from);
		(void)psm_msg_kind(m);
		r = psm_msg_inspect(m, &vp, &in);
		if (r == 0) {
			if (in == NULL)
				abort();
			walk(in);
		}
	}
	if (r < 0 && psm_error_detail()[0] == '\0' && r == PSM_ERR_MALFORMED)
		abort();
	psm_inspection_free(in);
	psm_msg_free(m);
	X509_STORE_free(vp.anchors);
	close(fd);
	ERR_clear_error();
	if (lowest_free_fd() != fd0)
		abort();
	return 0;
}
