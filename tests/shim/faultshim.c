/* faultshim: a fault-injecting PKCS#11 module for p11smime's tests.
 *
 * It wraps a real module (SoftHSM in the tests) and makes it report what a
 * real smart card can do but SoftHSM cannot: a PIN on its final try, a
 * locked PIN, a PIN pad, a removed card, any C_Login error. Everything it
 * does not replace goes straight to the real module.
 *
 * Build:
 *   gcc -shared -fPIC -o faultshim.so faultshim.c \
 *       $(pkg-config --cflags p11-kit-1) -ldl -lpthread
 *
 * Environment (read once, on the first C_GetFunctionList):
 *   P11SMIME_SHIM_MODULE       path of the real module (required)
 *   P11SMIME_SHIM_FLAGS        comma list, any of:
 *     final-try      C_GetTokenInfo adds CKF_USER_PIN_FINAL_TRY and
 *                    CKF_USER_PIN_COUNT_LOW
 *     count-low      C_GetTokenInfo adds CKF_USER_PIN_COUNT_LOW
 *     locked         C_GetTokenInfo adds CKF_USER_PIN_LOCKED; C_Login with
 *                    the user PIN (CKU_USER or CKU_CONTEXT_SPECIFIC) returns
 *                    CKR_PIN_LOCKED without calling the real module
 *     pinpad         C_GetTokenInfo adds CKF_PROTECTED_AUTHENTICATION_PATH;
 *                    C_Login with pPin == NULL logs in to the real module
 *                    with the PIN in the file P11SMIME_SHIM_PINPAD_PIN (the
 *                    "keypad"); C_Login with a PIN returns CKR_ARGUMENTS_BAD
 *     removed        C_OpenSession returns CKR_DEVICE_REMOVED
 *     login-fail=RV  C_Login returns RV (hex, "0xa0" or "a0") without
 *                    calling the real module
 *   P11SMIME_SHIM_TOKEN        a token label: the flags act on that token
 *                              only (the module's other tokens are as
 *                              they are), and each C_Login also logs
 *                              "Login token=<label of the session's token>"
 *   P11SMIME_SHIM_PINPAD_PIN   file holding the PIN the "keypad" types
 *   P11SMIME_SHIM_LOG          file to append one line per call to:
 *     "C_Login user=<userType> pinlen=<ulPinLen as passed>"  (never the PIN)
 *     "C_SignInit", "C_Sign", "C_Decrypt", "C_DeriveKey"
 *     C_Sign and C_Decrypt called with a NULL output buffer (the size
 *     query of PKCS#11 section 5.2) are logged as "C_Sign size-query" and
 *     "C_Decrypt size-query", so `grep -c '^C_Sign$'` counts real ones.
 *
 * A misconfiguration (no or unloadable P11SMIME_SHIM_MODULE, unknown flag)
 * prints one "faultshim: ..." line on stderr and makes C_GetFunctionList
 * fail, so a broken test setup can never pass as a product success.
 *
 * Only C_GetFunctionList is exported. Token label and serial are the real
 * ones. The state is set up once under pthread_once and is read-only after
 * that; the wrapped calls add no locking of their own.
 */
#define _GNU_SOURCE
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHIM_PIN_MAX 256

#define SHIM_EXPORT __attribute__((visibility("default")))

static pthread_once_t shim_once = PTHREAD_ONCE_INIT;
static CK_RV shim_init_rv = CKR_GENERAL_ERROR;

static CK_FUNCTION_LIST *real;          /* the wrapped module's list */
static CK_FUNCTION_LIST shim_list;      /* what we hand out */

static struct {
	int final_try;
	int count_low;
	int locked;
	int pinpad;
	int removed;
	int login_fail;
	CK_RV login_fail_rv;
} shim_flags;

static const char *shim_log_path;
static const char *shim_pinpad_path;
static const char *shim_token;          /* NULL: the flags act on every token */

