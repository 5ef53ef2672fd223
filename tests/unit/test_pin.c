/* Unit tests for tokens/pin.c: PIN sources. */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "pin.h"

/* ------------------------------------------------------------------ */
/* Fixture: a private temporary folder per test                        */

struct fixture {
	char dir[PATH_MAX];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL)
		return -1;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(f->dir, sizeof(f->dir), "%s/test_pin.XXXXXX", tmp);
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	psm_error_clear();
	*state = f;
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int type,
             struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int r;

	r = nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return r;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static char *
path_in(const struct fixture *f, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
	return p;
}

/* Write len bytes to f->dir/name with exactly the given mode; returns the
 * path (caller frees). */
static char *
write_file(const struct fixture *f, const char *name, const char *data,
           size_t len, mode_t mode)
{
	char *path = path_in(f, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
	return path;
}

static char *
read_whole_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	assert_non_null(fp);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static psm_pin_source *
parse_ok(const char *spec)
{
	psm_pin_source *src = NULL;

	assert_int_equal(psm_pin_source_parse(spec, &src), 0);
	assert_non_null(src);
	return src;
}

static psm_pin_source *
parse_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static psm_pin_source *
parse_fmt(const char *fmt, ...)
{
	char spec[PATH_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	return parse_ok(spec);
}

static void
assert_parse_fails(const char *spec)
{
	psm_pin_source *src = (psm_pin_source *)0x1; /* poison */

	psm_error_clear();
	assert_int_equal(psm_pin_source_parse(spec, &src), PSM_ERR_USAGE);
	assert_null(src);
	assert_true(psm_error_detail()[0] != '\0');
}

/* Get a PIN that must succeed and equal expect (expect_len bytes). */
static void
assert_get_pin(psm_pin_source *src, const char *description,
               const char *expect, size_t expect_len)
{
	char *pin = (char *)0x1;
	size_t len = 12345;

	assert_int_equal(psm_pin_source_get(src, description, &pin, &len), 0);
	assert_non_null(pin);
	assert_int_equal(len, expect_len);
	assert_memory_equal(pin, expect, expect_len);
	assert_int_equal(pin[len], '\0');
	psm_pin_free(pin);
}

/* Get a PIN that must fail with err; the out-params are poisoned first
 * and must come back reset. */
static void
assert_get_fails(psm_pin_source *src, const char *description, int err)
{
	char *pin = (char *)0x1;
	size_t len = 12345;

	psm_error_clear();
	assert_int_equal(psm_pin_source_get(src, description, &pin, &len),
	                 err);
	assert_null(pin);
	assert_int_equal(len, 0);
	assert_true(psm_error_detail()[0] != '\0');
}

static void
assert_detail_contains(const char *needle)
{
	const char *d = psm_error_detail();

	if (strstr(d, needle) == NULL)
		fail_msg("error detail \"%s\" lacks \"%s\"", d, needle);
}

static void
assert_detail_lacks(const char *needle)
{
	const char *d = psm_error_detail();

	if (strstr(d, needle) != NULL)
		fail_msg("error detail \"%s\" contains \"%s\"", d, needle);
}

/* A fake pinentry: a shell script speaking Assuan. It logs its argument
 * count and every line it receives to NAME.log and answers OK to
 * everything except GETPIN, which runs getpin_action (shell code), and
 * BYE. Returns the script's path (caller frees). */
static char *
fake_pinentry(const struct fixture *f, const char *name,
              const char *getpin_action)
{
	char *script = NULL;
	char *path;

	assert_true(asprintf(&script,
		"#!/bin/sh\n"
		"log='%s/%s.log'\n"
		"echo \"ARGS $#\" >> \"$log\"\n"
		"echo 'OK Pleased to meet you'\n"
		"while IFS= read -r line; do\n"
		"  printf '%%s\\n' \"$line\" >> \"$log\"\n"
		"  case \"$line\" in\n"
		"    GETPIN) %s ;;\n"
		"    BYE) echo 'OK closing connection'; exit 0 ;;\n"
		"    *) echo OK ;;\n"
		"  esac\n"
		"done\n",
		f->dir, name, getpin_action) > 0);
	path = write_file(f, name, script, strlen(script), 0700);
	free(script);
	return path;
}

static char *
fake_log(const struct fixture *f, const char *name)
{
	char *log = NULL;
	char *text;

	assert_true(asprintf(&log, "%s/%s.log", f->dir, name) > 0);
	text = read_whole_file(log);
	free(log);
	return text;
}

static size_t
count_lines(const char *text, const char *line)
{
	size_t n = 0, len = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p += len)
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */

static void
test_pin_parse_file_scheme(void **state)
{
	psm_pin_source *src = parse_ok("file:/etc/p11smime/pin");

	assert_string_equal(psm_pin_source_describe(src),
	                    "PIN file /etc/p11smime/pin");
	psm_pin_source_free(src);
}

static void
test_pin_parse_file_relative_path(void **state)
{
	psm_pin_source *src = parse_ok("file:pin.txt");

	assert_string_equal(psm_pin_source_describe(src), "PIN file pin.txt");
	psm_pin_source_free(src);
}

static void
test_pin_parse_file_uri_triple_slash(void **state)
{
	psm_pin_source *src = parse_ok("file:///run/user/1000/pin");

	assert_string_equal(psm_pin_source_describe(src),
	                    "PIN file /run/user/1000/pin");
	psm_pin_source_free(src);
}

static void
test_pin_parse_file_uri_localhost(void **state)
{
	psm_pin_source *src = parse_ok("file://localhost/x/pin");

	assert_string_equal(psm_pin_source_describe(src), "PIN file /x/pin");
	psm_pin_source_free(src);
}

static void
test_pin_parse_bare_absolute_path(void **state)
{
	psm_pin_source *src = parse_ok("/home/me/.pin");

	assert_string_equal(psm_pin_source_describe(src),
	                    "PIN file /home/me/.pin");
	psm_pin_source_free(src);
}

static void
test_pin_parse_rejects_file_uri_with_host(void **state)
{
	assert_parse_fails("file://server/pin");
	assert_detail_contains("another host");
	assert_parse_fails("file://server");
}

static void
test_pin_parse_rejects_empty_file_path(void **state)
{
	assert_parse_fails("file:");
	assert_detail_contains("needs a path");
	assert_parse_fails("file://");
	assert_detail_contains("needs a path");
}

static void
test_pin_parse_fd(void **state)
{
	psm_pin_source *src = parse_ok("fd:3");

	assert_string_equal(psm_pin_source_describe(src),
	                    "PIN file descriptor 3");
	psm_pin_source_free(src);
	src = parse_ok("fd:0");
	psm_pin_source_free(src);
}

static void
test_pin_parse_rejects_bad_fd(void **state)
{
	assert_parse_fails("fd:");
	assert_parse_fails("fd:-1");
	assert_parse_fails("fd:+3");
	assert_parse_fails("fd: 3");
	assert_parse_fails("fd:3x");
	assert_parse_fails("fd:0x3");
	assert_parse_fails("fd:99999999999");
	assert_parse_fails("fd:2147483648");
}

static void
test_pin_parse_tty(void **state)
{
	psm_pin_source *src = parse_ok("tty");

	assert_string_equal(psm_pin_source_describe(src), "terminal prompt");
	psm_pin_source_free(src);
}

static void
test_pin_parse_pinentry_default(void **state)
{
	psm_pin_source *src = parse_ok("pinentry");

	assert_string_equal(psm_pin_source_describe(src),
	                    "pinentry program pinentry");
	psm_pin_source_free(src);
}

static void
test_pin_parse_pinentry_program(void **state)
{
	psm_pin_source *src = parse_ok("pinentry:pinentry-curses");

	assert_string_equal(psm_pin_source_describe(src),
	                    "pinentry program pinentry-curses");
	psm_pin_source_free(src);
}

static void
test_pin_parse_rejects_empty_pinentry_program(void **state)
{
	assert_parse_fails("pinentry:");
}

static void
test_pin_parse_rejects_unknown_scheme(void **state)
{
	assert_parse_fails("env:PIN");
	assert_parse_fails("ttyx");
	assert_parse_fails("TTY");
	assert_parse_fails("pinentryx");
	assert_parse_fails("");
	assert_parse_fails("relative/pin");
}

static void
test_pin_parse_does_not_echo_unknown_spec(void **state)
{
	assert_parse_fails("918273");
	assert_detail_lacks("918273");
	assert_parse_fails("ab:918273");
	assert_detail_lacks("918273");
	assert_detail_lacks("ab");
}

static void
test_pin_free_accepts_null(void **state)
{
	psm_pin_source_free(NULL);
	psm_pin_free(NULL);
}

/* ------------------------------------------------------------------ */
/* file:                                                               */

static void
test_pin_file_reads_pin(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "1234", 4, 0600);
	psm_pin_source *src = parse_fmt("file:%s", path);

	assert_get_pin(src, "PIN for token 'a'", "1234", 4);
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_strips_one_newline(void **state)
{
	struct fixture *f = *state;
	char *one = write_file(f, "one", "1234\n", 5, 0600);
	char *two = write_file(f, "two", "1234\n\n", 6, 0400);
	psm_pin_source *src = parse_fmt("file:%s", one);

	assert_get_pin(src, NULL, "1234", 4);
	psm_pin_source_free(src);
	src = parse_fmt("file:%s", two);
	assert_get_pin(src, NULL, "1234\n", 5);
	psm_pin_source_free(src);
	free(one);
	free(two);
}

static void
test_pin_file_strips_crlf(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "1234\r\n", 6, 0600);
	psm_pin_source *src = parse_fmt("file:%s", path);

	assert_get_pin(src, NULL, "1234", 4);
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_keeps_lone_trailing_cr(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "1234\r", 5, 0600);
	psm_pin_source *src = parse_fmt("file:%s", path);

	assert_get_pin(src, NULL, "1234\r", 5);
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_rejects_world_readable(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "918273\n", 7, 0644);
	psm_pin_source *src = parse_fmt("file:%s", path);
	char *expect = NULL;

	assert_get_fails(src, NULL, PSM_ERR_PIN_UNSAFE);
	assert_true(asprintf(&expect, "PIN file %s can be read or written by "
	                     "others (mode 0644); run: chmod 600 %s",
	                     path, path) > 0);
	assert_string_equal(psm_error_detail(), expect);
	assert_detail_lacks("918273");
	free(expect);
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_rejects_group_readable(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "918273", 6, 0640);
	psm_pin_source *src = parse_fmt("file:%s", path);

	assert_get_fails(src, NULL, PSM_ERR_PIN_UNSAFE);
	assert_detail_contains("(mode 0640)");
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_rejects_writable_by_others(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "918273", 6, 0602);
	psm_pin_source *src = parse_fmt("%s", path);

	assert_get_fails(src, NULL, PSM_ERR_PIN_UNSAFE);
	assert_detail_contains("(mode 0602)");
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_missing(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "absent");
	psm_pin_source *src = parse_fmt("file:%s", path);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains(path);
	assert_detail_contains(strerror(ENOENT));
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_empty(void **state)
{
	struct fixture *f = *state;
	char *empty = write_file(f, "empty", "", 0, 0600);
	char *nl = write_file(f, "nl", "\n", 1, 0600);
	psm_pin_source *src = parse_fmt("file:%s", empty);
	char *expect = NULL;

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_true(asprintf(&expect, "PIN file %s is empty", empty) > 0);
	assert_string_equal(psm_error_detail(), expect);
	psm_pin_source_free(src);
	src = parse_fmt("file:%s", nl);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("is empty");
	psm_pin_source_free(src);
	free(expect);
	free(empty);
	free(nl);
}

static void
test_pin_file_rejects_directory(void **state)
{
	struct fixture *f = *state;
	char *dir = path_in(f, "sub");
	psm_pin_source *src;

	assert_int_equal(mkdir(dir, 0700), 0);
	src = parse_fmt("file:%s", dir);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("not a regular file");
	psm_pin_source_free(src);
	free(dir);
}

static void
test_pin_file_rejects_fifo(void **state)
{
	struct fixture *f = *state;
	char *fifo = path_in(f, "fifo");
	psm_pin_source *src;

	/* Refused at once, without waiting for a writer. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	src = parse_fmt("file:%s", fifo);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("not a regular file");
	psm_pin_source_free(src);
	free(fifo);
}

static void
test_pin_file_follows_symlink(void **state)
{
	struct fixture *f = *state;
	char *target = write_file(f, "pin", "5678\n", 5, 0600);
	char *link = path_in(f, "link");
	psm_pin_source *src;

	assert_int_equal(symlink(target, link), 0);
	src = parse_fmt("file:%s", link);
	assert_get_pin(src, NULL, "5678", 4);
	psm_pin_source_free(src);
	free(target);
	free(link);
}

static void
test_pin_file_too_long(void **state)
{
	struct fixture *f = *state;
	char data[PSM_PIN_MAX + 2];
	char *path;
	psm_pin_source *src;

	memset(data, 'k', sizeof(data));
	data[sizeof(data) - 1] = '\n'; /* 257 bytes + newline */
	path = write_file(f, "pin", data, sizeof(data), 0600);
	src = parse_fmt("file:%s", path);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("longer than 256 bytes");
	assert_detail_lacks("kkkk");
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_much_too_long(void **state)
{
	struct fixture *f = *state;
	char data[5000];
	char *path;
	psm_pin_source *src;

	memset(data, 'k', sizeof(data));
	path = write_file(f, "pin", data, sizeof(data), 0600);
	src = parse_fmt("file:%s", path);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("longer than 256 bytes");
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_accepts_max_length(void **state)
{
	struct fixture *f = *state;
	char data[PSM_PIN_MAX + 2];
	char *path;
	psm_pin_source *src;

	memset(data, 'k', sizeof(data));
	data[PSM_PIN_MAX] = '\r';
	data[PSM_PIN_MAX + 1] = '\n';
	path = write_file(f, "pin", data, sizeof(data), 0600);
	src = parse_fmt("file:%s", path);
	assert_get_pin(src, NULL, data, PSM_PIN_MAX);
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_rejects_nul_byte(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "12\0" "34", 5, 0600);
	psm_pin_source *src = parse_fmt("file:%s", path);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("NUL");
	psm_pin_source_free(src);
	free(path);
}

static void
test_pin_file_rereads_each_time(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "1111", 4, 0600);
	psm_pin_source *src = parse_fmt("file:%s", path);
	char *renamed;

	assert_get_pin(src, NULL, "1111", 4);
	assert_int_equal(unlink(path), 0);
	renamed = write_file(f, "pin", "2222\n", 5, 0600);
	assert_get_pin(src, NULL, "2222", 4);
	psm_pin_source_free(src);
	free(path);
	free(renamed);
}

static void
test_pin_file_uri_form_reads_pin(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "pin", "4321\n", 5, 0600);
	psm_pin_source *src = parse_fmt("file://%s", path); /* file:///... */

	assert_get_pin(src, NULL, "4321", 4);
	psm_pin_source_free(src);
	free(path);
}

/* ------------------------------------------------------------------ */
/* fd:N                                                                */

static void
test_pin_fd_reads_pipe_and_caches(void **state)
{
	int p[2];
	psm_pin_source *src;
	char *first = NULL, *second = NULL;
	size_t len = 0;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "2468\n", 5), 5);
	assert_int_equal(close(p[1]), 0);
	src = parse_fmt("fd:%d", p[0]);

	assert_int_equal(psm_pin_source_get(src, NULL, &first, &len), 0);
	assert_string_equal(first, "2468");
	assert_int_equal(len, 4);
	/* The pipe is at EOF now: the second PIN comes from the cache,
	 * as a copy of its own. */
	assert_int_equal(psm_pin_source_get(src, NULL, &second, &len), 0);
	assert_string_equal(second, "2468");
	assert_int_equal(len, 4);
	assert_ptr_not_equal(first, second);
	psm_pin_free(first);
	assert_get_pin(src, NULL, "2468", 4);
	psm_pin_free(second);

	psm_pin_source_free(src);
	/* The source does not own the descriptor. */
	assert_int_equal(close(p[0]), 0);
}

