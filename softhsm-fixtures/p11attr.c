/*
 * p11attr - set and check attributes of objects on a PKCS#11 token.
 *
 * Test-fixture helper for mkfixtures.sh. pkcs11-tool --write-object only ever
 * sets usage attributes to TRUE and SoftHSM2 defaults CKA_SIGN, CKA_DECRYPT,
 * CKA_UNWRAP (private keys) and CKA_VERIFY, CKA_ENCRYPT, CKA_WRAP (public
 * keys) to TRUE, so a "decrypt only" key would still be able to sign. No
 * packaged tool on Debian 12 can set an attribute to FALSE afterwards; this
 * one does, and then reads every named attribute back and fails unless it
 * has the wanted value (so read-only attributes work as assertions).
 *
 * usage: p11attr MODULE TOKEN-LABEL PIN-FILE SPEC...
 *   SPEC    = CLASS:ID-HEX:ATTR=VALUE[,ATTR=VALUE...]
 *   CLASS   = privkey | pubkey | cert
 *   ATTR    = sign decrypt unwrap derive sign_recover verify encrypt wrap
 *             verify_recover sensitive extractable always_sensitive
 *             never_extractable always_authenticate private modifiable
 *             (VALUE 0 or 1), certificate_category (VALUE a number)
 *   Exactly one object of CLASS with CKA_ID = ID-HEX must exist.
 *   With P11ATTR_VERBOSE=1 each checked object is printed on stdout.
 * exit: 0 all set and verified, 1 otherwise (a message on stderr).
 *
 * The PIN file holds the user PIN; a trailing newline is ignored.
 * Test code only: the PIN is not wiped.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR p11;

struct attr_name {
	const char *name;
	CK_ATTRIBUTE_TYPE type;
	int is_bool;
};

static const struct attr_name attr_names[] = {
	{ "sign", CKA_SIGN, 1 },
	{ "decrypt", CKA_DECRYPT, 1 },
	{ "unwrap", CKA_UNWRAP, 1 },
	{ "derive", CKA_DERIVE, 1 },
	{ "sign_recover", CKA_SIGN_RECOVER, 1 },
	{ "verify", CKA_VERIFY, 1 },
	{ "encrypt", CKA_ENCRYPT, 1 },
	{ "wrap", CKA_WRAP, 1 },
	{ "verify_recover", CKA_VERIFY_RECOVER, 1 },
	{ "sensitive", CKA_SENSITIVE, 1 },
	{ "extractable", CKA_EXTRACTABLE, 1 },
	{ "always_sensitive", CKA_ALWAYS_SENSITIVE, 1 },
	{ "never_extractable", CKA_NEVER_EXTRACTABLE, 1 },
	{ "always_authenticate", CKA_ALWAYS_AUTHENTICATE, 1 },
	{ "private", CKA_PRIVATE, 1 },
	{ "modifiable", CKA_MODIFIABLE, 1 },
	{ "certificate_category", CKA_CERTIFICATE_CATEGORY, 0 },
};

static int fail(const char *what, const char *detail, CK_RV rv)
{
	fprintf(stderr, "p11attr: %s%s%s", what, detail ? ": " : "",
		detail ? detail : "");
	if (rv != CKR_OK)
		fprintf(stderr, " (CK_RV 0x%08lx)", (unsigned long)rv);
	fputc('\n', stderr);
	return 1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int find_slot(const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	char padded[32];
	size_t len = strlen(label);
	CK_RV rv;

	if (len > sizeof(padded))
		return fail("token label too long", label, CKR_OK);
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, len);
	rv = p11->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK)
		return fail("C_GetSlotList", NULL, rv);
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (memcmp(ti.label, padded, sizeof(padded)) == 0) {
			*slot = slots[i];
			return 0;
		}
	}
	return fail("no token with label", label, CKR_OK);
}

static int check_spec(CK_SESSION_HANDLE s, const char *spec_in, int verbose)
{
	char *spec = strdup(spec_in), *cls, *idhex, *attrs, *tok, *save = NULL;
	CK_OBJECT_CLASS klass;
	CK_BYTE id[64];
	CK_ULONG idlen = 0, count = 0;
	CK_OBJECT_HANDLE obj[2];
	CK_ATTRIBUTE tmpl[2];
	CK_RV rv;
	size_t i;
	int ret = 1;

	if (spec == NULL)
		return fail("out of memory", NULL, CKR_OK);
	cls = spec;
	idhex = strchr(cls, ':');
	attrs = idhex ? strchr(idhex + 1, ':') : NULL;
	if (attrs == NULL) {
		fail("bad SPEC (want CLASS:ID:ATTRS)", spec_in, CKR_OK);
		goto out;
	}
	*idhex++ = '\0';
	*attrs++ = '\0';
	if (strcmp(cls, "privkey") == 0)
		klass = CKO_PRIVATE_KEY;
	else if (strcmp(cls, "pubkey") == 0)
		klass = CKO_PUBLIC_KEY;
	else if (strcmp(cls, "cert") == 0)
		klass = CKO_CERTIFICATE;
	else {
		fail("bad object class", cls, CKR_OK);
		goto out;
	}
	if (strlen(idhex) % 2 != 0 || strlen(idhex) / 2 > sizeof(id)) {
		fail("bad CKA_ID", idhex, CKR_OK);
		goto out;
	}
	for (i = 0; idhex[i] != '\0'; i += 2) {
		int hi = hexval(idhex[i]), lo = hexval(idhex[i + 1]);
		if (hi < 0 || lo < 0) {
			fail("bad CKA_ID", idhex, CKR_OK);
			goto out;
		}
		id[idlen++] = (CK_BYTE)(hi << 4 | lo);
	}

	tmpl[0].type = CKA_CLASS;
	tmpl[0].pValue = &klass;
	tmpl[0].ulValueLen = sizeof(klass);
	tmpl[1].type = CKA_ID;
	tmpl[1].pValue = id;
	tmpl[1].ulValueLen = idlen;
	rv = p11->C_FindObjectsInit(s, tmpl, 2);
	if (rv != CKR_OK) {
		fail("C_FindObjectsInit", spec_in, rv);
		goto out;
	}
	rv = p11->C_FindObjects(s, obj, 2, &count);
	p11->C_FindObjectsFinal(s);
	if (rv != CKR_OK) {
		fail("C_FindObjects", spec_in, rv);
		goto out;
	}
	if (count != 1) {
		fail(count == 0 ? "no such object" : "more than one object",
		     spec_in, CKR_OK);
		goto out;
	}
	if (verbose)
		printf("%s id=%s:", cls, idhex);

	for (tok = strtok_r(attrs, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		const struct attr_name *an = NULL;
		unsigned long want, have;
		CK_BBOOL b;
		CK_ULONG ul;
		CK_ATTRIBUTE a;

		if (eq == NULL) {
			fail("bad ATTR=VALUE", tok, CKR_OK);
			goto out;
		}
		*eq++ = '\0';
		for (i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++)
			if (strcmp(attr_names[i].name, tok) == 0)
				an = &attr_names[i];
		want = strtoul(eq, &end, 0);
		if (an == NULL || *eq == '\0' || *end != '\0' ||
		    (an->is_bool && want > 1)) {
			fail("unknown attribute or bad value", tok, CKR_OK);
			goto out;
		}
		a.type = an->type;
		if (an->is_bool) {
			a.pValue = &b;
			a.ulValueLen = sizeof(b);
		} else {
			a.pValue = &ul;
			a.ulValueLen = sizeof(ul);
		}
		rv = p11->C_GetAttributeValue(s, obj[0], &a, 1);
		if (rv != CKR_OK) {
			fail("C_GetAttributeValue", tok, rv);
			goto out;
		}
		have = an->is_bool ? (unsigned long)(b != CK_FALSE) : ul;
		if (have != want) {
			if (an->is_bool)
				b = want ? CK_TRUE : CK_FALSE;
			else
				ul = want;
			rv = p11->C_SetAttributeValue(s, obj[0], &a, 1);
			if (rv != CKR_OK) {
				fail("C_SetAttributeValue", tok, rv);
				goto out;
			}
			rv = p11->C_GetAttributeValue(s, obj[0], &a, 1);
			have = an->is_bool ? (unsigned long)(b != CK_FALSE) : ul;
			if (rv != CKR_OK || have != want) {
				fail("attribute did not take its value", tok,
				     rv);
				goto out;
			}
		}
		if (verbose)
			printf(" %s=%lu", tok, have);
	}
	if (verbose)
		putchar('\n');
	ret = 0;
out:
	free(spec);
	return ret;
}

int main(int argc, char **argv)
{
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot = 0;
	char pin[256];
	size_t pinlen;
	FILE *f;
	void *lib;
	CK_RV rv;
	int i, ret = 0, verbose;
	const char *v = getenv("P11ATTR_VERBOSE");

	verbose = v != NULL && strcmp(v, "1") == 0;
	if (argc < 5) {
		fprintf(stderr, "usage: p11attr MODULE TOKEN-LABEL PIN-FILE "
				"CLASS:ID:ATTR=VALUE[,...]...\n");
		return 2;
	}
	f = fopen(argv[3], "r");
	if (f == NULL)
		return fail("cannot open PIN file", argv[3], CKR_OK);
	pinlen = fread(pin, 1, sizeof(pin) - 1, f);
	fclose(f);
	while (pinlen > 0 && (pin[pinlen - 1] == '\n' || pin[pinlen - 1] == '\r'))
		pinlen--;

	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL)
		return fail("dlopen", dlerror(), CKR_OK);
	*(void **)&get_list = dlsym(lib, "C_GetFunctionList");
	if (get_list == NULL || get_list(&p11) != CKR_OK)
		return fail("C_GetFunctionList", argv[1], CKR_OK);
	rv = p11->C_Initialize(NULL);
	if (rv != CKR_OK)
		return fail("C_Initialize", argv[1], rv);
	if (find_slot(argv[2], &slot) != 0)
		return 1;
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				NULL, NULL, &s);
	if (rv != CKR_OK)
		return fail("C_OpenSession", argv[2], rv);
	rv = p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, pinlen);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return fail("C_Login", argv[2], rv);
	for (i = 4; i < argc; i++)
		if (check_spec(s, argv[i], verbose) != 0)
			ret = 1;
	p11->C_Logout(s);
	p11->C_CloseSession(s);
	p11->C_Finalize(NULL);
	return ret;
}