static void shim_complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
shim_complain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "faultshim: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* One line per call; each line is one write(2) on an O_APPEND descriptor. */
static void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
shim_log(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int fd, n;

	if (shim_log_path == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(shim_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	(void)!write(fd, line, (size_t)n);
	close(fd);
}

static int
shim_parse_flags(const char *spec)
{
	char *copy, *tok, *save = NULL;
	int ok = 1;

	if (spec == NULL || *spec == '\0')
		return 1;
	if ((copy = strdup(spec)) == NULL)
		return 0;
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (*tok == '\0')
			continue;
		if (strcmp(tok, "final-try") == 0) {
			shim_flags.final_try = 1;
		} else if (strcmp(tok, "count-low") == 0) {
			shim_flags.count_low = 1;
		} else if (strcmp(tok, "locked") == 0) {
			shim_flags.locked = 1;
		} else if (strcmp(tok, "pinpad") == 0) {
			shim_flags.pinpad = 1;
		} else if (strcmp(tok, "removed") == 0) {
			shim_flags.removed = 1;
		} else if (strncmp(tok, "login-fail=", 11) == 0) {
			const char *v = tok + 11;
			char *end = NULL;
			unsigned long rv;

			errno = 0;
			rv = strtoul(v, &end, 16);
			if (*v == '\0' || *v == '-' || errno != 0 || end == v || *end != '\0') {
				shim_complain("bad login-fail value '%s' (want hex, e.g. login-fail=0xa0)", v);
				ok = 0;
				break;
			}
			shim_flags.login_fail = 1;
			shim_flags.login_fail_rv = (CK_RV)rv;
		} else {
			shim_complain("unknown flag '%s' in P11SMIME_SHIM_FLAGS", tok);
			ok = 0;
			break;
		}
	}
	free(copy);
	return ok;
}

/* Reads the "keypad" PIN; strips one trailing newline. Caller wipes it. */
static int
shim_read_pinpad_pin(char *buf, size_t cap, size_t *len)
{
	ssize_t n;
	size_t got = 0;
	int fd;

	if (shim_pinpad_path == NULL)
		return 0;
	if ((fd = open(shim_pinpad_path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	while (got < cap) {
		n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got == cap) {               /* too long to be a PIN */
		explicit_bzero(buf, cap);
		return 0;
	}
	while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
		got--;
	*len = got;
	return 1;
}

/* The label of the token in slot, without its padding, into buf. */
static int
shim_slot_label(CK_SLOT_ID slot, char *buf, size_t cap)
{
	CK_TOKEN_INFO ti;
	size_t n = sizeof(ti.label);

	if (real->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return 0;
	while (n > 0 && ti.label[n - 1] == ' ')
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, ti.label, n);
	buf[n] = '\0';
	return 1;
}

/* Do the flags act on this slot's token? */
static int
shim_acts_on(CK_SLOT_ID slot)
{
	char label[40];

	if (shim_token == NULL)
		return 1;
	return shim_slot_label(slot, label, sizeof(label)) && strcmp(label, shim_token) == 0;
}

static int
shim_session_slot(CK_SESSION_HANDLE session, CK_SLOT_ID *slot)
{
	CK_SESSION_INFO si;

	if (real->C_GetSessionInfo(session, &si) != CKR_OK)
		return 0;
	*slot = si.slotID;
	return 1;
}

static CK_RV
shim_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = real->C_GetTokenInfo(slot, info);

	if (rv != CKR_OK || info == NULL || !shim_acts_on(slot))
		return rv;
	if (shim_flags.final_try)
		info->flags |= CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW;
	if (shim_flags.count_low)
		info->flags |= CKF_USER_PIN_COUNT_LOW;
	if (shim_flags.locked)
		info->flags |= CKF_USER_PIN_LOCKED;
	if (shim_flags.pinpad)
		info->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
	return rv;
}

static CK_RV
shim_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
                   CK_NOTIFY notify, CK_SESSION_HANDLE_PTR session)
{
	if (shim_flags.removed && shim_acts_on(slot))
		return CKR_DEVICE_REMOVED;
	return real->C_OpenSession(slot, flags, app, notify, session);
}

static CK_RV
shim_C_Login(CK_SESSION_HANDLE session, CK_USER_TYPE user,
             CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	char keypad[SHIM_PIN_MAX], label[40];
	size_t keypad_len = 0;
	CK_SLOT_ID slot;
	CK_RV rv;

	shim_log("C_Login user=%lu pinlen=%lu", (unsigned long)user, (unsigned long)pin_len);
	if (shim_token != NULL) {
		if (!shim_session_slot(session, &slot) || !shim_slot_label(slot, label, sizeof(label)))
			snprintf(label, sizeof(label), "?");
		shim_log("Login token=%s", label);
		if (strcmp(label, shim_token) != 0)
			return real->C_Login(session, user, pin, pin_len);
	}
	if (shim_flags.locked && (user == CKU_USER || user == CKU_CONTEXT_SPECIFIC))
		return CKR_PIN_LOCKED;
	if (shim_flags.login_fail)
		return shim_flags.login_fail_rv;
	if (!shim_flags.pinpad)
		return real->C_Login(session, user, pin, pin_len);
	/* PIN pad: the host never sends a PIN; the "reader" types it */
	if (pin != NULL)
		return CKR_ARGUMENTS_BAD;
	if (!shim_read_pinpad_pin(keypad, sizeof(keypad), &keypad_len)) {
		shim_complain("pinpad: cannot read the PIN file named by "
		              "P11SMIME_SHIM_PINPAD_PIN");
		return CKR_FUNCTION_CANCELED;  /* what a reader says when nobody types */
	}
	rv = real->C_Login(session, user, (CK_UTF8CHAR_PTR)keypad, (CK_ULONG)keypad_len);
	explicit_bzero(keypad, sizeof(keypad));
	return rv;
}

static CK_RV
shim_C_SignInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	shim_log("C_SignInit");
	return real->C_SignInit(session, mech, key);
}

static CK_RV
shim_C_Sign(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG data_len,
            CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	shim_log(sig == NULL ? "C_Sign size-query" : "C_Sign");
	return real->C_Sign(session, data, data_len, sig, sig_len);
}

static CK_RV
shim_C_Decrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR enc, CK_ULONG enc_len,
               CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	shim_log(out == NULL ? "C_Decrypt size-query" : "C_Decrypt");
	return real->C_Decrypt(session, enc, enc_len, out, out_len);
}