static void
test_pin_fd_stops_at_first_newline(void **state)
{
	int p[2];
	psm_pin_source *src;
	char rest[16] = { 0 };

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "1357\nrest", 9), 9);
	assert_int_equal(close(p[1]), 0);
	src = parse_fmt("fd:%d", p[0]);
	assert_get_pin(src, NULL, "1357", 4);
	assert_int_equal(read(p[0], rest, sizeof(rest) - 1), 4);
	assert_string_equal(rest, "rest");
	psm_pin_source_free(src);
	close(p[0]);
}

static void
test_pin_fd_reads_to_eof_without_newline(void **state)
{
	int p[2];
	psm_pin_source *src;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "8642", 4), 4);
	assert_int_equal(close(p[1]), 0);
	src = parse_fmt("fd:%d", p[0]);
	assert_get_pin(src, NULL, "8642", 4);
	psm_pin_source_free(src);
	close(p[0]);
}

static void
test_pin_fd_strips_crlf(void **state)
{
	int p[2];
	psm_pin_source *src;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "8642\r\n", 6), 6);
	assert_int_equal(close(p[1]), 0);
	src = parse_fmt("fd:%d", p[0]);
	assert_get_pin(src, NULL, "8642", 4);
	psm_pin_source_free(src);
	close(p[0]);
}

