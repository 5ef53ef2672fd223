/* p11smime: PKCS#11 modules, slots and tokens.
 *
 * Modules come from p11-kit's registry (every module the user or the
 * system registered) or from one explicit path. Each module is initialised
 * on its own so that a broken one is reported rather than hiding the rest.
 * The same token seen through two modules is listed once.
 */
#include "config.h"

#include "p11-int.h"
#include "ckr.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <p11-kit/p11-kit.h>

void
psm_p11_copy_padded(char *dst, size_t dstlen, const unsigned char *src, size_t srclen)
{
	size_t n = srclen;

	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
		n--;
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
module_clear(struct psm_module *m)
{
	free(m->name);
	free(m->path);
	free(m->error);
	memset(m, 0, sizeof(*m));
}

static int
module_fill(struct psm_module *m, CK_FUNCTION_LIST *fl, const char *name, const char *path)
{
	CK_INFO info;
	CK_RV rv;

	m->name = strdup(name != NULL ? name : "");
	m->path = strdup(path != NULL ? path : "");
	if (m->name == NULL || m->path == NULL)
		return PSM_ERR_NOMEM;

	rv = p11_kit_module_initialize(fl);
	if (rv != CKR_OK) {
		const char *msg = p11_kit_message();

		m->error = strdup(msg != NULL && *msg != '\0' ? msg : psm_ckr_name(rv));
		return m->error != NULL ? 0 : PSM_ERR_NOMEM;
	}
	m->fl = fl;
	memset(&info, 0, sizeof(info));
	if (fl->C_GetInfo(&info) == CKR_OK) {
		psm_p11_copy_padded(m->description, sizeof(m->description),
		                    info.libraryDescription, sizeof(info.libraryDescription));
		psm_p11_copy_padded(m->manufacturer, sizeof(m->manufacturer),
		                    info.manufacturerID, sizeof(info.manufacturerID));
		m->info.version_major = info.libraryVersion.major;
		m->info.version_minor = info.libraryVersion.minor;
	}
	return 0;
}

static void
module_publish(struct psm_module *m)
{
	m->info.name = m->name;
	m->info.path = m->path;
	m->info.description = m->description;
	m->info.manufacturer = m->manufacturer;
	m->info.error = m->error;
}

static int
grow_modules(psm_p11 *p11, size_t extra)
{
	struct psm_module **n;
	size_t want = p11->nmods + extra;

	if (want <= p11->mods_alloc)
		return 0;
	n = realloc(p11->mods, want * sizeof(*n));
	if (n == NULL)
		return PSM_ERR_NOMEM;
	p11->mods = n;
	while (p11->mods_alloc < want) {
		if ((n[p11->mods_alloc] = calloc(1, sizeof(**n))) == NULL)
			return PSM_ERR_NOMEM;
		p11->mods_alloc++;
	}
	return 0;
}

int
psm_p11_add_module(psm_p11 *p11, const char *path, size_t *idx)
{
	CK_FUNCTION_LIST *fl;
	struct psm_module *m;
	const char *base;
	size_t i;
	int r;

	for (i = 0; i < p11->nmods; i++) {
		/* a symlink to a module loaded already is that module */
		if (psm_same_module_file(p11->mods[i]->path, path)) {
			*idx = i;
			return p11->mods[i]->fl != NULL ? 0 : PSM_ERR_MODULE;
		}
	}
	fl = p11_kit_module_load(path, 0);
	if (fl == NULL) {
		const char *msg = p11_kit_message();

		psm_error_set("cannot load PKCS#11 module %s: %s; check --module", path,
		              msg != NULL && *msg != '\0' ? msg : "no such module");
		return PSM_ERR_MODULE;
	}
	if ((r = grow_modules(p11, 1)) < 0) {
		p11_kit_module_release(fl);
		return r;
	}
	m = p11->mods[p11->nmods];
	base = strrchr(path, '/');
	r = module_fill(m, fl, base != NULL ? base + 1 : path, path);
	if (r < 0 || m->fl == NULL) {
		if (r == 0)
			psm_error_set("cannot initialise PKCS#11 module %s: %s", path, m->error);
		module_clear(m);
		p11_kit_module_release(fl);
		return r < 0 ? r : PSM_ERR_MODULE;
	}
	module_publish(m);
	*idx = p11->nmods++;
	if (p11->explicit_fl == NULL)
		p11->explicit_fl = fl;
	return 0;
}

int
psm_p11_load_module(psm_p11 *p11, const char *module_path)
{
	size_t idx;

	return psm_p11_add_module(p11, module_path, &idx);
}

static int
load_registry(psm_p11 *p11)
{
	size_t n = 0, i;
	int r;

	p11->kit_modules = p11_kit_modules_load(NULL, 0);
	if (p11->kit_modules == NULL) {
		psm_error_set("cannot read the p11-kit module registry: %s", p11_kit_message());
		return PSM_ERR_MODULE;
	}
	while (p11->kit_modules[n] != NULL)
		n++;
	if (n == 0)
		return 0;
	if ((r = grow_modules(p11, n)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		CK_FUNCTION_LIST *fl = p11->kit_modules[i];
		struct psm_module *m = p11->mods[p11->nmods];
		char *name = p11_kit_module_get_name(fl);
		char *file = p11_kit_module_get_filename(fl);

		m->from_registry = 1;
		{
			char *tp = p11_kit_config_option(fl, "trust-policy");

			m->trust_policy = tp != NULL && strcmp(tp, "yes") == 0;
			free(tp);
		}
		r = module_fill(m, fl, name, file);
		free(name);
		free(file);
		if (r < 0) {
			module_clear(m);
			return r;
		}
		module_publish(m);
		p11->nmods++;
	}
	return 0;
}

int
psm_p11_open(const char *module_path, psm_p11 **out)
{
	psm_p11 *p11 = NULL;
	size_t idx;
	int r = PSM_ERR_INTERNAL;

	*out = NULL;
	if ((p11 = calloc(1, sizeof(*p11))) == NULL)
		return PSM_ERR_NOMEM;
	if (module_path != NULL)
		r = psm_p11_add_module(p11, module_path, &idx);
	else
		r = load_registry(p11);
	if (r < 0)
		goto out;
	*out = p11;
	p11 = NULL; /* transferred */
	r = 0;
out:
	psm_p11_free(p11);
	return r;
}

static void
slots_free(psm_p11 *p11)
{
	size_t i;

	for (i = 0; i < p11->nslots; i++) {
		struct psm_slot *s = &p11->slots[i];

		if (s->session != CK_INVALID_HANDLE && s->mod->fl != NULL)
			s->mod->fl->C_CloseSession(s->session);
		free(s->uri);
		psm_certidx_free(s->certidx);
	}
	free(p11->slots);
	p11->slots = NULL;
	p11->nslots = 0;
}

void
psm_p11_free(psm_p11 *p11)
{
	size_t i;

	if (p11 == NULL)
		return;
	/* keys still loaded lose their sessions before the modules go */
	psm_tokkeys_cut_all(p11);
	slots_free(p11);
	for (i = 0; i < p11->mods_alloc; i++) {
		struct psm_module *m = p11->mods[i];

		if (m->fl != NULL) {
			p11_kit_module_finalize(m->fl);
			if (!m->from_registry)
				p11_kit_module_release(m->fl);
		}
		module_clear(m);
		free(m);
	}
	if (p11->kit_modules != NULL)
		p11_kit_modules_release(p11->kit_modules);
	free(p11->mods);
	free(p11);
}

void
psm_p11_set_pin_source(psm_p11 *p11, psm_pin_source *src)
{
	p11->pin_source = src;
}

void
psm_p11_set_allow_final_try(psm_p11 *p11, int allow)
{
	p11->allow_final_try = allow != 0;
}

size_t
psm_p11_module_count(const psm_p11 *p11)
{
	return p11->nmods;
}

const psm_module_info *
psm_p11_module(const psm_p11 *p11, size_t i)
{
	return i < p11->nmods ? &p11->mods[i]->info : NULL;
}

size_t
psm_p11_slot_count(const psm_p11 *p11)
{
	return p11->nslots;
}

const psm_slot_info *
psm_p11_slot(const psm_p11 *p11, size_t i)
{
	return i < p11->nslots ? &p11->slots[i].info : NULL;
}

static void
slot_fill_token(struct psm_slot *s, const CK_TOKEN_INFO *ti)
{
	psm_slot_info *in = &s->info;
	CK_FLAGS f = ti->flags;

	s->token_flags = f;
	psm_p11_copy_padded(in->label, sizeof(in->label), ti->label, sizeof(ti->label));
	psm_p11_copy_padded(in->token_manufacturer, sizeof(in->token_manufacturer),
	                    ti->manufacturerID, sizeof(ti->manufacturerID));
	psm_p11_copy_padded(in->model, sizeof(in->model), ti->model, sizeof(ti->model));
	psm_p11_copy_padded(in->serial, sizeof(in->serial), ti->serialNumber,
	                    sizeof(ti->serialNumber));
	in->initialized = (f & CKF_TOKEN_INITIALIZED) != 0;
	in->write_protected = (f & CKF_WRITE_PROTECTED) != 0;
	in->login_required = (f & CKF_LOGIN_REQUIRED) != 0;
	in->protected_auth_path = (f & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
	in->user_pin_initialized = (f & CKF_USER_PIN_INITIALIZED) != 0;
	in->pin_count_low = (f & CKF_USER_PIN_COUNT_LOW) != 0;
	in->pin_final_try = (f & CKF_USER_PIN_FINAL_TRY) != 0;
	in->pin_locked = (f & CKF_USER_PIN_LOCKED) != 0;
	in->pin_to_be_changed = (f & CKF_USER_PIN_TO_BE_CHANGED) != 0;
}

static char *
token_uri(const struct psm_slot *s, const CK_TOKEN_INFO *ti)
{
	P11KitUri *uri = p11_kit_uri_new();
	char *str = NULL;

	if (uri == NULL)
		return NULL;
	memcpy(p11_kit_uri_get_token_info(uri), ti, sizeof(*ti));
	if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_TOKEN, &str) != P11_KIT_URI_OK)
		str = NULL;
	p11_kit_uri_free(uri);
	return str;
}

int
psm_slot_refresh(struct psm_slot *s)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	memset(&ti, 0, sizeof(ti));
	rv = s->mod->fl->C_GetTokenInfo(s->id, &ti);
	if (rv != CKR_OK)
		return psm_ckr_to_err(rv, "reading the token's state");
	slot_fill_token(s, &ti);
	return 0;
}

