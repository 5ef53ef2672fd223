/* An LD_PRELOAD shim for the tests: open(2) with O_TMPFILE fails with
 * EOPNOTSUPP, as on a file system that has no unnamed files (NFS, FUSE,
 * vfat), so that p11smime's fallback to named temporaries
 * (core/tmpfile.c) runs on a machine whose file systems all have them.
 * Everything else goes to the real open. */
#define _GNU_SOURCE 1

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

typedef int (*open_fn)(const char *, int, ...);

/* Refuse an unnamed file; hand everything else to the real name. */
static int
open_as(const char *name, const char *path, int flags, mode_t mode)
{
	open_fn real;

	if ((flags & O_TMPFILE) == O_TMPFILE) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if ((real = (open_fn)dlsym(RTLD_NEXT, name)) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(path, flags, mode);
}

/* The mode argument is there only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(flags, mode)                                                              \
	do {                                                                               \
		va_list ap;                                                                \
		va_start(ap, flags);                                                       \
		mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE               \
		               ? (mode_t)va_arg(ap, int)                                   \
		               : 0;                                                        \
		va_end(ap);                                                                \
	} while (0)

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);

int
open(const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return open_as("open", path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return open_as("open64", path, flags, mode);
}
