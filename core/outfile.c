/* p11smime: atomic outputs (temporary file + rename, or a spool for stdout). */
#include "config.h"

#include "outfile.h"
#include "error.h"
#include "tmpfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_BUF 65536

struct psm_outfile {
	int fd;
	char *path;        /* target, NULL for stdout */
	char *tmp;         /* the temporary's name, NULL while it has none */
	int committed;
	int target_fd;     /* spooled output goes here on commit (stdout, a device) */
	psm_sink_fn tap;   /* not a file: writes go here (psm_outfile_tap) */
	void *tap_ud;
	unsigned char buf[OUT_BUF];
	size_t nbuf;
};

static int
write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
psm_outfile_open(const char *path, unsigned flags, psm_outfile **out)
{
	psm_outfile *of;
	struct stat st;
	int r;

	*out = NULL;
	if ((of = calloc(1, sizeof(*of))) == NULL)
		return PSM_ERR_NOMEM;
	of->fd = -1;
	of->target_fd = STDOUT_FILENO;
	if (path != NULL && strcmp(path, "-") == 0)
		path = NULL;
	/* a device or a pipe (/dev/null, /dev/stdout, a FIFO) must never be
	 * replaced by a rename: spool, and copy into it on commit */
	if (path != NULL && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			psm_error_set("cannot write %s: it is a folder", path);
			free(of);
			return PSM_ERR_IO;
		}
		if ((of->target_fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
			psm_error_set("cannot write %s: %s", path, strerror(errno));
			free(of);
			return PSM_ERR_IO;
		}
		/* still spooled: nothing is released before commit */
		path = NULL;
	}
	if (path == NULL) {
		/* unnamed and 0600: nobody else sees it; it vanishes with us */
		if ((r = psm_tmpfile_spool(NULL, &of->fd)) < 0) {
			psm_outfile_free(of);
			return r;
		}
		*out = of;
		return 0;
	}
	if ((of->path = strdup(path)) == NULL) {
		psm_outfile_free(of);
		return PSM_ERR_NOMEM;
	}
	if ((r = psm_tmpfile_open(path, (flags & PSM_OUTFILE_PRIVATE) ? 0600 : 0666, &of->fd,
	                          &of->tmp)) < 0) {
		psm_outfile_free(of);
		return r;
	}
	*out = of;
	return 0;
}

int
psm_outfile_tap(psm_sink_fn fn, void *ud, psm_outfile **out)
{
	psm_outfile *of;

	*out = NULL;
	if ((of = calloc(1, sizeof(*of))) == NULL)
		return PSM_ERR_NOMEM;
	of->fd = -1;
	of->target_fd = -1;
	of->tap = fn;
	of->tap_ud = ud;
	*out = of;
	return 0;
}

static int
flush_buf(psm_outfile *of)
{
	if (of->nbuf > 0 && write_all(of->fd, of->buf, of->nbuf) < 0) {
		psm_error_set("cannot write %s: %s", of->path ? of->path : "the output spool",
		              strerror(errno));
		return PSM_ERR_IO;
	}
	of->nbuf = 0;
	return 0;
}

int
psm_outfile_write(psm_outfile *of, const void *buf, size_t len)
{
	int r;

	if (of->tap != NULL)
		return of->tap(of->tap_ud, buf, len);
	if (of->nbuf + len > sizeof(of->buf)) {
		if ((r = flush_buf(of)) < 0)
			return r;
		if (len >= sizeof(of->buf)) {
			if (write_all(of->fd, buf, len) < 0) {
				psm_error_set("cannot write %s: %s",
				              of->path ? of->path : "the output spool", strerror(errno));
				return PSM_ERR_IO;
			}
			return 0;
		}
	}
	memcpy(of->buf + of->nbuf, buf, len);
	of->nbuf += len;
	return 0;
}

int
psm_outfile_sink(void *ud, const void *buf, size_t len)
{
	return psm_outfile_write(ud, buf, len);
}

int
psm_outfile_reread(psm_outfile *of, int *fd)
{
	int r;

	*fd = -1;
	if (of->tap != NULL) {
		psm_error_set("cannot re-read the output: it is not a file");
		return PSM_ERR_INTERNAL;
	}
	if ((r = flush_buf(of)) < 0)
		return r;
	if (lseek(of->fd, 0, SEEK_SET) < 0 || (*fd = dup(of->fd)) < 0) {
		psm_error_set("cannot re-read the output: %s", strerror(errno));
		return PSM_ERR_IO;
	}
	return 0;
}

int
psm_outfile_commit(psm_outfile *of)
{
	unsigned char buf[OUT_BUF];
	ssize_t n;
	int r;

	if (of->tap != NULL)
		return 0;
	if ((r = flush_buf(of)) < 0)
		return r;
	if (of->path == NULL) {
		if (lseek(of->fd, 0, SEEK_SET) < 0)
			return PSM_ERR_IO;
		while ((n = read(of->fd, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return PSM_ERR_IO;
			}
			if (write_all(of->target_fd, buf, (size_t)n) < 0) {
				psm_error_set("cannot write the output: %s", strerror(errno));
				return PSM_ERR_IO;
			}
		}
		of->committed = 1;
		return 0;
	}
	if ((r = psm_tmpfile_commit(of->fd, &of->tmp, of->path)) < 0)
		return r;
	of->committed = 1;
	return 0;
}

void
psm_outfile_free(psm_outfile *of)
{
	if (of == NULL)
		return;
	if (of->fd >= 0)
		close(of->fd);
	if (of->target_fd > STDERR_FILENO)
		close(of->target_fd);
	psm_tmpfile_forget(&of->tmp);
	free(of->path);
	free(of);
}
