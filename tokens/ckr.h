/* p11smime: CK_RV -> psm_err, at the PKCS#11 boundary. */
#ifndef P11SMIME_CKR_H
#define P11SMIME_CKR_H

#include <p11-kit/pkcs11.h>

/* The symbolic name of a CK_RV ("CKR_PIN_INCORRECT"), or "CKR_0x%lx" in a
 * static per-thread buffer for unknown values. */
const char *psm_ckr_name(CK_RV rv);

/* Translate rv into the project's error enum and attach one sentence that
 * says what failed ("what" names the operation and object, e.g. "logging in
 * to token 'X'"). Returns 0 for CKR_OK. */
int psm_ckr_to_err(CK_RV rv, const char *what);

#endif
