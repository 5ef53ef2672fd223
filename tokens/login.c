/* p11smime: logging in to a token, safely.
 *
 * The PIN is read from the PIN source, handed to C_Login and wiped on the
 * next line. A wrong PIN is never retried; a token on its final try is not
 * tried at all unless the user said so; a locked PIN gets a sentence that
 * says how to unlock it.
 */
#include "config.h"

#include "p11-int.h"
#include "ckr.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

int
psm_pin_check_flags(const char *label, CK_FLAGS f, int allow_final_try)
{
	if (f & CKF_USER_PIN_LOCKED) {
		psm_error_set("the user PIN of token '%s' is locked after too many wrong tries; "
		              "unlock it with the SO PIN or PUK (e.g. pkcs11-tool --login "
		              "--login-type so --init-pin, or your card vendor's tool)", label);
		return PSM_ERR_PIN_LOCKED;
	}
	if (!(f & CKF_USER_PIN_INITIALIZED) && (f & CKF_LOGIN_REQUIRED)) {
		psm_error_set("token '%s' has no user PIN set; initialise it with the SO PIN first",
		              label);
		return PSM_ERR_PIN_LOCKED;
	}
	if ((f & CKF_USER_PIN_FINAL_TRY) && !allow_final_try) {
		psm_error_set("token '%s' has one PIN try left; p11smime will not spend it on "
		              "its own: make sure the PIN is right, then pass --allow-last-pin-try",
		              label);
		return PSM_ERR_PIN_FINAL_TRY;
	}
	return 0;
}

int
psm_slot_check_pin_state(psm_p11 *p11, struct psm_slot *s)
{
	int r;

	if ((r = psm_slot_refresh(s)) < 0)
		return r;
	return psm_pin_check_flags(s->info.label, s->token_flags, p11->allow_final_try);
}

static int
logged_in(struct psm_slot *s, CK_SESSION_HANDLE session)
{
	CK_SESSION_INFO si;

	memset(&si, 0, sizeof(si));
	if (s->mod->fl->C_GetSessionInfo(session, &si) != CKR_OK)
		return 0;
	return si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS;
}

int
psm_slot_login(psm_p11 *p11, struct psm_slot *s, psm_pin_source *src)
{
	CK_SESSION_HANDLE session;
	char what[128];
	char desc[96];
	char *pin = NULL;
	size_t pin_len = 0;
	CK_RV rv;
	int r;

	if ((r = psm_slot_session(s, &session)) < 0)
		return r;
	if (!s->info.login_required || logged_in(s, session))
		return 0;
	if ((r = psm_slot_check_pin_state(p11, s)) < 0)
		return r;
	snprintf(what, sizeof(what), "logging in to token '%s'", s->info.label);
	if (s->info.protected_auth_path) {
		/* PIN pad: the reader asks; we pass no PIN */
		rv = s->mod->fl->C_Login(session, CKU_USER, NULL, 0);
		return rv == CKR_USER_ALREADY_LOGGED_IN ? 0 : psm_ckr_to_err(rv, what);
	}
	if (src == NULL) {
		psm_error_set("token '%s' needs a PIN: give one with --pin-source "
		              "(file:PATH, fd:N, tty or pinentry)", s->info.label);
		return PSM_ERR_PIN_SOURCE;
	}
	snprintf(desc, sizeof(desc), "PIN for token '%s'", s->info.label);
	if ((r = psm_pin_source_get(src, desc, &pin, &pin_len)) < 0)
		return r;
	rv = s->mod->fl->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
	psm_pin_free(pin);
	pin = NULL;
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	if (rv == CKR_PIN_INCORRECT) {
		/* say how many tries are left, when the token tells */
		psm_slot_refresh(s);
		psm_error_set("the PIN from %s is wrong for token '%s'%s; it was not retried: check "
		              "the PIN before trying again (each wrong try counts toward locking it)",
		              psm_pin_source_describe(src), s->info.label,
		              s->info.pin_final_try ? " and only one try is left"
		              : s->info.pin_count_low ? " and few tries are left" : "");
		return PSM_ERR_PIN_INCORRECT;
	}
	return psm_ckr_to_err(rv, what);
}
