/* p11smime: the user's settings file (see settings.h). */
#include "config.h"

#include "settings.h"
#include "error.h"
#include "cms_encrypt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
default_path(void)
{
	const char *home = getenv("P11SMIME_HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *user = getenv("HOME");
	char buf[4096];

	if (home != NULL && *home != '\0')
		snprintf(buf, sizeof(buf), "%s/config", home);
	else if (xdg != NULL && *xdg == '/')   /* a relative one is ignored (XDG) */
		snprintf(buf, sizeof(buf), "%s/p11smime/config", xdg);
	else if (user != NULL && *user == '/')
		snprintf(buf, sizeof(buf), "%s/.config/p11smime/config", user);
	else
		return NULL;
	return strdup(buf);
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
one_of(const char *v, const char *const *allowed)
{
	for (; *allowed != NULL; allowed++)
		if (strcmp(v, *allowed) == 0)
			return 1;
	return 0;
}

static int
set_one(psm_settings *c, const char *name, const char *value, size_t line)
{
	static const char *const digests[] = { "sha256", "sha384", "sha512", NULL };
	static const char *const policies[] = { "off", "soft", "hard", NULL };
	char **slot = NULL, **list = NULL;
	size_t *n = NULL;

	if (strcmp(name, "key") == 0) {
		slot = &c->key;
	} else if (strcmp(name, "digest") == 0) {
		if (!one_of(value, digests))
			goto bad_value;
		slot = &c->digest;
	} else if (strcmp(name, "cipher") == 0) {
		if (!psm_cipher_known(value))
			goto bad_value;
		slot = &c->cipher;
	} else if (strcmp(name, "revocation") == 0) {
		if (!one_of(value, policies))
			goto bad_value;
		slot = &c->revocation;
	} else if (strcmp(name, "anchors") == 0) {
		list = c->anchors;
		n = &c->nanchors;
	} else if (strcmp(name, "directory") == 0) {
		list = c->directories;
		n = &c->ndirectories;
	} else {
		psm_error_set("%s line %zu: unknown setting '%s' (known: key, digest, cipher, "
		              "revocation, anchors, directory)", c->path, line, name);
		return PSM_ERR_USAGE;
	}
	if (slot != NULL) {
		free(*slot);
		return (*slot = strdup(value)) != NULL ? 0 : PSM_ERR_NOMEM;
	}
	if (*n == PSM_SETTINGS_MAX_LIST) {
		psm_error_set("%s line %zu: more than %d '%s' settings", c->path, line,
		              PSM_SETTINGS_MAX_LIST, name);
		return PSM_ERR_USAGE;
	}
	if ((list[*n] = strdup(value)) == NULL)
		return PSM_ERR_NOMEM;
	(*n)++;
	return 0;
bad_value:
	psm_error_set("%s line %zu: '%s' is not a valid %s (see SETTINGS in p11smime(1))", c->path,
	              line, value, name);
	return PSM_ERR_USAGE;
}

int
psm_settings_load(const char *path, psm_settings **out)
{
	psm_settings *c;
	char line[4096];
	size_t lineno = 0;
	FILE *f;
	int r = 0;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return PSM_ERR_NOMEM;
	c->path = path != NULL ? strdup(path) : default_path();
	if (c->path == NULL || (f = fopen(c->path, "r")) == NULL) {
		if (c->path != NULL && errno != ENOENT) {
			psm_error_set("cannot read %s: %s", c->path, strerror(errno));
			psm_settings_free(c);
			return PSM_ERR_IO;
		}
		free(c->path);
		c->path = NULL;
		*out = c;
		return 0;
	}
	while (r == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *hash;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			psm_error_set("%s line %zu: the line is too long", c->path, lineno);
			r = PSM_ERR_USAGE;
			break;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		s = trim(line);
		if (*s == '\0')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			psm_error_set("%s line %zu: expected 'name = value'", c->path, lineno);
			r = PSM_ERR_USAGE;
			break;
		}
		*eq = '\0';
		r = set_one(c, trim(s), trim(eq + 1), lineno);
	}
	fclose(f);
	if (r < 0) {
		psm_settings_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void
psm_settings_free(psm_settings *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nanchors; i++)
		free(c->anchors[i]);
	for (i = 0; i < c->ndirectories; i++)
		free(c->directories[i]);
	free(c->path);
	free(c->key);
	free(c->digest);
	free(c->cipher);
	free(c->revocation);
	free(c);
}
