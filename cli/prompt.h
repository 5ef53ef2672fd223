/* p11smime (program): asking for a PIN on the terminal. */
#ifndef P11SMIME_CLI_PROMPT_H
#define P11SMIME_CLI_PROMPT_H

#include <stddef.h>

/* A psm_pin_prompt_fn (tokens/pin.h) for "tty" PIN sources: install it with
 * psm_pin_source_set_prompt(src, psm_cli_tty_prompt, NULL).
 *
 * Opens /dev/tty (never stdin/stdout, which may carry the message), prints
 * "<description>: " with control characters replaced by '?', reads one line
 * with echo off, prints a newline and writes the line without its line
 * ending into buf (at most cap-1 bytes + NUL; buf is owned by the caller,
 * who wipes it). Echo is restored on every path; SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT arriving during the prompt restore it and are then delivered with
 * the disposition they had before. userdata is unused.
 *
 * Returns 0, or PSM_ERR_PIN_SOURCE (with a detail) when there is no
 * terminal or the PIN typed is longer than cap-1 bytes, or
 * PSM_ERR_PIN_CANCELLED on end of input (Ctrl-D) or an interrupted read.
 * On failure buf is wiped and holds "". Not thread-safe: one prompt at a
 * time per process. */
int psm_cli_tty_prompt(void *userdata, const char *description, char *buf,
                       size_t cap);

#endif
