/* p11smime (program): progress on a terminal (see progress.h). */
#include "config.h"

#include "progress.h"

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

static struct {
	int on;                     /* a terminal, and wanted */
	int shown;                  /* a line is on the screen */
	const char *what;
	unsigned long long size;    /* 0: not known (a pipe) */
	double start, last;
} pr;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
tick(void *ud, int fd, unsigned long long nread)
{
	double t = now();
	off_t pos;

	(void)ud;
	/* quiet for the first second, then at most four times a second */
	if (!pr.on || t - pr.start < 1.0 || t - pr.last < 0.25)
		return;
	pr.last = t;
	if (pr.size > 0 && (pos = lseek(fd, 0, SEEK_CUR)) >= 0) {
		unsigned long long at = (unsigned long long)pos;

		fprintf(stderr, "\rp11smime: %s: %3.0f%% of %.0f MiB\033[K", pr.what,
		        100.0 * (double)(at < pr.size ? at : pr.size) / (double)pr.size,
		        (double)pr.size / MIB);
	} else {
		fprintf(stderr, "\rp11smime: %s: %.0f MiB read\033[K", pr.what, (double)nread / MIB);
	}
	fflush(stderr);
	pr.shown = 1;
}

void
psm_cli_progress_start(psm_msg *msg, int fd, const char *what, int quiet)
{
	struct stat st;

	pr.on = !quiet && isatty(STDERR_FILENO);
	pr.shown = 0;
	pr.what = what;
	pr.size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (unsigned long long)st.st_size : 0;
	pr.start = pr.last = now();
	if (pr.on)
		psm_msg_set_progress(msg, tick, NULL);
}

void
psm_cli_progress_done(void)
{
	if (pr.shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	pr.shown = 0;
	pr.on = 0;
}
