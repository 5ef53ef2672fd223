/* libFuzzer harness: two small parsers of untrusted-ish bytes.
 *  - psm_caps_parse (core/recipients.c): a certificate's or signature's
 *    SMIMECapabilities DER, on the whole input;
 *  - psm_settings_load (core/settings.c): the settings file, the input
 *    written to a file of this process's own under $TMPDIR (line handling,
 *    comments, the values checked, the errors naming file and line). */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "error.h"
#include "recipients.h"
#include "settings.h"

static char conf_path[4096];

static void
remove_conf(void)
{
	unlink(conf_path);
}

/* the settings file, made on the first run and rewritten by each */
static void
write_conf(const uint8_t *data, size_t size)
{
	FILE *f;

	if (conf_path[0] == '\0') {
		const char *t = getenv("TMPDIR");
		int fd;

		snprintf(conf_path, sizeof(conf_path), "%s/fuzz_caps.XXXXXX",
		         t != NULL && *t != '\0' ? t : "/tmp");
		if ((fd = mkstemp(conf_path)) < 0) {
			perror("mkstemp");
			abort();
		}
		close(fd);
		atexit(remove_conf);
	}
	if ((f = fopen(conf_path, "wb")) == NULL || fwrite(data, 1, size, f) != size ||
	    fclose(f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s)
{
	if (s != NULL && strlen(s) > 4096)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	psm_settings *c = NULL;
	int gcm = -1, oaep = -1, r;
	size_t i;

	/* SMIMECapabilities */
	r = psm_caps_parse(data, size, &gcm, &oaep);
	if ((r != 0 && r != PSM_ERR_MALFORMED) || (gcm != 0 && gcm != 1) ||
	    (oaep != 0 && oaep != 1) || (r != 0 && (gcm || oaep)))
		abort();
	if (ERR_peek_error() != 0)
		ERR_clear_error();

	/* the settings file */
	write_conf(data, size);
	psm_error_clear();
	r = psm_settings_load(conf_path, &c);
	if (r == 0) {
		if (c == NULL || c->path == NULL || strcmp(c->path, conf_path) != 0 ||
		    c->nanchors > PSM_SETTINGS_MAX_LIST || c->ndirectories > PSM_SETTINGS_MAX_LIST)
			abort();
		check_str(c->key);
		check_str(c->digest);
		check_str(c->cipher);
		check_str(c->revocation);
		for (i = 0; i < c->nanchors; i++)
			check_str(c->anchors[i]);
		for (i = 0; i < c->ndirectories; i++)
			check_str(c->directories[i]);
	} else {
		if (c != NULL || (r != PSM_ERR_USAGE && r != PSM_ERR_NOMEM) ||
		    psm_error_detail()[0] == '\0')
			abort();
	}
	psm_settings_free(c);
	return 0;
}