static int
same_token(const psm_slot_info *a, const psm_slot_info *b)
{
	return a->token_present && b->token_present &&
	       strcmp(a->label, b->label) == 0 &&
	       strcmp(a->token_manufacturer, b->token_manufacturer) == 0 &&
	       strcmp(a->model, b->model) == 0 &&
	       strcmp(a->serial, b->serial) == 0;
}

static int
scan_module(psm_p11 *p11, struct psm_module *m)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0, i;
	CK_RV rv;
	int r = PSM_ERR_INTERNAL;

	rv = m->fl->C_GetSlotList(CK_FALSE, NULL, &n);
	if (rv == CKR_OK && n > 0) {
		if ((ids = calloc(n, sizeof(*ids))) == NULL)
			return PSM_ERR_NOMEM;
		rv = m->fl->C_GetSlotList(CK_FALSE, ids, &n);
	}
	if (rv != CKR_OK) {
		/* a module whose slot list fails is shown with no slots */
		free(ids);
		return 0;
	}
	for (i = 0; i < n; i++) {
		CK_SLOT_INFO si;
		CK_TOKEN_INFO ti;
		struct psm_slot *s, *grown;
		size_t k;

		memset(&si, 0, sizeof(si));
		if (m->fl->C_GetSlotInfo(ids[i], &si) != CKR_OK)
			continue;
		grown = realloc(p11->slots, (p11->nslots + 1) * sizeof(*grown));
		if (grown == NULL) {
			r = PSM_ERR_NOMEM;
			goto out;
		}
		p11->slots = grown;
		s = &p11->slots[p11->nslots];
		memset(s, 0, sizeof(*s));
		s->mod = m;
		s->id = ids[i];
		s->session = CK_INVALID_HANDLE;
		s->info.module = &m->info;
		s->info.slot_id = ids[i];
		psm_p11_copy_padded(s->info.description, sizeof(s->info.description),
		                    si.slotDescription, sizeof(si.slotDescription));
		psm_p11_copy_padded(s->info.manufacturer, sizeof(s->info.manufacturer),
		                    si.manufacturerID, sizeof(si.manufacturerID));
		s->info.hardware = (si.flags & CKF_HW_SLOT) != 0;
		s->info.removable = (si.flags & CKF_REMOVABLE_DEVICE) != 0;
		memset(&ti, 0, sizeof(ti));
		if ((si.flags & CKF_TOKEN_PRESENT) &&
		    m->fl->C_GetTokenInfo(ids[i], &ti) == CKR_OK) {
			s->info.token_present = 1;
			slot_fill_token(s, &ti);
			if ((s->uri = token_uri(s, &ti)) == NULL) {
				r = PSM_ERR_NOMEM;
				goto out;
			}
			s->info.uri = s->uri;
			for (k = 0; k < p11->nslots; k++)
				if (!p11->slots[k].info.duplicate &&
				    same_token(&p11->slots[k].info, &s->info)) {
					struct psm_slot *first = &p11->slots[k];
					size_t a;

					s->info.duplicate = 1;
					for (a = 0; a < sizeof(first->also) / sizeof(first->also[0]); a++)
						if (first->also[a] == NULL || first->also[a] == m) {
							first->also[a] = m;
							break;
						}
				}
		}
		p11->nslots++;
	}
	r = 0;
