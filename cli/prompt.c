/* p11smime (program): asking for a PIN on the terminal. */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "prompt.h"

#include "error.h"
#include "pin.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* psm_cli_tty_prompt must stay a psm_pin_prompt_fn. */
static const psm_pin_prompt_fn prompt_type_check __attribute__((unused)) =
	psm_cli_tty_prompt;

/* Signals that would end the process while echo is off. */
static const int caught_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define N_CAUGHT (sizeof(caught_signals) / sizeof(caught_signals[0]))

/* State shared with the signal handler; one prompt at a time. */
static volatile sig_atomic_t prompt_fd = -1;
static volatile sig_atomic_t prompt_signal;
static struct termios saved_tio;
static struct sigaction saved_actions[N_CAUGHT];
static bool installed[N_CAUGHT];

/* Restore the terminal, put back the signal's old disposition and send the
 * signal again: it is delivered, with that disposition, as soon as this
 * handler returns. Only async-signal-safe calls. */
static void
restore_and_reraise(int sig)
{
	int saved_errno = errno;

	if (prompt_fd >= 0)
		(void)tcsetattr(prompt_fd, TCSANOW, &saved_tio);
	prompt_signal = sig;
	for (size_t i = 0; i < N_CAUGHT; i++) {
		if (caught_signals[i] == sig && installed[i]) {
			(void)sigaction(sig, &saved_actions[i], NULL);
			installed[i] = false;
		}
	}
	(void)raise(sig);
	errno = saved_errno;
}

static void
install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_and_reraise;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_CAUGHT; i++)
		sigaddset(&sa.sa_mask, caught_signals[i]);
	sa.sa_flags = 0; /* no SA_RESTART: an interrupted read() returns */

	for (size_t i = 0; i < N_CAUGHT; i++) {
		struct sigaction old;

		installed[i] = false;
		if (sigaction(caught_signals[i], NULL, &old) != 0)
			continue;
		/* A signal the program ignores stays ignored. */
		if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN)
			continue;
		saved_actions[i] = old;
		if (sigaction(caught_signals[i], &sa, NULL) == 0)
			installed[i] = true;
	}
}

static void
remove_handlers(void)
{
	sigset_t set, old;

	/* No handler may run while the table is being put back. */
	sigemptyset(&set);
	for (size_t i = 0; i < N_CAUGHT; i++)
		sigaddset(&set, caught_signals[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (size_t i = 0; i < N_CAUGHT; i++) {
		if (installed[i]) {
			(void)sigaction(caught_signals[i], &saved_actions[i],
			                NULL);
			installed[i] = false;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Print "<description>: " with control characters replaced: the
 * description holds token labels, which must not drive the terminal. */
static void
print_prompt(int fd, const char *description)
{
	char out[256];
	size_t n = 0;

	for (const char *s = description; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (n == sizeof(out)) {
			write_all(fd, out, n);
			n = 0;
		}
		out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	write_all(fd, out, n);
	write_all(fd, ": ", 2);
}

int
psm_cli_tty_prompt(void *userdata, const char *description, char *buf,
                   size_t cap)
{
	int r = PSM_ERR_INTERNAL;
	int fd = -1;
	struct termios tio;
	bool echo_off = false;
	size_t n = 0;
	bool overflow = false;
	char c = 0;

	if (buf == NULL || cap < 2) {
		psm_error_set("psm_cli_tty_prompt: precondition failed: "
		              "buf != NULL && cap >= 2");
		return PSM_ERR_INTERNAL;
	}
	buf[0] = '\0';
	if (description == NULL)
		description = "PIN";

	do {
		fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	} while (fd == -1 && errno == EINTR);
	if (fd == -1) {
		psm_error_set("no terminal to ask for the PIN; use "
		              "--pin-source file:PATH or pinentry");
		return PSM_ERR_PIN_SOURCE;
	}
	if (tcgetattr(fd, &saved_tio) != 0) {
		psm_error_set("no terminal to ask for the PIN; use "
		              "--pin-source file:PATH or pinentry");
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}

	prompt_signal = 0;
	prompt_fd = fd;
	install_handlers();

	print_prompt(fd, description);

	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	tio.c_lflag |= ICANON;
	/* TCSAFLUSH: input typed before the prompt (already echoed) is
	 * dropped rather than taken as part of the PIN. */
	if (tcsetattr(fd, TCSAFLUSH, &tio) != 0) {
		psm_error_set("cannot turn off echo on the terminal: %s",
		              strerror(errno));
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}
	echo_off = true;

	for (;;) {
		ssize_t got = read(fd, &c, 1);

		if (got < 0) {
			if (errno == EINTR && prompt_signal == 0)
				continue;
			if (errno == EINTR) {
				psm_error_set("PIN entry interrupted");
				r = PSM_ERR_PIN_CANCELLED;
			} else {
				psm_error_set("cannot read the PIN from the "
				              "terminal: %s", strerror(errno));
				r = PSM_ERR_PIN_SOURCE;
			}
			goto out;
		}
		if (got == 0) {
			if (n == 0 && !overflow) {
				psm_error_set("no PIN entered");
				r = PSM_ERR_PIN_CANCELLED;
				goto out;
			}
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
		else
			overflow = true;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (overflow) {
		psm_error_set("the PIN typed is too long");
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(&c, sizeof(c));
	if (echo_off) {
		write_all(fd, "\n", 1);
		(void)tcsetattr(fd, TCSANOW, &saved_tio);
	}
	if (prompt_fd != -1) {
		remove_handlers();
		prompt_fd = -1;
	}
	if (r != 0) {
		OPENSSL_cleanse(buf, cap);
		buf[0] = '\0';
	}
	close(fd);
	return r;
}
