/* p11smime: temporary files that leave nothing behind (see tmpfile.h). */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* O_TMPFILE, linkat's AT_EMPTY_PATH */
#endif

#include "tmpfile.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* The names a signal handler removes. A slot holds a malloc'd path while
 * the file may exist under it; it is emptied before the path is freed. */
#define MAX_NAMED 32
static char *volatile named[MAX_NAMED];

static void
remember(char *path)
{
	size_t i;

	for (i = 0; i < MAX_NAMED; i++) {
		char *expected = NULL;

		if (__atomic_compare_exchange_n(&named[i], &expected, path, 0, __ATOMIC_SEQ_CST,
		                                __ATOMIC_SEQ_CST))
			return;
	}
	/* more than MAX_NAMED at once: this one is removed on every exit
	 * but a signal's */
}

static void
unremember(const char *path)
{
	size_t i;

	for (i = 0; i < MAX_NAMED; i++)
		if (__atomic_load_n(&named[i], __ATOMIC_SEQ_CST) == path) {
			__atomic_store_n(&named[i], NULL, __ATOMIC_SEQ_CST);
			return;
		}
}

void
psm_tmpfile_remove_all(void)
{
	size_t i;

	for (i = 0; i < MAX_NAMED; i++) {
		char *p = __atomic_exchange_n(&named[i], NULL, __ATOMIC_SEQ_CST);

		if (p != NULL)
			(void)unlink(p);
	}
}

/* Forget *path, removing the file when rm; free it. */
static void
drop(char **path, int rm)
{
	if (*path == NULL)
		return;
	unremember(*path);
	if (rm)
		(void)unlink(*path);
	free(*path);
	*path = NULL;
}

void
psm_tmpfile_forget(char **path)
{
	drop(path, 1);
}

/* The folder of target ("." when it names none), in buf. */
static int
folder_of(const char *target, char *buf, size_t len)
{
	const char *slash = strrchr(target, '/');
	size_t n;

	if (slash == NULL)
		return snprintf(buf, len, ".") < (int)len ? 0 : -1;
	n = slash == target ? 1 : (size_t)(slash - target);
	if (n >= len)
		return -1;
	memcpy(buf, target, n);
	buf[n] = '\0';
	return 0;
}

/* O_TMPFILE is not supported by this kernel or file system. */
static int
no_tmpfile(int e)
{
	return e == EOPNOTSUPP || e == EISDIR || e == EINVAL || e == ENOSYS;
}

/* A new name "<target>.p11smime-XXXXXX" (malloc'd), registered. */
static char *
new_name(const char *target)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[6];
	size_t len = strlen(target) + sizeof(".p11smime-XXXXXX");
	char *p = malloc(len);
	size_t i;

	if (p == NULL)
		return NULL;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		unsigned long x = (unsigned long)getpid() ^ (unsigned long)(uintptr_t)p;

		for (i = 0; i < sizeof(rnd); i++, x >>= 5)
			rnd[i] = (unsigned char)x;
	}
	snprintf(p, len, "%s.p11smime-", target);
	for (i = 0; i < sizeof(rnd); i++)
		p[len - 7 + i] = set[rnd[i] % (sizeof(set) - 1)];
	p[len - 1] = '\0';
	remember(p);
	return p;
}

int
psm_tmpfile_spool(const char *dir, int *fd)
{
	char tmpl[4096];

	if (dir == NULL && ((dir = getenv("TMPDIR")) == NULL || *dir == '\0'))
		dir = "/tmp";
	if ((*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return 0;
	if (!no_tmpfile(errno)) {
		psm_error_set("cannot make a spool file in %s: %s", dir, strerror(errno));
		return PSM_ERR_IO;
	}
	if ((size_t)snprintf(tmpl, sizeof(tmpl), "%s/p11smime-spool.XXXXXX", dir) >= sizeof(tmpl)) {
		psm_error_set("cannot make a spool file in %s: the name is too long", dir);
		return PSM_ERR_IO;
	}
	/* mkostemp makes 0600; the name is gone at once */
	if ((*fd = mkostemp(tmpl, O_CLOEXEC)) < 0) {
		psm_error_set("cannot make a spool file in %s: %s", dir, strerror(errno));
		return PSM_ERR_IO;
	}
	(void)unlink(tmpl);
	return 0;
}

int
psm_tmpfile_open(const char *target, mode_t mode, int *fd, char **path)
{
	char dir[4096];
	int tries;

	*fd = -1;
	*path = NULL;
	if (folder_of(target, dir, sizeof(dir)) < 0) {
		psm_error_set("cannot write %s: the name is too long", target);
		return PSM_ERR_IO;
	}
	/* unnamed, so that nothing is left whatever ends the process; linking
	 * it later needs /proc (or the privilege of AT_EMPTY_PATH) */
	if (access("/proc/self/fd", X_OK) == 0 || geteuid() == 0) {
		if ((*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode)) >= 0)
			return 0;
		if (!no_tmpfile(errno)) {
			psm_error_set("cannot write next to %s: %s", target, strerror(errno));
			return PSM_ERR_IO;
		}
	}
	for (tries = 0; tries < 100; tries++) {
		if ((*path = new_name(target)) == NULL)
			return PSM_ERR_NOMEM;
		*fd = open(*path, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
		if (*fd >= 0)
			return 0;
		drop(path, 0);
		if (errno != EEXIST)
			break;
	}
	psm_error_set("cannot write next to %s: %s", target, strerror(errno));
	return PSM_ERR_IO;
}

/* Link the unnamed file fd under a new temporary name next to target. */
static int
link_unnamed(int fd, const char *target, char **path)
{
	char proc[64];
	int tries;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (tries = 0; tries < 100; tries++) {
		if ((*path = new_name(target)) == NULL)
			return PSM_ERR_NOMEM;
		if (linkat(AT_FDCWD, proc, AT_FDCWD, *path, AT_SYMLINK_FOLLOW) == 0 ||
		    (errno == ENOENT && linkat(fd, "", AT_FDCWD, *path, AT_EMPTY_PATH) == 0))
			return 0;
		drop(path, 0);
		if (errno != EEXIST)
			break;
	}
	psm_error_set("cannot create %s: %s", target, strerror(errno));
	return PSM_ERR_IO;
}

int
psm_tmpfile_commit(int fd, char **path, const char *target)
{
	int r;

	if (fsync(fd) < 0) {
		psm_error_set("cannot write %s: %s", target, strerror(errno));
		drop(path, 1);
		return PSM_ERR_IO;
	}
	if (*path == NULL && (r = link_unnamed(fd, target, path)) < 0)
		return r;
	if (rename(*path, target) < 0) {
		psm_error_set("cannot create %s: %s", target, strerror(errno));
		drop(path, 1);
		return PSM_ERR_IO;
	}
	drop(path, 0);
	return 0;
}

int
psm_tmpfile_write_file(const char *path, mode_t mode, const void *data, size_t len)
{
	const unsigned char *p = data;
	char *tmp = NULL;
	ssize_t n;
	int fd, r;

	if ((r = psm_tmpfile_open(path, mode, &fd, &tmp)) < 0)
		return r;
	while (len > 0) {
		if ((n = write(fd, p, len)) < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			psm_error_set("cannot write %s: %s", path, n < 0 ? strerror(errno) : "no space");
			psm_tmpfile_forget(&tmp);
			close(fd);
			return PSM_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	r = psm_tmpfile_commit(fd, &tmp, path);
	close(fd);
	return r;
}
