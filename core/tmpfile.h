/* p11smime: temporary files that leave nothing behind.
 *
 * Outputs are written to a temporary file and made visible only when they
 * are complete and checked (core/outfile.h). Such a temporary can hold
 * decrypted content whose authentication tag has not been checked yet, so
 * it must never outlive the process:
 *
 * - Where the file system can (Linux O_TMPFILE: ext4, xfs, btrfs, tmpfs),
 *   the temporary has no name at all until it is complete: a process that
 *   is killed, even by SIGKILL, leaves nothing that can be reached.
 * - Elsewhere it is named "<target>.p11smime-XXXXXX" next to the target,
 *   and the name is registered here, so that a signal handler can remove
 *   it (psm_tmpfile_remove_all). Only SIGKILL then leaves such a file.
 *
 * The mode is given at creation (the process's umask applies, as it does
 * to any file a program creates): 0600 for whatever may hold decrypted
 * content, 0666 for the rest.
 */
#ifndef P11SMIME_TMPFILE_H
#define P11SMIME_TMPFILE_H

#include <sys/types.h>

/* An unnamed, unlinked file in dir (NULL: $TMPDIR, else /tmp), open for
 * reading and writing, mode 0600: a spool that vanishes with its
 * descriptor. 0 and *fd (close it), or PSM_ERR_IO with a detail. */
int psm_tmpfile_spool(const char *dir, int *fd);

/* A temporary for the file target, in target's folder: unnamed when the
 * file system allows it (*path NULL), else named "<target>.p11smime-XXXXXX"
 * (*path, registered; free with psm_tmpfile_forget). Open for reading and
 * writing with the given mode (umask applies). 0, or PSM_ERR_IO /
 * PSM_ERR_NOMEM with a detail. */
int psm_tmpfile_open(const char *target, mode_t mode, int *fd, char **path);

/* Give the temporary fd (with its *path, NULL when unnamed) the name
 * target, replacing what is there, atomically: after fsync, an unnamed
 * file is linked under a registered temporary name and renamed. *path is
 * forgotten and freed either way. 0, or PSM_ERR_IO with a detail. fd stays
 * open. */
int psm_tmpfile_commit(int fd, char **path, const char *target);

/* The whole file path, len bytes of data, written atomically the same way
 * (a temporary in its folder, fsync, rename over path) with the given
 * mode: a reader sees the old file or the new one, never half of it. 0, or
 * PSM_ERR_IO / PSM_ERR_NOMEM with a detail. */
int psm_tmpfile_write_file(const char *path, mode_t mode, const void *data, size_t len);

/* Remove the named temporary *path (NULL is fine), forget it and free it. */
void psm_tmpfile_forget(char **path);

/* Remove every registered temporary. Async-signal-safe (unlink(2) only):
 * for a handler of SIGINT, SIGTERM, SIGHUP. Any thread. */
void psm_tmpfile_remove_all(void);

#endif