static void
test_pin_fd_empty_fails_and_stays_failed(void **state)
{
	int p[2];
	psm_pin_source *src;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(close(p[1]), 0);
	src = parse_fmt("fd:%d", p[0]);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("empty PIN");
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("already read");
	psm_pin_source_free(src);
	close(p[0]);
}

static void
test_pin_fd_not_open(void **state)
{
	int p[2];
	psm_pin_source *src;

	assert_int_equal(pipe(p), 0);
	close(p[0]);
	close(p[1]);
	src = parse_fmt("fd:%d", p[0]);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("not open");
	psm_pin_source_free(src);
}

static void
test_pin_fd_too_long(void **state)
{
	int p[2];
	char data[300];
	psm_pin_source *src;

	memset(data, 'k', sizeof(data));
	data[sizeof(data) - 1] = '\n';
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], data, sizeof(data)),
	                 (ssize_t)sizeof(data));
	assert_int_equal(close(p[1]), 0);
	src = parse_fmt("fd:%d", p[0]);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("longer than 256 bytes");
	assert_detail_lacks("kkkk");
	psm_pin_source_free(src);
	close(p[0]);
}

static void *
late_writer(void *arg)
{
	int fd = *(int *)arg;
	struct timespec delay = { 0, 200 * 1000 * 1000 };

	/* The writer comes late: the reader must wait, not fail. */
	nanosleep(&delay, NULL);
	if (write(fd, "9753\n", 5) != 5)
		return (void *)1;
	close(fd);
	return NULL;
}