out:
	free(ids);
	return r;
}

int
psm_p11_scan(psm_p11 *p11)
{
	size_t i;
	int r;

	slots_free(p11);
	for (i = 0; i < p11->nmods; i++) {
		if (p11->mods[i]->fl == NULL)
			continue;
		if ((r = scan_module(p11, p11->mods[i])) < 0)
			return r;
	}
	return 0;
}

int
psm_slot_session(struct psm_slot *s, CK_SESSION_HANDLE *out)
{
	CK_RV rv;

	if (s->session == CK_INVALID_HANDLE) {
		rv = s->mod->fl->C_OpenSession(s->id, CKF_SERIAL_SESSION, NULL, NULL, &s->session);
		if (rv != CKR_OK) {
			char what[96];

			s->session = CK_INVALID_HANDLE;
			snprintf(what, sizeof(what), "opening a session on token '%s'", s->info.label);
			return psm_ckr_to_err(rv, what);
		}
	}
	*out = s->session;
	return 0;
}

int
psm_uri_parse(const char *s, P11KitUri **out)
{
	P11KitUri *uri;
	int ur;

	*out = NULL;
	if ((uri = p11_kit_uri_new()) == NULL)
		return PSM_ERR_NOMEM;
	ur = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, uri);
	if (ur != P11_KIT_URI_OK) {
		/* never echo a URI that may carry a PIN */
		if (strcasestr(s, "pin-value") != NULL)
			psm_error_set("the pkcs11: URI is not valid (RFC 7512): %s; and PINs are never "
			              "accepted in a URI: use pin-source= or --pin-source",
			              p11_kit_uri_message(ur));
		else
			psm_error_set("'%s' is not a valid pkcs11: URI (RFC 7512): %s; copy one from "
			              "'p11smime tokens' or 'p11smime keys'", s, p11_kit_uri_message(ur));
		p11_kit_uri_free(uri);
		return PSM_ERR_URI;
	}
	if (p11_kit_uri_get_pin_value(uri) != NULL) {
		psm_error_set("the URI carries a PIN (pin-value=); PINs are never accepted on the "
		              "command line: use pin-source= or --pin-source");
		p11_kit_uri_free(uri);
		return PSM_ERR_URI;
	}
	*out = uri;
	return 0;
}

