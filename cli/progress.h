/* p11smime (program): how far a long run has come, on a terminal.
 *
 * When standard error is a terminal (and not under --json), a run that
 * lasts more than a second shows one line that it rewrites: "p11smime:
 * signing: 45% of 200 MiB" (or "120 MiB read" when the size is not known,
 * a pipe). Nothing at all otherwise: scripts and logs see no progress.
 */
#ifndef P11SMIME_CLI_PROGRESS_H
#define P11SMIME_CLI_PROGRESS_H

#include "message.h"

/* Show the progress of what msg reads from fd as "what" (e.g. "signing");
 * quiet: never (--json). */
void psm_cli_progress_start(psm_msg *msg, int fd, const char *what, int quiet);

/* Take the progress line away (before the summary is printed). */
void psm_cli_progress_done(void);

#endif
