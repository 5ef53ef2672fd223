/* p11smime: one sentence per PKCS#11 return value that users meet. */
#include "config.h"

#include "ckr.h"
#include "error.h"

#include <stdio.h>

#define CKR(x) case x: return #x

const char *
psm_ckr_name(CK_RV rv)
{
	static _Thread_local char buf[32];

	switch (rv) {
	CKR(CKR_OK);
	CKR(CKR_CANCEL);
	CKR(CKR_HOST_MEMORY);
	CKR(CKR_SLOT_ID_INVALID);
	CKR(CKR_GENERAL_ERROR);
	CKR(CKR_FUNCTION_FAILED);
	CKR(CKR_ARGUMENTS_BAD);
	CKR(CKR_ATTRIBUTE_SENSITIVE);
	CKR(CKR_ATTRIBUTE_TYPE_INVALID);
	CKR(CKR_DATA_INVALID);
	CKR(CKR_DATA_LEN_RANGE);
	CKR(CKR_DEVICE_ERROR);
	CKR(CKR_DEVICE_MEMORY);
	CKR(CKR_DEVICE_REMOVED);
	CKR(CKR_ENCRYPTED_DATA_INVALID);
	CKR(CKR_FUNCTION_CANCELED);
	CKR(CKR_FUNCTION_NOT_SUPPORTED);
	CKR(CKR_KEY_HANDLE_INVALID);
	CKR(CKR_KEY_TYPE_INCONSISTENT);
	CKR(CKR_KEY_FUNCTION_NOT_PERMITTED);
	CKR(CKR_MECHANISM_INVALID);
	CKR(CKR_MECHANISM_PARAM_INVALID);
	CKR(CKR_OBJECT_HANDLE_INVALID);
	CKR(CKR_OPERATION_ACTIVE);
	CKR(CKR_OPERATION_NOT_INITIALIZED);
	CKR(CKR_PIN_INCORRECT);
	CKR(CKR_PIN_INVALID);
	CKR(CKR_PIN_LEN_RANGE);
	CKR(CKR_PIN_EXPIRED);
	CKR(CKR_PIN_LOCKED);
	CKR(CKR_SESSION_CLOSED);
	CKR(CKR_SESSION_COUNT);
	CKR(CKR_SESSION_HANDLE_INVALID);
	CKR(CKR_SESSION_READ_ONLY);
	CKR(CKR_SIGNATURE_INVALID);
	CKR(CKR_TOKEN_NOT_PRESENT);
	CKR(CKR_TOKEN_NOT_RECOGNIZED);
	CKR(CKR_TOKEN_WRITE_PROTECTED);
	CKR(CKR_USER_ALREADY_LOGGED_IN);
	CKR(CKR_USER_NOT_LOGGED_IN);
	CKR(CKR_USER_PIN_NOT_INITIALIZED);
	CKR(CKR_USER_TYPE_INVALID);
	CKR(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
	CKR(CKR_USER_TOO_MANY_TYPES);
	CKR(CKR_BUFFER_TOO_SMALL);
	CKR(CKR_CRYPTOKI_NOT_INITIALIZED);
	CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED);
	default:
		snprintf(buf, sizeof(buf), "CKR_0x%08lx", (unsigned long)rv);
		return buf;
	}
}

int
psm_ckr_to_err(CK_RV rv, const char *what)
{
	int r;
	const char *why;

	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_HOST_MEMORY:
		r = PSM_ERR_NOMEM;
		why = "out of memory";
		break;
	case CKR_PIN_INCORRECT:
		r = PSM_ERR_PIN_INCORRECT;
		why = "the PIN is wrong; it was not retried, check the PIN source before trying again";
		break;
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		r = PSM_ERR_PIN_INCORRECT;
		why = "the token rejects the PIN's format or length; check what the PIN source holds";
		break;
	case CKR_PIN_EXPIRED:
		r = PSM_ERR_PIN_LOCKED;
		why = "the PIN has expired; change it with your card's tool first";
		break;
	case CKR_PIN_LOCKED:
		r = PSM_ERR_PIN_LOCKED;
		why = "the PIN is locked after too many wrong tries; unlock it with the SO PIN or PUK "
		      "(e.g. pkcs11-tool --login --login-type so --init-pin)";
		break;
	case CKR_USER_PIN_NOT_INITIALIZED:
		r = PSM_ERR_PIN_LOCKED;
		why = "the token has no user PIN set; set one with the SO PIN first "
		      "(e.g. pkcs11-tool --login --login-type so --init-pin)";
		break;
	case CKR_DEVICE_REMOVED:
		r = PSM_ERR_TOKEN_ABSENT;
		why = "the token was removed; insert it again and run the command again";
		break;
	case CKR_TOKEN_NOT_PRESENT:
		r = PSM_ERR_TOKEN_ABSENT;
		why = "the token is not present; insert it and run the command again";
		break;
	case CKR_SLOT_ID_INVALID:
		r = PSM_ERR_TOKEN_ABSENT;
		why = "the token's slot is gone (was its reader unplugged?); plug the reader in, "
		      "insert the token and run the command again";
		break;
	case CKR_TOKEN_NOT_RECOGNIZED:
		r = PSM_ERR_TOKEN;
		why = "the module does not recognise the token; use its vendor's module "
		      "(--module PATH)";
		break;
	case CKR_USER_NOT_LOGGED_IN:
		r = PSM_ERR_TOKEN;
		why = "the token requires a login for this; give a PIN source with --pin-source "
		      "(file:PATH, fd:N, tty or pinentry)";
		break;
	case CKR_FUNCTION_CANCELED:
	case CKR_CANCEL:
		r = PSM_ERR_PIN_CANCELLED;
		why = "the operation was cancelled";
		break;
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_MECHANISM_INVALID:
		r = PSM_ERR_KEY_USAGE;
		why = "the key does not allow this operation; 'p11smime keys' shows what each key "
		      "may do";
		break;
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		r = PSM_ERR_MODULE;
		why = "the module is not initialised";
		break;
	case CKR_TOKEN_WRITE_PROTECTED:
	case CKR_SESSION_READ_ONLY:
		r = PSM_ERR_TOKEN;
		why = "the token is write-protected";
		break;
	default:
		r = PSM_ERR_TOKEN;
		why = "the token reported an error";
		break;
	}
	psm_error_set("%s: %s (%s)", what, why, psm_ckr_name(rv));
	return r;
}
