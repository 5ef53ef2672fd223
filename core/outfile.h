/* p11smime: outputs written atomically.
 *
 * Nothing the user asked for is half-written: output goes to a temporary
 * file next to the target (unnamed where the file system allows) and is
 * given the target's name only on commit; output
 * meant for stdout is spooled to an unlinked temporary file and copied out
 * on commit, so that no unverified or partial content is ever released.
 * Abort (or free without commit) removes every trace.
 */
#ifndef P11SMIME_OUTFILE_H
#define P11SMIME_OUTFILE_H

#include <stddef.h>

#include "encode.h"     /* psm_sink_fn */

typedef struct psm_outfile psm_outfile;

/* Flags of psm_outfile_open. */
#define PSM_OUTFILE_PRIVATE 0x1   /* mode 0600 from creation: decrypted content */

/* path NULL or "-" means stdout. The file gets mode 0666 (0600 with
 * PSM_OUTFILE_PRIVATE), less the umask, from its creation on; its
 * temporary leaves nothing behind (core/tmpfile.h). *out is freed with
 * psm_outfile_free(). */
int psm_outfile_open(const char *path, unsigned flags, psm_outfile **out);

/* An outfile that is no file: what is written goes straight to fn(ud, ...)
 * (a filter in front of another output); commit does nothing, reread
 * fails. */
int psm_outfile_tap(psm_sink_fn fn, void *ud, psm_outfile **out);

/* Append bytes. Returns 0 or PSM_ERR_IO (with a detail naming the file). */
int psm_outfile_write(psm_outfile *of, const void *buf, size_t len);

/* A psm_sink_fn-compatible wrapper: ud is the psm_outfile. */
int psm_outfile_sink(void *ud, const void *buf, size_t len);

/* A descriptor reading what was written so far, from its start (shares
 * the file position: write nothing more before commit). Close it. */
int psm_outfile_reread(psm_outfile *of, int *fd);

/* Make the output visible: fsync + rename, or copy the spool to stdout. */
int psm_outfile_commit(psm_outfile *of);

/* Remove the temporary file (if not committed) and free. NULL is fine. */
void psm_outfile_free(psm_outfile *of);

#endif
