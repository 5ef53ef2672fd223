/* p11smime (program): signals remove temporaries (see signals.h). */
#include "config.h"

#include "signals.h"

#include "tmpfile.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static const int cleanup_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define N_CLEANUP (sizeof(cleanup_signals) / sizeof(cleanup_signals[0]))

/* Remove the temporaries, then die of the signal: the default disposition
 * back, and the signal sent again (blocked while this runs, it arrives as
 * soon as the handler returns). Async-signal-safe calls only. */
static void
remove_and_die(int sig)
{
	int saved_errno = errno;
	struct sigaction dfl;

	psm_tmpfile_remove_all();
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	(void)sigaction(sig, &dfl, NULL);
	(void)raise(sig);
	errno = saved_errno;
}

void
psm_cli_signals_init(void)
{
	struct sigaction sa, old;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = remove_and_die;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < N_CLEANUP; i++)
		sigaddset(&sa.sa_mask, cleanup_signals[i]);
	for (i = 0; i < N_CLEANUP; i++) {
		/* a signal the caller ignores (nohup, a shell's background job)
		 * stays ignored */
		if (sigaction(cleanup_signals[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
		    old.sa_handler == SIG_IGN)
			continue;
		(void)sigaction(cleanup_signals[i], &sa, NULL);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGPIPE, &sa, NULL);
}