static void
test_pin_fd_reads_nonblocking_pipe(void **state)
{
	int p[2];
	psm_pin_source *src;
	pthread_t writer;
	void *ret = (void *)1;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(pthread_create(&writer, NULL, late_writer, &p[1]), 0);
	src = parse_fmt("fd:%d", p[0]);
	assert_get_pin(src, NULL, "9753", 4);
	assert_int_equal(pthread_join(writer, &ret), 0);
	assert_null(ret);
	psm_pin_source_free(src);
	close(p[0]);
}

/* ------------------------------------------------------------------ */
/* tty                                                                 */

struct prompt_record {
	int calls;
	char description[256];
	size_t cap;
	const char *answer; /* NULL: fill the whole buffer, unterminated */
	int ret;
};

static int
fake_prompt(void *userdata, const char *description, char *buf, size_t cap)
{
	struct prompt_record *rec = userdata;

	rec->calls++;
	snprintf(rec->description, sizeof(rec->description), "%s",
	         description);
	rec->cap = cap;
	if (rec->ret != 0) {
		psm_error_set("fake prompt failed");
		return rec->ret;
	}
	if (rec->answer == NULL)
		memset(buf, 'k', cap);
	else
		snprintf(buf, cap, "%s", rec->answer);
	return 0;
}

