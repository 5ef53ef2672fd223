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

int
psm_error_from_openssl(int err, const char *what)
{
	unsigned long e = ERR_peek_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	if (reason != NULL)
		psm_error_set("%s: %s", what, reason);
	else
		psm_error_set("%s", what);
	ERR_clear_error();
	return err;
}