int
psm_p11_check_uri(const char *s)
{
	P11KitUri *uri = NULL;
	int r = psm_uri_parse(s, &uri);

	p11_kit_uri_free(uri);
	return r;
}

int
psm_same_module_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (a == NULL || b == NULL)
		return 0;
	if (strcmp(a, b) == 0)
		return 1;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int
psm_slot_matches(const struct psm_slot *s, P11KitUri *uri)
{
	CK_TOKEN_INFO ti;
	CK_INFO mi;
	const char *mpath;
	size_t n;

	if (!s->info.token_present)
		return 0;
	mpath = p11_kit_uri_get_module_path(uri);
	if (mpath != NULL && !psm_same_module_file(mpath, s->mod->path)) {
		/* the module named may be another copy presenting this token */
		size_t a;

		for (a = 0; a < sizeof(s->also) / sizeof(s->also[0]) && s->also[a] != NULL; a++)
			if (psm_same_module_file(mpath, s->also[a]->path))
				break;
		if (a == sizeof(s->also) / sizeof(s->also[0]) || s->also[a] == NULL)
			return 0;
	}
	/* rebuild the padded fields the matcher compares */
	memset(&ti, ' ', sizeof(ti));
	n = strlen(s->info.label);
	memcpy(ti.label, s->info.label, n);
	n = strlen(s->info.token_manufacturer);
	memcpy(ti.manufacturerID, s->info.token_manufacturer, n);
	n = strlen(s->info.model);
	memcpy(ti.model, s->info.model, n);
	n = strlen(s->info.serial);
	memcpy(ti.serialNumber, s->info.serial, n);
	if (!p11_kit_uri_match_token_info(uri, &ti))
		return 0;
	memset(&mi, ' ', sizeof(mi));
	n = strlen(s->mod->description);
	memcpy(mi.libraryDescription, s->mod->description, n);
	n = strlen(s->mod->manufacturer);
	memcpy(mi.manufacturerID, s->mod->manufacturer, n);
	mi.libraryVersion.major = (CK_BYTE)s->mod->info.version_major;
	mi.libraryVersion.minor = (CK_BYTE)s->mod->info.version_minor;
	mi.cryptokiVersion.major = 2;
	mi.cryptokiVersion.minor = 40;
	if (!p11_kit_uri_match_module_info(uri, &mi))
		return 0;
	if (p11_kit_uri_get_slot_id(uri) != (CK_SLOT_ID)-1 &&
	    p11_kit_uri_get_slot_id(uri) != s->id)
		return 0;
	return 1;
}