static void
test_pin_tty_without_prompt_fails(void **state)
{
	psm_pin_source *src = parse_ok("tty");

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_string_equal(psm_error_detail(),
	                    "no terminal prompt available; "
	                    "use --pin-source file:PATH");
	psm_pin_source_free(src);
}

static void
test_pin_tty_uses_prompt(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	struct prompt_record rec = { .answer = "4321" };

	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	assert_get_pin(src, "PIN for token 'Work'", "4321", 4);
	assert_int_equal(rec.calls, 1);
	assert_string_equal(rec.description, "PIN for token 'Work'");
	assert_true(rec.cap > PSM_PIN_MAX);
	psm_pin_source_free(src);
}

static void
test_pin_tty_default_description(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	struct prompt_record rec = { .answer = "4321" };

	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	assert_get_pin(src, NULL, "4321", 4);
	assert_string_equal(rec.description, "PIN");
	psm_pin_source_free(src);
}

static void
test_pin_tty_asks_each_time(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	struct prompt_record rec = { .answer = "4321" };

	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	assert_get_pin(src, NULL, "4321", 4);
	assert_get_pin(src, NULL, "4321", 4);
	assert_int_equal(rec.calls, 2);
	psm_pin_source_free(src);
}

static void
test_pin_tty_prompt_error_propagates(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	struct prompt_record rec = { .ret = PSM_ERR_PIN_CANCELLED };

	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	assert_get_fails(src, NULL, PSM_ERR_PIN_CANCELLED);
	assert_string_equal(psm_error_detail(), "fake prompt failed");
	psm_pin_source_free(src);
}

static void
test_pin_tty_prompt_foreign_error_maps_to_source(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	struct prompt_record rec = { .ret = 1 };

	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	psm_pin_source_free(src);
}

static void
test_pin_tty_empty_pin_fails(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	struct prompt_record rec = { .answer = "" };

	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("empty PIN");
	psm_pin_source_free(src);
}

static void
test_pin_tty_too_long(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	char answer[PSM_PIN_MAX + 2];
	struct prompt_record rec = { .answer = answer };

	memset(answer, 'k', sizeof(answer) - 1);
	answer[sizeof(answer) - 1] = '\0'; /* 257 bytes */
	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("longer than 256 bytes");
	psm_pin_source_free(src);
}

