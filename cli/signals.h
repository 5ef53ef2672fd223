/* p11smime (program): what signals do to a run.
 *
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT remove every temporary file the run
 * holds a name for (core/tmpfile.h: outputs not yet complete, which may
 * hold plaintext whose authentication has not been checked) and then end
 * the process as the signal would have. SIGPIPE is ignored: a reader that
 * goes away, or a remote token's socket that closes (p11-kit-client), is
 * an EPIPE error, reported and cleaned up like any other. Programs this
 * one starts (pinentry) get SIGPIPE back at its default.
 */
#ifndef P11SMIME_CLI_SIGNALS_H
#define P11SMIME_CLI_SIGNALS_H

/* Install the handlers; call once, first thing in main(). */
void psm_cli_signals_init(void);

#endif
