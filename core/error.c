/* p11smime: error sentences and the per-thread error detail. */
#include "config.h"

#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static _Thread_local char detail[512];

const char *
psm_strerror(int err)
{
	switch ((psm_err)err) {
	case PSM_OK: return "success";
	case PSM_ERR_INTERNAL: return "internal error";
	case PSM_ERR_NOMEM: return "out of memory";
	case PSM_ERR_USAGE: return "usage error";
	case PSM_ERR_MALFORMED: return "malformed input";
	case PSM_ERR_IO: return "input/output error";
	case PSM_ERR_URI: return "invalid PKCS#11 URI";
	case PSM_ERR_MODULE: return "PKCS#11 module cannot be used";
	case PSM_ERR_TOKEN: return "token error";
	case PSM_ERR_TOKEN_ABSENT: return "token not present";
	case PSM_ERR_NOT_FOUND: return "nothing matches";
	case PSM_ERR_AMBIGUOUS: return "more than one object matches";
	case PSM_ERR_PIN_SOURCE: return "PIN source unusable";
	case PSM_ERR_PIN_UNSAFE: return "PIN file is readable by others";
	case PSM_ERR_PIN_INCORRECT: return "incorrect PIN";
	case PSM_ERR_PIN_LOCKED: return "PIN locked";
	case PSM_ERR_PIN_FINAL_TRY: return "only one PIN try left";
	case PSM_ERR_PIN_CANCELLED: return "PIN entry cancelled";
	case PSM_ERR_KEY_USAGE: return "key not usable for this operation";
	case PSM_ERR_CRYPTO: return "cryptographic operation failed";
	case PSM_ERR_VERIFY: return "verification failed";
	case PSM_ERR__LAST: break;
	}
	return "unknown error";
}

void
psm_error_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
}

void
psm_error_clear(void)
{
	detail[0] = '\0';
}

const char *
psm_error_detail(void)
{
	return detail;
}

static int mapped_lib;
static int (*mapped_fn)(int reason);

void
psm_error_map_openssl_lib(int lib, int (*map)(int reason))
{
	mapped_lib = lib;
	mapped_fn = map;
}

int
psm_error_from_openssl(int err, const char *what)
{
	unsigned long e, first = 0, ours = 0;
	const char *data = NULL, *reason;
	char ours_data[160] = "";
	int flags = 0;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		if (first == 0)
			first = e;
		if (ours == 0 && mapped_fn != NULL && ERR_GET_LIB(e) == mapped_lib) {
			ours = e;
			/* kept: the queue is cleared below */
			if ((flags & ERR_TXT_STRING) && data != NULL)
				snprintf(ours_data, sizeof(ours_data), "%s", data);
		}
	}
	if (ours != 0) {
		reason = ERR_reason_error_string(ours);
		if (ours_data[0] != '\0')
			psm_error_set("%s: %s (%s)", what, reason != NULL ? reason : "token failure",
			              ours_data);
		else
			psm_error_set("%s: %s", what, reason != NULL ? reason : "token failure");
		ERR_clear_error();
		return mapped_fn(ERR_GET_REASON(ours));
	}
	reason = first != 0 ? ERR_reason_error_string(first) : NULL;
	if (reason != NULL)
		psm_error_set("%s: %s", what, reason);
	else
		psm_error_set("%s", what);
	ERR_clear_error();
	return err;
}
