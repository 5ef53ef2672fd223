/* p11smime: human and JSON output. */
#include "config.h"

#include "output.h"

#include <string.h>

const char *
psm_fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "unknown");
	return buf;
}

void
psm_json_init(psm_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

static void
value_prefix(psm_json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = 1;
}

static void
open_(psm_json *j, int c)
{
	value_prefix(j);
	fputc(c, j->f);
	if (j->depth < 31)
		j->depth++;
	j->need_comma[j->depth] = 0;
}

static void
close_(psm_json *j, int c)
{
	if (j->depth > 0)
		j->depth--;
	fputc(c, j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void psm_json_begin_object(psm_json *j) { open_(j, '{'); }
void psm_json_end_object(psm_json *j) { close_(j, '}'); }
void psm_json_begin_array(psm_json *j) { open_(j, '['); }
void psm_json_end_array(psm_json *j) { close_(j, ']'); }

static void
write_string(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void
psm_json_key(psm_json *j, const char *key)
{
	value_prefix(j);
	write_string(j->f, key);
	fputc(':', j->f);
	j->after_key = 1;
}

void
psm_json_string(psm_json *j, const char *s)
{
	if (s == NULL) {
		psm_json_null(j);
		return;
	}
	value_prefix(j);
	write_string(j->f, s);
}

void
psm_json_int(psm_json *j, long long v)
{
	value_prefix(j);
	fprintf(j->f, "%lld", v);
}

void
psm_json_bool(psm_json *j, int v)
{
	value_prefix(j);
	fputs(v ? "true" : "false", j->f);
}

void
psm_json_null(psm_json *j)
{
	value_prefix(j);
	fputs("null", j->f);
}

void
psm_json_time(psm_json *j, time_t t)
{
	char buf[32];

	if (t == 0)
		psm_json_null(j);
	else
		psm_json_string(j, psm_fmt_time(t, buf, sizeof(buf)));
}

void
psm_json_kv_string(psm_json *j, const char *key, const char *s)
{
	psm_json_key(j, key);
	psm_json_string(j, s);
}

void
psm_json_kv_int(psm_json *j, const char *key, long long v)
{
	psm_json_key(j, key);
	psm_json_int(j, v);
}

void
psm_json_kv_bool(psm_json *j, const char *key, int v)
{
	psm_json_key(j, key);
	psm_json_bool(j, v);
}
