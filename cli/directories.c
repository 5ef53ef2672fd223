/* p11smime: the --directory options shared by encrypt, sign-encrypt and
 * certs find, and the settings file's directories. */
#include "config.h"

#include "cli.h"

#include <stdio.h>
#include <string.h>

int
psm_cli_directory_option(struct psm_cli_dir_opts *o, int c, const char *arg)
{
	switch (c) {
	case PSM_OPT_DIRECTORY:
		if (o->n == sizeof(o->urls) / sizeof(o->urls[0])) {
			o->too_many = 1;
			return 1;
		}
		o->urls[o->n++] = arg;
		return 1;
	case PSM_OPT_DIRECTORY_BIND_DN: o->bind_dn = arg; return 1;
	case PSM_OPT_DIRECTORY_PASSWORD: o->pw_src = arg; return 1;
	case PSM_OPT_DIRECTORY_CA: o->ca_file = arg; return 1;
	default: return 0;
	}
}

static void
dir_warn(void *userdata, const char *sentence)
{
	(void)userdata;
	fprintf(stderr, "p11smime: warning: %s\n", sentence);
}

int
psm_cli_open_directories(struct psm_cli *cli, const struct psm_cli_dir_opts *o,
                         psm_directories **out)
{
	psm_directory_params dp = { o->bind_dn, NULL, 0, o->ca_file, 0, 0 };
	const char *const *urls = o->urls;
	size_t n = o->n;
	const psm_settings *st;
	psm_pin_source *src = NULL;
	char *pw = NULL;
	int r;

	*out = NULL;
	if (o->too_many) {
		psm_error_set("too many --directory");
		return PSM_ERR_USAGE;
	}
	if (n == 0) {
		/* none given: those of the settings file */
		if ((r = psm_cli_settings(cli, &st)) < 0)
			return r;
		urls = (const char *const *)st->directories;
		n = st->ndirectories;
	}
	if (o->pw_src != NULL && ((r = psm_pin_source_parse(o->pw_src, &src)) < 0 ||
	                          (r = psm_pin_source_get(src, "directory password", &pw,
	                                                  &dp.password_len)) < 0))
		goto out;
	dp.password = pw;
	if ((r = psm_directories_new(urls, n, &dp, out)) == 0)
		psm_directories_set_warn(*out, dir_warn, NULL);
out:
	if (r == PSM_ERR_PIN_SOURCE || r == PSM_ERR_PIN_UNSAFE) {
		/* a password source that cannot be used is a usage error */
		char why[512];

		snprintf(why, sizeof(why), "%s", psm_error_detail());
		psm_error_set("--directory-password-source: %s", why);
		r = PSM_ERR_USAGE;
	}
	psm_pin_free(pw);
	psm_pin_source_free(src);
	return r;
}
