/* p11smime: PIN sources.
 *
 * Where a token PIN comes from, as named by --pin-source or by the
 * pin-source= attribute of an RFC 7512 pkcs11: URI:
 *
 *   file:PATH           a file holding the PIN (mode 0600 or stricter);
 *                       also file:/abs/path, file:///abs/path and a bare
 *                       absolute path (the URI forms; the caller has
 *                       already percent-decoded them)
 *   fd:N                an inherited file descriptor, read up to the first
 *                       newline; it can be read only once (see below)
 *   tty                 ask on the terminal through a callback the program
 *                       supplies (psm_pin_source_set_prompt)
 *   pinentry[:PROGRAM]  ask through a GnuPG pinentry program (default
 *                       "pinentry" found in PATH), spoken to over Assuan
 *
 * A PIN is at most PSM_PIN_MAX bytes, never empty and never contains a NUL
 * byte. One trailing "\n" or "\r\n" is stripped from file and fd sources.
 *
 * PINs are handed out in OpenSSL secure-heap memory (plain memory when the
 * program has not called CRYPTO_secure_malloc_init) and are wiped by
 * psm_pin_free(). No PIN is ever put into an error detail.
 *
 * A psm_pin_source is not thread-safe: use one per thread or lock around it.
 */
#ifndef P11SMIME_PIN_H
#define P11SMIME_PIN_H

#include <stddef.h>

/* The longest PIN accepted, in bytes (without the terminating NUL). */
#define PSM_PIN_MAX 256

typedef struct psm_pin_source psm_pin_source;

/* Called for "tty" sources: the program (cli/) supplies the terminal UI.
 * description names what the PIN is for ("PIN for token 'X'"); it comes
 * from token labels, so it may hold any bytes and should be sanitised
 * before it reaches a terminal. Writes at most cap-1 bytes + NUL into buf,
 * without the line ending; returns 0 or a psm_err (PSM_ERR_PIN_CANCELLED
 * when the user gave up, PSM_ERR_PIN_SOURCE when there is no terminal or
 * the PIN typed does not fit). The caller owns buf and wipes it. */
typedef int (*psm_pin_prompt_fn)(void *userdata, const char *description,
                                 char *buf, size_t cap);

/* Parse a PIN source specification (see above) into *out. Only the
 * syntax is checked here: files are opened and programs started by
 * psm_pin_source_get(). On success *out is a new source owned by the
 * caller, to be freed with psm_pin_source_free(). On failure *out is NULL
 * and PSM_ERR_USAGE (with a detail) or PSM_ERR_NOMEM is returned; a spec
 * that matches no known form is not repeated in the detail, in case it is
 * a PIN typed in the wrong place. */
int psm_pin_source_parse(const char *spec, psm_pin_source **out);

/* Free a source and wipe any PIN it has cached. NULL is allowed. An fd:N
 * source does not close its descriptor: the caller owns it. */
void psm_pin_source_free(psm_pin_source *src);

/* Set the terminal prompt used by "tty" sources (ignored by the others).
 * fn may be NULL to remove it. userdata is passed to fn unchanged and stays
 * owned by the caller; it must outlive src or the next call. */
void psm_pin_source_set_prompt(psm_pin_source *src, psm_pin_prompt_fn fn,
                               void *userdata);

/* A short phrase naming the source for messages: "PIN file /x/y",
 * "PIN file descriptor 3", "terminal prompt", "pinentry program
 * pinentry-curses". Never contains a PIN. Owned by src; valid until
 * psm_pin_source_free(src). */
const char *psm_pin_source_describe(const psm_pin_source *src);

/* Obtain the PIN. description names the token or key for prompts
 * ("PIN for token 'X'"); NULL means "PIN".
 *
 * On success returns 0, *pin_out is a NUL-terminated PIN owned by the
 * caller, to be freed with psm_pin_free() as soon as it has been used, and
 * *len_out (when len_out is not NULL) is its length. On failure *pin_out
 * is NULL, *len_out is 0 and a psm_err is returned with a detail:
 *   PSM_ERR_PIN_SOURCE     the source cannot give a PIN (missing file,
 *                          empty or too long PIN, no prompt, pinentry
 *                          failed or cannot be started, ...)
 *   PSM_ERR_PIN_UNSAFE     the PIN file can be read or written by others
 *   PSM_ERR_PIN_CANCELLED  the user cancelled the prompt
 *   PSM_ERR_IO             reading the file or descriptor failed
 *   PSM_ERR_NOMEM
 *
 * file: sources re-read the file and tty/pinentry sources ask again on
 * every call. An fd:N source reads its descriptor on the first call only
 * and keeps the PIN, in secure memory, until psm_pin_source_free(): a
 * descriptor cannot be read twice, and keys that need a login for every
 * operation ask for the PIN several times. This is the only PIN cache in
 * the library; it is implied by choosing fd:N and lives as long as the
 * source. If the first read fails, later calls fail too. */
/* 1 when the source asks a person each time (tty, pinentry), 0 when it
 * holds one fixed PIN (file, fd), which is then right for one token only. */
int psm_pin_source_is_interactive(const psm_pin_source *src);

int psm_pin_source_get(psm_pin_source *src, const char *description,
                       char **pin_out, size_t *len_out);

/* Wipe and free a PIN returned by psm_pin_source_get(). NULL is allowed.
 * Only pass PINs from psm_pin_source_get(): the whole allocation is
 * wiped, not just the bytes up to the NUL. */
void psm_pin_free(char *pin);

#endif