char *
psm_uri_for_object(const struct psm_slot *s, CK_OBJECT_CLASS cls,
                   const unsigned char *id, size_t id_len, const char *label)
{
	P11KitUri *uri = p11_kit_uri_new();
	CK_TOKEN_INFO *ti;
	CK_ATTRIBUTE attr;
	char *str = NULL;

	if (uri == NULL)
		return NULL;
	ti = p11_kit_uri_get_token_info(uri);
	memset(ti, ' ', sizeof(*ti));
	memcpy(ti->label, s->info.label, strlen(s->info.label));
	memcpy(ti->manufacturerID, s->info.token_manufacturer, strlen(s->info.token_manufacturer));
	memcpy(ti->model, s->info.model, strlen(s->info.model));
	memcpy(ti->serialNumber, s->info.serial, strlen(s->info.serial));
	attr.type = CKA_CLASS;
	attr.pValue = &cls;
	attr.ulValueLen = sizeof(cls);
	p11_kit_uri_set_attribute(uri, &attr);
	if (id_len > 0) {
		attr.type = CKA_ID;
		attr.pValue = (void *)id;
		attr.ulValueLen = id_len;
		p11_kit_uri_set_attribute(uri, &attr);
	}
	if (label != NULL && *label != '\0') {
		attr.type = CKA_LABEL;
		attr.pValue = (void *)label;
		attr.ulValueLen = strlen(label);
		p11_kit_uri_set_attribute(uri, &attr);
	}
	/* a module given by path is not in the registry: say where it is */
	if (!s->mod->from_registry)
		p11_kit_uri_set_module_path(uri, s->mod->path);
	if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &str) != P11_KIT_URI_OK)
		str = NULL;
	p11_kit_uri_free(uri);
	return str;
}
