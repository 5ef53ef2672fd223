/* p11smime: atomic outputs (temporary file + rename, or a spool for stdout). */
#include "config.h"

#include "outfile.h"
#include "error.h"

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
	char *tmp;         /* temporary path next to the target (NULL once renamed) */
	int committed;
	int target_fd;     /* spooled output goes here on commit (stdout, a device) */
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
psm_outfile_open(const char *path, psm_outfile **out)
{
	psm_outfile *of;
	mode_t mask;

	*out = NULL;
	if ((of = calloc(1, sizeof(*of))) == NULL)
		return PSM_ERR_NOMEM;
	of->fd = -1;
	of->target_fd = STDOUT_FILENO;
	if (path != NULL && strcmp(path, "-") == 0)
		path = NULL;
	/* a device or a pipe (/dev/null, /dev/stdout, a FIFO) must never be
	 * replaced by a rename: spool, and copy into it on commit */
	{
		struct stat st;

		if (path != NULL && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			if (S_ISDIR(st.st_mode)) {
				psm_error_set("cannot write %s: it is a folder", path);
				free(of);
				return PSM_ERR_IO;
			}
			if ((of->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
				psm_error_set("cannot write %s: %s", path, strerror(errno));
				free(of);
				return PSM_ERR_IO;
			}
			/* still spooled: nothing is released before commit */
			of->target_fd = of->fd;
			of->fd = -1;
			path = NULL;
		}
	}
	if (path == NULL) {
		const char *dir = getenv("TMPDIR");
		char tmpl[4096];

		snprintf(tmpl, sizeof(tmpl), "%s/p11smime-spool.XXXXXX",
		         dir != NULL && *dir != '\0' ? dir : "/tmp");
		if ((of->fd = mkostemp(tmpl, O_CLOEXEC)) < 0) {
			psm_error_set("cannot make a spool file in %s: %s",
			              dir != NULL ? dir : "/tmp", strerror(errno));
			psm_outfile_free(of);
			return PSM_ERR_IO;
		}
		unlink(tmpl);   /* nobody else sees it; it vanishes with us */
		*out = of;
		return 0;
	}
	if ((of->path = strdup(path)) == NULL ||
	    (of->tmp = malloc(strlen(path) + 32)) == NULL) {
		psm_outfile_free(of);
		return PSM_ERR_NOMEM;
	}
	sprintf(of->tmp, "%s.p11smime-XXXXXX", path);
	if ((of->fd = mkostemp(of->tmp, O_CLOEXEC)) < 0) {
		psm_error_set("cannot write next to %s: %s", path, strerror(errno));
		free(of->tmp);
		of->tmp = NULL;
		psm_outfile_free(of);
		return PSM_ERR_IO;
	}
	/* mkstemp makes 0600; give the output the usual umask'd mode */
	mask = umask(0);
	umask(mask);
	fchmod(of->fd, 0666 & ~mask);
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
	if (fsync(of->fd) < 0 || close(of->fd) < 0) {
		of->fd = -1;
		psm_error_set("cannot write %s: %s", of->path, strerror(errno));
		return PSM_ERR_IO;
	}
	of->fd = -1;
	if (rename(of->tmp, of->path) < 0) {
		psm_error_set("cannot create %s: %s", of->path, strerror(errno));
		return PSM_ERR_IO;
	}
	free(of->tmp);
	of->tmp = NULL;
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
	if (of->tmp != NULL)
		unlink(of->tmp);
	free(of->tmp);
	free(of->path);
	free(of);
}
