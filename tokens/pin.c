/* p11smime: PIN sources (file:, fd:, tty, pinentry). */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#endif

#include "pin.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

extern char **environ;

/* Every PIN buffer has this size, so psm_pin_free() can wipe all of it:
 * PSM_PIN_MAX bytes, a "\r\n" to strip, one byte to notice a longer PIN
 * and the NUL. */
#define PIN_BUF_SIZE (PSM_PIN_MAX + 4)
#define PIN_READ_MAX (PIN_BUF_SIZE - 1)

/* Assuan lines are at most 1000 bytes, without the "\n". */
#define ASSUAN_LINE_MAX 1000
#define ASSUAN_BUF_SIZE (2 * (ASSUAN_LINE_MAX + 1))

/* GPG_ERR_CANCELED and GPG_ERR_FULLY_CANCELED in the low 16 bits of an
 * Assuan ERR code (the high bits name the error source). */
#define GPG_ERR_CANCELED 99
#define GPG_ERR_FULLY_CANCELED 198

#define PRECONDITION(expr, val)                                               \
	do {                                                                  \
		if (!(expr)) {                                                \
			psm_error_set("%s: precondition failed: %s",          \
			              __func__, #expr);                      \
			return (val);                                         \
		}                                                             \
	} while (0)

enum pin_kind {
	PIN_FILE,
	PIN_FD,
	PIN_TTY,
	PIN_PINENTRY,
};

enum fd_state {
	FD_UNREAD,
	FD_CACHED,
	FD_SPENT, /* the one read failed */
};

struct psm_pin_source {
	enum pin_kind kind;
	char *path;          /* PIN_FILE: the file; PIN_PINENTRY: the program */
	int fd;              /* PIN_FD */
	char *description;   /* psm_pin_source_describe() */
	psm_pin_prompt_fn prompt;
	void *prompt_userdata;
	enum fd_state fd_state;
	char *cache;         /* PIN_FD: PIN_BUF_SIZE bytes of secure memory */
	size_t cache_len;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static char *
pin_alloc(void)
{
	return OPENSSL_secure_zalloc(PIN_BUF_SIZE);
}

void
psm_pin_free(char *pin)
{
	if (pin == NULL)
		return;
	OPENSSL_secure_clear_free(pin, PIN_BUF_SIZE);
}

static char *
str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
str_printf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* Strip exactly one trailing "\n" or "\r\n". */
static void
strip_one_newline(char *pin, size_t *len)
{
	if (*len > 0 && pin[*len - 1] == '\n') {
		(*len)--;
		if (*len > 0 && pin[*len - 1] == '\r')
			(*len)--;
	}
	pin[*len] = '\0';
}

/* The checks every PIN passes, whatever its source. is_file only changes
 * the wording of the "empty" sentence. */
static int
check_pin(const psm_pin_source *src, const char *pin, size_t len,
          bool is_file)
{
	if (len == 0) {
		if (is_file)
			psm_error_set("%s is empty", src->description);
		else
			psm_error_set("%s gave an empty PIN", src->description);
		return PSM_ERR_PIN_SOURCE;
	}
	if (len > PSM_PIN_MAX) {
		psm_error_set("%s gave a PIN longer than %d bytes",
		              src->description, PSM_PIN_MAX);
		return PSM_ERR_PIN_SOURCE;
	}
	if (memchr(pin, '\0', len) != NULL) {
		psm_error_set("%s gave a PIN containing a NUL byte",
		              src->description);
		return PSM_ERR_PIN_SOURCE;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */

static bool
is_local_file_uri_path(const char *rest, const char **path)
{
	/* rest follows "file:". RFC 8089: file:/abs, file:///abs,
	 * file://localhost/abs. */
	if (strncmp(rest, "//", 2) == 0) {
		const char *auth = rest + 2;
		const char *slash = strchr(auth, '/');

		if (slash == NULL) {
			if (*auth != '\0')
				return false;
			slash = auth; /* "file://": no path at all */
		}
		if (slash != auth &&
		    !((size_t)(slash - auth) == strlen("localhost") &&
		      strncmp(auth, "localhost", strlen("localhost")) == 0))
			return false;
		*path = slash;
		return true;
	}
	*path = rest;
	return true;
}

static int
parse_fd(const char *s, int *fd)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return -1;
	}
	*fd = (int)v;
	return 0;
}

int
psm_pin_source_parse(const char *spec, psm_pin_source **out)
{
	int r = PSM_ERR_INTERNAL;
	psm_pin_source *src = NULL;

	PRECONDITION(out != NULL, PSM_ERR_INTERNAL);
	*out = NULL;
	PRECONDITION(spec != NULL, PSM_ERR_INTERNAL);

	src = calloc(1, sizeof(*src));
	if (src == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	src->fd = -1;
	src->fd_state = FD_UNREAD;

	if (strncmp(spec, "file:", 5) == 0 || spec[0] == '/') {
		const char *path = spec;

		if (spec[0] != '/' &&
		    !is_local_file_uri_path(spec + 5, &path)) {
			psm_error_set("PIN source %s names another host; "
			              "use file:/ABSOLUTE/PATH", spec);
			r = PSM_ERR_USAGE;
			goto out;
		}
		if (*path == '\0') {
			psm_error_set("PIN source file: needs a path, "
			              "as in file:/home/me/pin");
			r = PSM_ERR_USAGE;
			goto out;
		}
		src->kind = PIN_FILE;
		src->path = strdup(path);
		if (src->path == NULL) {
			r = PSM_ERR_NOMEM;
			goto out;
		}
		src->description = str_printf("PIN file %s", src->path);
	} else if (strncmp(spec, "fd:", 3) == 0) {
		if (parse_fd(spec + 3, &src->fd) != 0) {
			psm_error_set("PIN source fd:N needs a non-negative "
			              "decimal file descriptor number");
			r = PSM_ERR_USAGE;
			goto out;
		}
		src->kind = PIN_FD;
		src->description =
			str_printf("PIN file descriptor %d", src->fd);
	} else if (strcmp(spec, "tty") == 0) {
		src->kind = PIN_TTY;
		src->description = str_printf("terminal prompt");
	} else if (strcmp(spec, "pinentry") == 0 ||
	           strncmp(spec, "pinentry:", 9) == 0) {
		const char *prog = spec[8] == ':' ? spec + 9 : "pinentry";

		if (*prog == '\0') {
			psm_error_set("PIN source pinentry: needs a program, "
			              "as in pinentry:pinentry-curses");
			r = PSM_ERR_USAGE;
			goto out;
		}
		src->kind = PIN_PINENTRY;
		src->path = strdup(prog);
		if (src->path == NULL) {
			r = PSM_ERR_NOMEM;
			goto out;
		}
		src->description = str_printf("pinentry program %s", prog);
	} else {
		/* Not repeated: it may be a PIN given in the wrong place. */
		psm_error_set("unknown PIN source; use file:PATH, fd:N, tty "
		              "or pinentry[:PROGRAM] (the value given is not "
		              "repeated in case it is a PIN)");
		r = PSM_ERR_USAGE;
		goto out;
	}
	if (src->description == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}

	*out = src;
	src = NULL; /* transferred */
	r = 0;
out:
	psm_pin_source_free(src);
	return r;
}

void
psm_pin_source_free(psm_pin_source *src)
{
	if (src == NULL)
		return;
	psm_pin_free(src->cache);
	free(src->path);
	free(src->description);
	free(src);
}

void
psm_pin_source_set_prompt(psm_pin_source *src, psm_pin_prompt_fn fn,
                          void *userdata)
{
	if (src == NULL)
		return;
	src->prompt = fn;
	src->prompt_userdata = userdata;
}

const char *
psm_pin_source_describe(const psm_pin_source *src)
{
	if (src == NULL)
		return "no PIN source";
	return src->description;
}

/* ------------------------------------------------------------------ */
/* file:                                                               */

static int
get_from_file(const psm_pin_source *src, char *pin, size_t *len)
{
	int r = PSM_ERR_INTERNAL;
	int fd = -1;
	struct stat st;
	size_t n = 0;

	/* O_NONBLOCK: a FIFO put where the file should be is refused below
	 * instead of hanging here; reads of regular files ignore it. */
	do {
		fd = open(src->path,
		          O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	} while (fd == -1 && errno == EINTR);
	if (fd == -1) {
		psm_error_set("cannot open PIN file %s: %s", src->path,
		              strerror(errno));
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		psm_error_set("cannot examine PIN file %s: %s", src->path,
		              strerror(errno));
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		psm_error_set("PIN file %s is not a regular file", src->path);
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}
	if ((st.st_mode & 0077) != 0) {
		psm_error_set("PIN file %s can be read or written by others "
		              "(mode %04o); run: chmod 600 %s",
		              src->path, (unsigned)(st.st_mode & 07777),
		              src->path);
		r = PSM_ERR_PIN_UNSAFE;
		goto out;
	}

	while (n < PIN_READ_MAX) {
		ssize_t got = read(fd, pin + n, PIN_READ_MAX - n);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			psm_error_set("cannot read PIN file %s: %s", src->path,
			              strerror(errno));
			r = PSM_ERR_PIN_SOURCE;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n >= PIN_READ_MAX) {
		psm_error_set("%s gave a PIN longer than %d bytes",
		              src->description, PSM_PIN_MAX);
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}
	strip_one_newline(pin, &n);
	r = check_pin(src, pin, n, true);
	if (r != 0)
		goto out;

	*len = n;
	r = 0;
out:
	if (fd != -1)
		close(fd);
	return r;
}

/* ------------------------------------------------------------------ */
/* fd:N                                                                */

/* Read one byte, waiting on a non-blocking descriptor. Returns 1, 0 at
 * end of file, or -1 with errno. */
static int
read_byte(int fd, char *c)
{
	for (;;) {
		ssize_t got = read(fd, c, 1);

		if (got >= 0)
			return (int)got;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				return -1;
			continue;
		}
		return -1;
	}
}

static int
read_fd_once(psm_pin_source *src, char *pin, size_t *len)
{
	int r = PSM_ERR_INTERNAL;
	size_t n = 0;
	bool line_end = false;

	/* One byte at a time, so nothing after the first line is taken
	 * from the descriptor. */
	while (n < PIN_READ_MAX) {
		int got = read_byte(src->fd, &pin[n]);

		if (got < 0) {
			if (errno == EBADF) {
				psm_error_set("PIN file descriptor %d is not "
				              "open for reading; open it for p11smime, "
				              "as in 'fd:%d %d<PINFILE'", src->fd,
				              src->fd, src->fd);
				r = PSM_ERR_PIN_SOURCE;
			} else {
				psm_error_set("cannot read PIN file descriptor "
				              "%d: %s", src->fd, strerror(errno));
				r = PSM_ERR_PIN_SOURCE;
			}
			goto out;
		}
		if (got == 0)
			break;
		if (pin[n++] == '\n') {
			line_end = true;
			break;
		}
	}
	if (!line_end && n >= PIN_READ_MAX) {
		psm_error_set("%s gave a PIN longer than %d bytes",
		              src->description, PSM_PIN_MAX);
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}
	strip_one_newline(pin, &n);
	r = check_pin(src, pin, n, false);
	if (r != 0)
		goto out;
	*len = n;
	r = 0;
out:
	return r;
}

static int
get_from_fd(psm_pin_source *src, char *pin, size_t *len)
{
	int r = PSM_ERR_INTERNAL;

	switch (src->fd_state) {
	case FD_CACHED:
		memcpy(pin, src->cache, src->cache_len + 1);
		*len = src->cache_len;
		return 0;
	case FD_SPENT:
		psm_error_set("%s was already read and cannot give a PIN "
		              "again", src->description);
		return PSM_ERR_PIN_SOURCE;
	case FD_UNREAD:
		break;
	}

	src->fd_state = FD_SPENT;
	r = read_fd_once(src, pin, len);
	if (r != 0)
		return r;
	src->cache = pin_alloc();
	if (src->cache == NULL) {
		/* The descriptor is spent; nothing can be cached. Hand this
		 * PIN out anyway: the caller needs it now. */
		return 0;
	}
	memcpy(src->cache, pin, *len + 1);
	src->cache_len = *len;
	src->fd_state = FD_CACHED;
	return 0;
}

/* ------------------------------------------------------------------ */
/* tty                                                                 */

static int
get_from_tty(const psm_pin_source *src, const char *description, char *pin,
             size_t *len)
{
	int r;
	size_t n;

	if (src->prompt == NULL) {
		psm_error_set("no terminal prompt available; "
		              "use --pin-source file:PATH");
		return PSM_ERR_PIN_SOURCE;
	}
	/* Room for PSM_PIN_MAX + 1 bytes so a longer PIN is noticed even if
	 * the prompt truncates silently. */
	r = src->prompt(src->prompt_userdata, description, pin,
	                PSM_PIN_MAX + 2);
	if (r != 0) {
		if (r > 0 || r <= PSM_ERR__LAST)
			r = PSM_ERR_PIN_SOURCE; /* not a psm_err */
		return r;
	}
	pin[PSM_PIN_MAX + 1] = '\0'; /* in case the prompt did not */
	n = strlen(pin);
	r = check_pin(src, pin, n, false);
	if (r != 0)
		return r;
	*len = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* pinentry: the Assuan client side                                    */

struct assuan {
	const psm_pin_source *src;
	int to_fd;   /* the pinentry's stdin */
	int from_fd; /* the pinentry's stdout */
	char *buf;   /* secure: D lines carry the PIN */
	size_t len;  /* bytes in buf */
	size_t used; /* bytes of buf taken by the line last returned */
	bool broken; /* the conversation cannot go on */
};

/* Percent-escape % CR LF for an Assuan argument. Writes at most cap-1
 * bytes and the NUL, never splitting an escape. */
static void
assuan_escape(const char *s, char *dst, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '%' || c == '\r' || c == '\n') {
			if (n + 3 >= cap)
				break;
			snprintf(dst + n, 4, "%%%02X", c);
			n += 3;
		} else {
			if (n + 1 >= cap)
				break;
			dst[n++] = (char)c;
		}
	}
	dst[n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append the percent-decoded data to pin. Returns 0, or -1 on a bad
 * escape, or -2 if the PIN grows beyond PSM_PIN_MAX. */
static int
assuan_decode_append(const char *data, char *pin, size_t *len)
{
	while (*data != '\0') {
		char c = *data++;

		if (c == '%') {
			int hi = hexval(data[0]);
			int lo = hi < 0 ? -1 : hexval(data[1]);

			if (lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			data += 2;
		}
		if (*len >= PSM_PIN_MAX)
			return -2;
		pin[(*len)++] = c;
	}
	pin[*len] = '\0';
	return 0;
}

/* Write a whole buffer. SIGPIPE is blocked by the caller, so a closed
 * pipe shows as EPIPE. */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
assuan_send(struct assuan *a, const char *line)
{
	char buf[ASSUAN_LINE_MAX + 2];
	size_t n = strlen(line);

	if (n > ASSUAN_LINE_MAX)
		n = ASSUAN_LINE_MAX;
	memcpy(buf, line, n);
	buf[n++] = '\n';
	if (write_all(a->to_fd, buf, n) != 0) {
		psm_error_set("cannot talk to %s: %s", a->src->description,
		              strerror(errno));
		a->broken = true;
		return PSM_ERR_PIN_SOURCE;
	}
	return 0;
}

/* Read one line into a->buf; *line points at it, NUL-terminated, without
 * the "\n" (and a "\r" before it). Valid until the next call. */
static int
assuan_read_line(struct assuan *a, char **line)
{
	char *nl;

	if (a->used > 0) {
		memmove(a->buf, a->buf + a->used, a->len - a->used);
		a->len -= a->used;
		OPENSSL_cleanse(a->buf + a->len, a->used);
		a->used = 0;
	}
	for (;;) {
		size_t look = a->len < ASSUAN_LINE_MAX + 1 ?
		              a->len : ASSUAN_LINE_MAX + 1;
		ssize_t got;

		nl = memchr(a->buf, '\n', look);
		if (nl != NULL)
			break;
		if (a->len >= ASSUAN_LINE_MAX + 1) {
			psm_error_set("%s sent a line longer than %d bytes",
			              a->src->description, ASSUAN_LINE_MAX);
			a->broken = true;
			return PSM_ERR_PIN_SOURCE;
		}
		got = read(a->from_fd, a->buf + a->len,
		           ASSUAN_BUF_SIZE - 1 - a->len);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			psm_error_set("cannot read from %s: %s",
			              a->src->description, strerror(errno));
			a->broken = true;
			return PSM_ERR_PIN_SOURCE;
		}
		if (got == 0) {
			psm_error_set("%s ended the conversation "
			              "unexpectedly", a->src->description);
			a->broken = true;
			return PSM_ERR_PIN_SOURCE;
		}
		a->len += (size_t)got;
	}
	*nl = '\0';
	a->used = (size_t)(nl - a->buf) + 1;
	if (nl > a->buf && nl[-1] == '\r')
		nl[-1] = '\0';
	*line = a->buf;
	return 0;
}

/* Copy a pinentry message into the error detail with control characters
 * replaced, so a misbehaving program cannot drive the terminal. */
static void
set_err_detail(const struct assuan *a, const char *what, const char *msg)
{
	char clean[200];
	size_t n = 0;

	for (; *msg != '\0' && n + 1 < sizeof(clean); msg++) {
		unsigned char c = (unsigned char)*msg;

		clean[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	clean[n] = '\0';
	psm_error_set("%s failed at %s: %s", a->src->description, what,
	              clean);
}

/* Read lines until OK or ERR. With pin != NULL, D lines are decoded into
 * it. Returns 0 for OK; PSM_ERR_PIN_CANCELLED or PSM_ERR_PIN_SOURCE for
 * ERR (*got_err set) or a broken conversation. */
static int
assuan_response(struct assuan *a, const char *what, char *pin,
                size_t *pin_len, bool *got_err)
{
	int r;
	int data_err = 0;
	char *line;

	if (got_err != NULL)
		*got_err = false;
	for (;;) {
		r = assuan_read_line(a, &line);
		if (r != 0)
			return r;
		if (strcmp(line, "OK") == 0 || strncmp(line, "OK ", 3) == 0)
			break;
		if (strcmp(line, "ERR") == 0 || strncmp(line, "ERR ", 4) == 0) {
			char *end = line + 3;
			unsigned long code = strtoul(line + 3, &end, 10);

			while (*end == ' ')
				end++;
			if (got_err != NULL)
				*got_err = true;
			if ((code & 0xFFFF) == GPG_ERR_CANCELED ||
			    (code & 0xFFFF) == GPG_ERR_FULLY_CANCELED) {
				psm_error_set("PIN entry cancelled in %s",
				              a->src->description);
				return PSM_ERR_PIN_CANCELLED;
			}
			set_err_detail(a, what, *end != '\0' ? end :
			               "unknown error");
			return PSM_ERR_PIN_SOURCE;
		}
		if (line[0] == '#' || strcmp(line, "S") == 0 ||
		    strncmp(line, "S ", 2) == 0)
			continue;
		if (strncmp(line, "D ", 2) == 0) {
			int d;

			if (pin == NULL || data_err != 0)
				continue;
			d = assuan_decode_append(line + 2, pin, pin_len);
			if (d == -1) {
				psm_error_set("%s sent a malformed data line",
				              a->src->description);
				data_err = PSM_ERR_PIN_SOURCE;
			} else if (d == -2) {
				psm_error_set("%s gave a PIN longer than %d "
				              "bytes", a->src->description,
				              PSM_PIN_MAX);
				data_err = PSM_ERR_PIN_SOURCE;
			}
			continue;
		}
		psm_error_set("%s sent an unexpected reply to %s",
		              a->src->description, what);
		a->broken = true;
		return PSM_ERR_PIN_SOURCE;
	}
	return data_err;
}

/* Send a command and read its response. ERR is ignored (0 returned) when
 * optional is set, as GnuPG does for options a pinentry may not know. */
static int
assuan_command(struct assuan *a, const char *cmd, const char *what,
               bool optional)
{
	bool got_err;
	int r = assuan_send(a, cmd);

	if (r != 0)
		return r;
	r = assuan_response(a, what, NULL, NULL, &got_err);
	if (r != 0 && optional && got_err && r != PSM_ERR_PIN_CANCELLED)
		r = 0;
	return r;
}

/* A value safe to send as is in an OPTION line. */
static bool
option_value_ok(const char *v)
{
	if (v == NULL || *v == '\0' || strlen(v) > 200)
		return false;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == '%' || *v == 0x7f)
			return false;
	return true;
}

/* Move a descriptor above stdin/stdout/stderr, keeping O_CLOEXEC. */
static int
fd_above_stdio(int *fd)
{
	int nfd;

	if (*fd > 2)
		return 0;
	nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -1;
	close(*fd);
	*fd = nfd;
	return 0;
}

static int
pinentry_spawn(const psm_pin_source *src, pid_t *pid, int *to_fd,
               int *from_fd)
{
	int r = PSM_ERR_INTERNAL;
	int in_pipe[2] = { -1, -1 };  /* parent writes [1], child reads [0] */
	int out_pipe[2] = { -1, -1 }; /* child writes [1], parent reads [0] */
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_init = false, attr_init = false;
	sigset_t mask, def;
	char *argv[2];
	int e;

	if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
	    fd_above_stdio(&in_pipe[0]) != 0 ||
	    fd_above_stdio(&in_pipe[1]) != 0 ||
	    fd_above_stdio(&out_pipe[0]) != 0 ||
	    fd_above_stdio(&out_pipe[1]) != 0) {
		psm_error_set("cannot make pipes for %s: %s",
		              src->description, strerror(errno));
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}

	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		goto spawn_setup_failed;
	fa_init = true;
	if ((e = posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1)) != 0)
		goto spawn_setup_failed;
#if defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
	/* Nothing else of ours reaches the pinentry, even descriptors
	 * opened without O_CLOEXEC by other code in this process. */
	if ((e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0)
		goto spawn_setup_failed;
#endif
#endif
	if ((e = posix_spawnattr_init(&attr)) != 0)
		goto spawn_setup_failed;
	attr_init = true;
	sigemptyset(&mask);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	if ((e = posix_spawnattr_setsigmask(&attr, &mask)) != 0 ||
	    (e = posix_spawnattr_setsigdefault(&attr, &def)) != 0 ||
	    (e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	                                  POSIX_SPAWN_SETSIGDEF)) != 0)
		goto spawn_setup_failed;

	/* argv is the program name alone; the PIN never travels in argv
	 * or the environment. */
	argv[0] = src->path;
	argv[1] = NULL;
	e = posix_spawnp(pid, src->path, &fa, &attr, argv, environ);
	if (e != 0) {
		psm_error_set("cannot start %s: %s%s", src->description,
		              strerror(e), e != ENOENT ? "" :
		              strcmp(src->path, "pinentry") == 0 ?
		              "; install pinentry (Debian: pinentry-curses), or "
		              "name one with pinentry:PROGRAM" :
		              "; check the program named in pinentry:PROGRAM");
		r = PSM_ERR_PIN_SOURCE;
		goto out;
	}

	*to_fd = in_pipe[1];
	in_pipe[1] = -1;
	*from_fd = out_pipe[0];
	out_pipe[0] = -1;
	r = 0;
	goto out;

spawn_setup_failed:
	psm_error_set("cannot prepare to start %s: %s", src->description,
	              strerror(e));
	r = e == ENOMEM ? PSM_ERR_NOMEM : PSM_ERR_PIN_SOURCE;
out:
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		if (in_pipe[i] != -1)
			close(in_pipe[i]);
		if (out_pipe[i] != -1)
			close(out_pipe[i]);
	}
	return r;
}

static void
wait_child(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int
pinentry_converse(struct assuan *a, const char *description, char *pin,
                  size_t *len)
{
	int r;
	char cmd[ASSUAN_LINE_MAX + 1];
	char tty[256];
	const char *term = getenv("TERM");

	r = assuan_response(a, "start-up", NULL, NULL, NULL);
	if (r != 0)
		return r;

	if (isatty(0) && ttyname_r(0, tty, sizeof(tty)) == 0 &&
	    option_value_ok(tty)) {
		snprintf(cmd, sizeof(cmd), "OPTION ttyname=%s", tty);
		if ((r = assuan_command(a, cmd, "OPTION ttyname", true)) != 0)
			return r;
	}
	if (option_value_ok(term)) {
		snprintf(cmd, sizeof(cmd), "OPTION ttytype=%s", term);
		if ((r = assuan_command(a, cmd, "OPTION ttytype", true)) != 0)
			return r;
	}
	if ((r = assuan_command(a, "SETTITLE p11smime", "SETTITLE", true)) != 0)
		return r;
	memcpy(cmd, "SETDESC ", 8);
	assuan_escape(description, cmd + 8, sizeof(cmd) - 8);
	if ((r = assuan_command(a, cmd, "SETDESC", false)) != 0)
		return r;
	if ((r = assuan_command(a, "SETPROMPT PIN:", "SETPROMPT", false)) != 0)
		return r;

	if ((r = assuan_send(a, "GETPIN")) != 0)
		return r;
	*len = 0;
	pin[0] = '\0';
	return assuan_response(a, "GETPIN", pin, len, NULL);
}

/* Say goodbye and read the answer, leaving the error detail of what went
 * before untouched. */
static void
pinentry_bye(struct assuan *a)
{
	char saved[512];

	snprintf(saved, sizeof(saved), "%s", psm_error_detail());
	if (assuan_send(a, "BYE") == 0)
		(void)assuan_response(a, "BYE", NULL, NULL, NULL);
	psm_error_set("%s", saved);
}

static int
get_from_pinentry(const psm_pin_source *src, const char *description,
                  char *pin, size_t *len)
{
	int r = PSM_ERR_INTERNAL;
	struct assuan a = { .src = src, .to_fd = -1, .from_fd = -1 };
	pid_t pid = -1;
	sigset_t pipe_set, old_mask, pending;
	bool was_pending;

	a.buf = OPENSSL_secure_zalloc(ASSUAN_BUF_SIZE);
	if (a.buf == NULL)
		return PSM_ERR_NOMEM;

	/* Block SIGPIPE in this thread only, for the conversation: a
	 * pinentry that dies shows as EPIPE, and the process's signal
	 * disposition is never touched. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

	r = pinentry_spawn(src, &pid, &a.to_fd, &a.from_fd);
	if (r != 0)
		goto out;

	r = pinentry_converse(&a, description, pin, len);
	if (r == 0)
		r = check_pin(src, pin, *len, false);

	if (!a.broken)
		pinentry_bye(&a);
out:
	if (a.to_fd != -1)
		close(a.to_fd);
	if (pid > 0) {
		/* A pinentry we stopped understanding may still be showing
		 * its dialog: do not wait for the user to close it. */
		if (a.broken)
			kill(pid, SIGTERM);
		if (a.from_fd != -1)
			close(a.from_fd);
		a.from_fd = -1;
		wait_child(pid);
	}
	if (a.from_fd != -1)
		close(a.from_fd);

	if (!was_pending) {
		struct timespec zero = { 0, 0 };

		sigemptyset(&pending);
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE) == 1) {
			while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
			       errno == EINTR)
				;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	OPENSSL_secure_clear_free(a.buf, ASSUAN_BUF_SIZE);
	if (r != 0) {
		OPENSSL_cleanse(pin, PIN_BUF_SIZE);
		*len = 0;
	}
	return r;
}

/* ------------------------------------------------------------------ */

int
psm_pin_source_get(psm_pin_source *src, const char *description,
                   char **pin_out, size_t *len_out)
{
	int r = PSM_ERR_INTERNAL;
	char *pin = NULL;
	size_t len = 0;

	PRECONDITION(pin_out != NULL, PSM_ERR_INTERNAL);
	*pin_out = NULL;
	if (len_out != NULL)
		*len_out = 0;
	PRECONDITION(src != NULL, PSM_ERR_INTERNAL);

	if (description == NULL)
		description = "PIN";
	pin = pin_alloc();
	if (pin == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}

	switch (src->kind) {
	case PIN_FILE:
		r = get_from_file(src, pin, &len);
		break;
	case PIN_FD:
		r = get_from_fd(src, pin, &len);
		break;
	case PIN_TTY:
		r = get_from_tty(src, description, pin, &len);
		break;
	case PIN_PINENTRY:
		r = get_from_pinentry(src, description, pin, &len);
		break;
	}
	if (r != 0)
		goto out;

	*pin_out = pin;
	pin = NULL; /* transferred */
	if (len_out != NULL)
		*len_out = len;
	r = 0;
out:
	psm_pin_free(pin);
	return r;
}

int
psm_pin_source_is_interactive(const psm_pin_source *src)
{
	return src != NULL && (src->kind == PIN_TTY || src->kind == PIN_PINENTRY);
}
