/* p11smime: the user's settings file.
 *
 * $P11SMIME_HOME/config, else $XDG_CONFIG_HOME/p11smime/config (default
 * ~/.config/p11smime/config). Lines are "name = value"; '#' starts a
 * comment. Settings (command-line options always win):
 *   key = pkcs11:...        the default signing key
 *   digest = sha256|sha384|sha512
 *   cipher = aes-256-gcm|aes-128-gcm|aes-256-cbc|aes-128-cbc
 *   revocation = off|soft|hard
 *   anchors = FILE          extra trust anchors (repeatable)
 *   directory = URL         LDAP directories to find recipients in (repeatable)
 */
#ifndef P11SMIME_SETTINGS_H
#define P11SMIME_SETTINGS_H

#include <stddef.h>

#define PSM_SETTINGS_MAX_LIST 16

typedef struct psm_settings {
	char *path;                 /* the file read, or NULL when there is none */
	char *key;
	char *digest;
	char *cipher;
	char *revocation;
	char *anchors[PSM_SETTINGS_MAX_LIST];
	size_t nanchors;
	char *directories[PSM_SETTINGS_MAX_LIST];
	size_t ndirectories;
} psm_settings;

/* Read the settings file (path NULL: from the environment, as above). A
 * missing file is no error (an empty configuration). An unknown setting,
 * a bad value or a line without '=' is PSM_ERR_USAGE with a detail naming
 * the file and line. Free with psm_settings_free(). */
int psm_settings_load(const char *path, psm_settings **out);
void psm_settings_free(psm_settings *c);

#endif
