/* p11smime: human and JSON output helpers for cli/. */
#ifndef P11SMIME_OUTPUT_H
#define P11SMIME_OUTPUT_H

#include <stdio.h>
#include <time.h>

/* A minimal streaming JSON writer: commas and nesting are tracked for the
 * caller. Strings are escaped per RFC 8259. */
typedef struct psm_json {
	FILE *f;
	int depth;
	int need_comma[32];
	int after_key;
} psm_json;

void psm_json_init(psm_json *j, FILE *f);
void psm_json_begin_object(psm_json *j);
void psm_json_end_object(psm_json *j);
void psm_json_begin_array(psm_json *j);
void psm_json_end_array(psm_json *j);
void psm_json_key(psm_json *j, const char *key);
void psm_json_string(psm_json *j, const char *s);    /* NULL -> null */
void psm_json_int(psm_json *j, long long v);
void psm_json_bool(psm_json *j, int v);
void psm_json_null(psm_json *j);
void psm_json_time(psm_json *j, time_t t);           /* RFC 3339 UTC */
/* shorthands for "key": value */
void psm_json_kv_string(psm_json *j, const char *key, const char *s);
void psm_json_kv_int(psm_json *j, const char *key, long long v);
void psm_json_kv_bool(psm_json *j, const char *key, int v);

/* RFC 3339 UTC time into buf ("2026-01-31T12:00:00Z"). */
const char *psm_fmt_time(time_t t, char *buf, size_t len);

#endif