static void
test_pin_tty_survives_unterminated_answer(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	struct prompt_record rec = { .answer = NULL };

	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("longer than 256 bytes");
	psm_pin_source_free(src);
}

static void
test_pin_tty_prompt_can_be_removed(void **state)
{
	psm_pin_source *src = parse_ok("tty");
	struct prompt_record rec = { .answer = "4321" };

	psm_pin_source_set_prompt(src, fake_prompt, &rec);
	psm_pin_source_set_prompt(src, NULL, NULL);
	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_int_equal(rec.calls, 0);
	psm_pin_source_free(src);
}

/* ------------------------------------------------------------------ */
/* pinentry                                                            */

#define ANSWER_PIN "printf '%s\\n' 'D 12%2534' OK"

static void
test_pin_pinentry_reads_pin(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe", ANSWER_PIN);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	char *log;

	assert_get_pin(src, "PIN for token 'Work'", "12%34", 5);
	log = fake_log(f, "pe");
	assert_true(count_lines(log, "ARGS 0") == 1); /* argv: name alone */
	assert_true(count_lines(log, "SETTITLE p11smime") == 1);
	assert_true(count_lines(log, "SETDESC PIN for token 'Work'") == 1);
	assert_true(count_lines(log, "SETPROMPT PIN:") == 1);
	assert_true(count_lines(log, "GETPIN") == 1);
	assert_true(count_lines(log, "BYE") == 1);
	assert_null(strstr(log, "12%34"));
	free(log);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_sends_commands_in_order(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe", ANSWER_PIN);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	char *log;
	const char *title, *desc, *prompt, *getpin, *bye;

	assert_get_pin(src, "x", "12%34", 5);
	log = fake_log(f, "pe");
	title = strstr(log, "\nSETTITLE ");
	desc = strstr(log, "\nSETDESC ");
	prompt = strstr(log, "\nSETPROMPT ");
	getpin = strstr(log, "\nGETPIN\n");
	bye = strstr(log, "\nBYE\n");
	assert_non_null(title);
	assert_true(title < desc && desc < prompt && prompt < getpin &&
	            getpin < bye);
	free(log);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_escapes_description(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe", ANSWER_PIN);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	char *log;

	assert_get_pin(src, "PIN for '50% off'\r\nline 2", "12%34", 5);
	log = fake_log(f, "pe");
	assert_true(count_lines(log,
	            "SETDESC PIN for '50%25 off'%0D%0Aline 2") == 1);
	free(log);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_truncates_long_description(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe", ANSWER_PIN);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	char desc[3000];

	memset(desc, '%', sizeof(desc) - 1);
	desc[sizeof(desc) - 1] = '\0';
	assert_get_pin(src, desc, "12%34", 5);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_percent_decoding(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe",
		"printf '%s\\n' 'D %41b%2fc' 'D %25d+e' 'D %0A' OK");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_pin(src, NULL, "Ab/c%d+e\n", 9);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_rejects_bad_escape(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe", "printf '%s\\n' 'D 12%G4' OK");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	char *log;

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("malformed");
	log = fake_log(f, "pe");
	assert_true(count_lines(log, "BYE") == 1);
	free(log);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_rejects_truncated_escape(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe", "printf '%s\\n' 'D 12%4' OK");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("malformed");
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_ignores_status_and_comments(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe",
		"printf '%s\\n' '# a comment' 'S PASSWORD_FROMCACHE' "
		"'D 12%2534' 'S' OK");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_pin(src, NULL, "12%34", 5);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_cancel(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe",
		"echo 'ERR 83886179 Operation cancelled <Pinentry>'");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	char *log;

	assert_get_fails(src, NULL, PSM_ERR_PIN_CANCELLED);
	assert_detail_contains("cancelled");
	log = fake_log(f, "pe");
	assert_true(count_lines(log, "BYE") == 1);
	free(log);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_cancel_from_other_source(void **state)
{
	struct fixture *f = *state;
	/* GPG_ERR_CANCELED with another error source in the high bits. */
	char *prog = fake_pinentry(f, "pe", "echo 'ERR 99 cancelled'");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_fails(src, NULL, PSM_ERR_PIN_CANCELLED);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_error_reported(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe",
		"echo 'ERR 83918950 Inappropriate ioctl for device "
		"<Pinentry>'");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains(prog);
	assert_detail_contains("Inappropriate ioctl for device");
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_missing_program(void **state)
{
	struct fixture *f = *state;
	char *prog = path_in(f, "no-such-pinentry");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains(prog);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_missing_program_in_path(void **state)
{
	psm_pin_source *src = parse_ok("pinentry:p11smime-no-such-pinentry");

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("p11smime-no-such-pinentry");
	psm_pin_source_free(src);
}

static void
test_pin_pinentry_default_found_in_path(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pinentry", ANSWER_PIN);
	const char *old = getenv("PATH");
	char *saved = old != NULL ? strdup(old) : NULL;
	psm_pin_source *src = parse_ok("pinentry");

	assert_int_equal(setenv("PATH", f->dir, 1), 0);
	assert_get_pin(src, NULL, "12%34", 5);
	if (saved != NULL)
		setenv("PATH", saved, 1);
	else
		unsetenv("PATH");
	free(saved);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_no_greeting(void **state)
{
	struct fixture *f = *state;
	char *prog = write_file(f, "pe", "#!/bin/sh\nexit 0\n", 17, 0700);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("ended the conversation");
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_bad_greeting(void **state)
{
	struct fixture *f = *state;
	const char *script = "#!/bin/sh\necho 'ERR 1 go away'\n";
	char *prog = write_file(f, "pe", script, strlen(script), 0700);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("go away");
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_exits_early_without_sigpipe(void **state)
{
	struct fixture *f = *state;
	/* Closes its stdin right away: every write to it gets EPIPE. */
	const char *script = "#!/bin/sh\nexec 0<&-\necho 'OK hi'\n"
	                     "exec sleep 30\n";
	char *prog = write_file(f, "pe", script, strlen(script), 0700);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	struct sigaction before, after;
	sigset_t mask_before, mask_after, pending;
	time_t start = time(NULL);

	assert_int_equal(sigaction(SIGPIPE, NULL, &before), 0);
	assert_int_equal(sigprocmask(SIG_SETMASK, NULL, &mask_before), 0);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains(strerror(EPIPE));

	/* Still alive, and nothing about SIGPIPE changed. */
	assert_int_equal(sigaction(SIGPIPE, NULL, &after), 0);
	assert_ptr_equal(before.sa_handler, after.sa_handler);
	assert_int_equal(sigprocmask(SIG_SETMASK, NULL, &mask_after), 0);
	assert_int_equal(sigismember(&mask_before, SIGPIPE),
	                 sigismember(&mask_after, SIGPIPE));
	assert_int_equal(sigpending(&pending), 0);
	assert_int_equal(sigismember(&pending, SIGPIPE), 0);
	/* The program was stopped, not waited for. */
	assert_true(time(NULL) - start < 20);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_broken_conversation_stops_program(void **state)
{
	struct fixture *f = *state;
	/* Answers GETPIN with nonsense, then hangs like an open dialog. */
	char *prog = fake_pinentry(f, "pe", "echo 'HELLO'; exec sleep 30");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	time_t start = time(NULL);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("unexpected reply");
	assert_true(time(NULL) - start < 20);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_line_too_long(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe",
		"printf 'D %01500d\\n' 0; echo OK");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("longer than 1000 bytes");
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_too_long(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe",
		"printf 'D %0200d\\n' 0 0; echo OK");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	char *log;

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("longer than 256 bytes");
	assert_detail_lacks("0000");
	log = fake_log(f, "pe");
	assert_true(count_lines(log, "BYE") == 1);
	free(log);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_empty_pin_fails(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe", "echo OK");
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);

	assert_get_fails(src, NULL, PSM_ERR_PIN_SOURCE);
	assert_detail_contains("empty PIN");
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_asks_each_time(void **state)
{
	struct fixture *f = *state;
	char *prog = fake_pinentry(f, "pe", ANSWER_PIN);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	char *log;

	assert_get_pin(src, NULL, "12%34", 5);
	assert_get_pin(src, NULL, "12%34", 5);
	log = fake_log(f, "pe");
	assert_true(count_lines(log, "GETPIN") == 2);
	free(log);
	psm_pin_source_free(src);
	free(prog);
}

static void
test_pin_pinentry_tolerates_unknown_option(void **state)
{
	struct fixture *f = *state;
	/* Refuses every OPTION, as an old pinentry might. */
	const char *script =
		"#!/bin/sh\necho 'OK hi'\n"
		"while IFS= read -r line; do\n"
		"  case \"$line\" in\n"
		"    OPTION*) echo 'ERR 83886254 Unknown option' ;;\n"
		"    GETPIN) printf '%s\\n' 'D 12%2534' OK ;;\n"
		"    BYE) echo OK; exit 0 ;;\n"
		"    *) echo OK ;;\n"
		"  esac\n"
		"done\n";
	char *prog = write_file(f, "pe", script, strlen(script), 0700);
	psm_pin_source *src = parse_fmt("pinentry:%s", prog);
	const char *old = getenv("TERM");
	char *saved = old != NULL ? strdup(old) : NULL;

	/* TERM makes sure at least one OPTION is sent. */
	assert_int_equal(setenv("TERM", "xterm", 1), 0);
	assert_get_pin(src, NULL, "12%34", 5);
	if (saved != NULL)
		setenv("TERM", saved, 1);
	else
		unsetenv("TERM");
	free(saved);
	psm_pin_source_free(src);
	free(prog);
}

/* ------------------------------------------------------------------ */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pin_parse_file_scheme),
		T(test_pin_parse_file_relative_path),
		T(test_pin_parse_file_uri_triple_slash),
		T(test_pin_parse_file_uri_localhost),
		T(test_pin_parse_bare_absolute_path),
		T(test_pin_parse_rejects_file_uri_with_host),
		T(test_pin_parse_rejects_empty_file_path),
		T(test_pin_parse_fd),
		T(test_pin_parse_rejects_bad_fd),
		T(test_pin_parse_tty),
		T(test_pin_parse_pinentry_default),
		T(test_pin_parse_pinentry_program),
		T(test_pin_parse_rejects_empty_pinentry_program),
		T(test_pin_parse_rejects_unknown_scheme),
		T(test_pin_parse_does_not_echo_unknown_spec),
		T(test_pin_free_accepts_null),

		T(test_pin_file_reads_pin),
		T(test_pin_file_strips_one_newline),
		T(test_pin_file_strips_crlf),
		T(test_pin_file_keeps_lone_trailing_cr),
		T(test_pin_file_rejects_world_readable),
		T(test_pin_file_rejects_group_readable),
		T(test_pin_file_rejects_writable_by_others),
		T(test_pin_file_missing),
		T(test_pin_file_empty),
		T(test_pin_file_rejects_directory),
		T(test_pin_file_rejects_fifo),
		T(test_pin_file_follows_symlink),
		T(test_pin_file_too_long),
		T(test_pin_file_much_too_long),
		T(test_pin_file_accepts_max_length),
		T(test_pin_file_rejects_nul_byte),
		T(test_pin_file_rereads_each_time),
		T(test_pin_file_uri_form_reads_pin),

		T(test_pin_fd_reads_pipe_and_caches),
		T(test_pin_fd_stops_at_first_newline),
		T(test_pin_fd_reads_to_eof_without_newline),
		T(test_pin_fd_strips_crlf),
		T(test_pin_fd_empty_fails_and_stays_failed),
		T(test_pin_fd_not_open),
		T(test_pin_fd_too_long),
		T(test_pin_fd_reads_nonblocking_pipe),

		T(test_pin_tty_without_prompt_fails),
		T(test_pin_tty_uses_prompt),
		T(test_pin_tty_default_description),
		T(test_pin_tty_asks_each_time),
		T(test_pin_tty_prompt_error_propagates),
		T(test_pin_tty_prompt_foreign_error_maps_to_source),
		T(test_pin_tty_empty_pin_fails),
		T(test_pin_tty_too_long),
		T(test_pin_tty_survives_unterminated_answer),
		T(test_pin_tty_prompt_can_be_removed),

		T(test_pin_pinentry_reads_pin),
		T(test_pin_pinentry_sends_commands_in_order),
		T(test_pin_pinentry_escapes_description),
		T(test_pin_pinentry_truncates_long_description),
		T(test_pin_percent_decoding),
		T(test_pin_pinentry_rejects_bad_escape),
		T(test_pin_pinentry_rejects_truncated_escape),
		T(test_pin_pinentry_ignores_status_and_comments),
		T(test_pin_pinentry_cancel),
		T(test_pin_pinentry_cancel_from_other_source),
		T(test_pin_pinentry_error_reported),
		T(test_pin_pinentry_missing_program),
		T(test_pin_pinentry_missing_program_in_path),
		T(test_pin_pinentry_default_found_in_path),
		T(test_pin_pinentry_no_greeting),
		T(test_pin_pinentry_bad_greeting),
		T(test_pin_pinentry_exits_early_without_sigpipe),
		T(test_pin_pinentry_broken_conversation_stops_program),
		T(test_pin_pinentry_line_too_long),
		T(test_pin_pinentry_too_long),
		T(test_pin_pinentry_empty_pin_fails),
		T(test_pin_pinentry_asks_each_time),
		T(test_pin_pinentry_tolerates_unknown_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