static CK_RV
shim_C_DeriveKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base,
                 CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
	shim_log("C_DeriveKey");
	return real->C_DeriveKey(session, mech, base, tmpl, count, key);
}

SHIM_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static void
shim_init(void)
{
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	const char *path = getenv("P11SMIME_SHIM_MODULE");
	void *dl;
	CK_RV rv;

	shim_init_rv = CKR_GENERAL_ERROR;
	if (path == NULL || *path == '\0') {
		shim_complain("P11SMIME_SHIM_MODULE is not set; name the real PKCS#11 module");
		return;
	}
	if (!shim_parse_flags(getenv("P11SMIME_SHIM_FLAGS")))
		return;
	shim_log_path = getenv("P11SMIME_SHIM_LOG");
	if (shim_log_path != NULL && *shim_log_path == '\0')
		shim_log_path = NULL;
	shim_token = getenv("P11SMIME_SHIM_TOKEN");
	if (shim_token != NULL && *shim_token == '\0')
		shim_token = NULL;
	shim_pinpad_path = getenv("P11SMIME_SHIM_PINPAD_PIN");
	if (shim_pinpad_path != NULL && *shim_pinpad_path == '\0')
		shim_pinpad_path = NULL;

	/* RTLD_LOCAL: the real module's C_* symbols must not be seen by others */
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		shim_complain("cannot load the real module: %s", dlerror());
		return;
	}
	*(void **)&get_list = dlsym(dl, "C_GetFunctionList");
	if (get_list == NULL || get_list == C_GetFunctionList) {
		shim_complain("%s has no C_GetFunctionList of its own", path);
		return;
	}
	if ((rv = get_list(&real)) != CKR_OK || real == NULL) {
		shim_complain("the real module's C_GetFunctionList failed (%s)", path);
		shim_init_rv = rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
		real = NULL;
		return;
	}
	/* the module stays loaded until the process exits */
	shim_list = *real;
	shim_list.C_GetFunctionList = C_GetFunctionList;
	shim_list.C_GetTokenInfo = shim_C_GetTokenInfo;
	shim_list.C_OpenSession = shim_C_OpenSession;
	shim_list.C_Login = shim_C_Login;
	shim_list.C_SignInit = shim_C_SignInit;
	shim_list.C_Sign = shim_C_Sign;
	shim_list.C_Decrypt = shim_C_Decrypt;
	shim_list.C_DeriveKey = shim_C_DeriveKey;
	shim_init_rv = CKR_OK;
}

SHIM_EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&shim_once, shim_init);
	if (shim_init_rv != CKR_OK)
		return shim_init_rv;
	*list = &shim_list;
	return CKR_OK;
}
