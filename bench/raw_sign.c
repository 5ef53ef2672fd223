/*
 * raw_sign - the token's ceiling: how many signatures per second the PKCS#11
 * module itself delivers, with no CMS, MIME, process start-up or login in
 * the loop.
 *
 * Opens one session on the token with the given label, logs in once, finds
 * the private key with the given CKA_LABEL, signs once to warm up, then
 * runs N x (C_SignInit + C_Sign) over a message of MSG-BYTES bytes and
 * prints one line:
 *
 *   raw_sign: n=N total_s=T per_sec=R mean_ms=M sd_ms=S
 *
 * usage: raw_sign MODULE TOKEN-LABEL KEY-LABEL PIN-FILE N [MSG-BYTES]
 *   The key must be RSA: the mechanism is CKM_SHA256_RSA_PKCS (hashing on
 *   the token, as the peers' RSA signatures need). SoftHSM 2.6.1 has no
 *   CKM_ECDSA_SHA256, so an EC ceiling would need host hashing; not done.
 *   MSG-BYTES  default 2048
 * exit: 0 ok, 1 a PKCS#11 or usage error (one line on stderr).
 *
 * Benchmark helper: built by bench/bench.sh with
 *   cc $(pkg-config --cflags p11-kit-1) -O2 -o raw_sign raw_sign.c -ldl -lm
 * The PIN file holds the user PIN; a trailing newline is ignored. Test code
 * only: the PIN is not wiped.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR p11;

static int fail(const char *what, CK_RV rv)
{
	fprintf(stderr, "raw_sign: %s", what);
	if (rv != CKR_OK)
		fprintf(stderr, " (CK_RV 0x%08lx)", (unsigned long)rv);
	fputc('\n', stderr);
	return 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Label of a token: 32 bytes, blank padded. */
static int label_is(const CK_UTF8CHAR *field, size_t size, const char *want)
{
	size_t n = strlen(want), i;

	if (n > size || memcmp(field, want, n) != 0)
		return 0;
	for (i = n; i < size; i++)
		if (field[i] != ' ')
			return 0;
	return 1;
}

static int read_pin(const char *path, char *pin, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(pin, 1, size - 1, f);
	fclose(f);
	while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
		n--;
	pin[n] = '\0';
	return (int)n;
}

int main(int argc, char **argv)
{
	const char *module, *token, *keylabel, *pinfile;
	long n, msglen = 2048, i;
	CK_C_GetFunctionList getfl;
	CK_SLOT_ID slots[64], slot = 0;
	CK_ULONG nslots = 64, s, found = 0;
	CK_SESSION_HANDLE sess;
	CK_OBJECT_HANDLE key;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[1024];
	CK_ULONG siglen;
	CK_RV rv;
	char pin[256];
	unsigned char *msg;
	double t0, t1, start = 0, sum = 0, sumsq = 0, mean, sd;
	void *lib;
	int have_slot = 0;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: raw_sign MODULE TOKEN-LABEL KEY-LABEL PIN-FILE N "
				"[MSG-BYTES]\n");
		return 1;
	}
	module = argv[1];
	token = argv[2];
	keylabel = argv[3];
	pinfile = argv[4];
	n = strtol(argv[5], NULL, 10);
	if (argc > 6)
		msglen = strtol(argv[6], NULL, 10);
	if (n < 1 || msglen < 0)
		return fail("N must be >= 1 and MSG-BYTES >= 0", CKR_OK);
	if (read_pin(pinfile, pin, sizeof pin) < 0)
		return fail("cannot read the PIN file", CKR_OK);

	msg = malloc(msglen ? (size_t)msglen : 1);
	if (!msg)
		return fail("out of memory", CKR_OK);
	for (i = 0; i < msglen; i++)
		msg[i] = (i % 73 == 72) ? '\n' : (unsigned char)('a' + i % 26);

	lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return fail(dlerror(), CKR_OK);
	/* the POSIX idiom for a function pointer from dlsym */
	*(void **)&getfl = dlsym(lib, "C_GetFunctionList");
	if (!getfl)
		return fail("module has no C_GetFunctionList", CKR_OK);
	if ((rv = getfl(&p11)) != CKR_OK)
		return fail("C_GetFunctionList", rv);
	if ((rv = p11->C_Initialize(NULL)) != CKR_OK)
		return fail("C_Initialize", rv);
	if ((rv = p11->C_GetSlotList(CK_TRUE, slots, &nslots)) != CKR_OK)
		return fail("C_GetSlotList", rv);
	for (s = 0; s < nslots; s++) {
		CK_TOKEN_INFO ti;

		if (p11->C_GetTokenInfo(slots[s], &ti) == CKR_OK &&
		    label_is(ti.label, sizeof ti.label, token)) {
			slot = slots[s];
			have_slot = 1;
			break;
		}
	}
	if (!have_slot)
		return fail("no token with that label", CKR_OK);
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sess);
	if (rv != CKR_OK)
		return fail("C_OpenSession", rv);
	rv = p11->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return fail("C_Login", rv);

	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof cls },
			{ CKA_LABEL, (void *)keylabel, strlen(keylabel) },
		};
		if ((rv = p11->C_FindObjectsInit(sess, tmpl, 2)) != CKR_OK)
			return fail("C_FindObjectsInit", rv);
		rv = p11->C_FindObjects(sess, &key, 1, &found);
		p11->C_FindObjectsFinal(sess);
		if (rv != CKR_OK || found != 1)
			return fail("no private key with that label", rv);
	}

	/* one warm-up signature, not counted */
	for (i = -1; i < n; i++) {
		t0 = now_s();
		if (i == 0)
			start = t0;
		if ((rv = p11->C_SignInit(sess, &mech, key)) != CKR_OK)
			return fail("C_SignInit", rv);
		siglen = sizeof sig;
		if ((rv = p11->C_Sign(sess, msg, (CK_ULONG)msglen, sig, &siglen)) != CKR_OK)
			return fail("C_Sign", rv);
		t1 = now_s();
		if (i >= 0) {
			sum += t1 - t0;
			sumsq += (t1 - t0) * (t1 - t0);
		}
	}
	t1 = now_s();
	mean = sum / (double)n;
	sd = n > 1 ? sqrt(fmax(0.0, (sumsq - sum * sum / (double)n) / (double)(n - 1))) : 0.0;
	printf("raw_sign: n=%ld total_s=%.6f per_sec=%.1f mean_ms=%.4f sd_ms=%.4f\n",
	       n, t1 - start, (double)n / (t1 - start), mean * 1e3, sd * 1e3);

	p11->C_Logout(sess);
	p11->C_CloseSession(sess);
	p11->C_Finalize(NULL);
	free(msg);
	return 0;
}
