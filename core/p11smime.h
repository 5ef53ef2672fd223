/* p11smime: S/MIME with private keys on PKCS#11 tokens.
 *
 * The one public header of libp11smime. Link with `pkg-config --libs
 * p11smime`. Functions return 0 or a negative psm_err (error.h); objects
 * returned through out-parameters are owned by the caller and freed with
 * the matching _free() function, which accepts NULL.
 */
#ifndef P11SMIME_H
#define P11SMIME_H

#include "error.h"
#include "certinfo.h"
#include "pin.h"
#include "p11.h"

#endif
