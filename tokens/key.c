/* p11smime: private keys on a token as OpenSSL EVP_PKEYs (libp11).
 *
 * libp11's library API (never its ENGINE) turns a token key into an
 * EVP_PKEY whose private operations run on the token. We log in ourselves
 * (tokens/login.c: PIN policy, wiping) on a session of our own; libp11's
 * sessions share that login. For CKA_ALWAYS_AUTHENTICATE keys libp11 calls
 * C_SignInit, then our UI method for the PIN, then
 * C_Login(CKU_CONTEXT_SPECIFIC), then C_Sign: the order cards require.
 */
#include "config.h"

#include "p11-int.h"
#include "ckr.h"
#include "error.h"
#include "certinfo.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <libp11.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include <openssl/ui.h>

struct psm_lp11 {
	struct psm_lp11 *next;
	const struct psm_module *mod;
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned int nslots;
	PKCS11_SLOT *slot;            /* the one slot this context serves */
	psm_pin_source *pin_source;   /* for context-specific logins */
	char label[33];
};

struct psm_key {
	psm_p11 *p11;
	struct psm_lp11 *lp;          /* owned by p11 */
	EVP_PKEY *pkey;
	psm_key_list *list;           /* holds info and the certificate */
	const psm_key_info *info;
	psm_pin_source *own_source;   /* from the URI's pin-source */
};

static UI_METHOD *ui_method;

/* The UI method libp11 calls for a context-specific login. */
static int
ui_read(UI *ui, UI_STRING *uis)
{
	struct psm_lp11 *lp = UI_get0_user_data(ui);
	char desc[96];
	char *pin = NULL;
	size_t len = 0;
	int ok;

	switch (UI_get_string_type(uis)) {
	case UIT_PROMPT:
	case UIT_VERIFY:
		break;
	default:
		return 1;
	}
	if (lp == NULL || lp->pin_source == NULL)
		return 0;
	snprintf(desc, sizeof(desc), "PIN for this signature with token '%s'", lp->label);
	if (psm_pin_source_get(lp->pin_source, desc, &pin, &len) < 0)
		return 0;
	ok = UI_set_result(ui, uis, pin) >= 0;
	psm_pin_free(pin);
	return ok ? 1 : 0;
}

static UI_METHOD *
get_ui_method(void)
{
	if (ui_method == NULL) {
		ui_method = UI_create_method("p11smime PIN source");
		if (ui_method != NULL)
			UI_method_set_reader(ui_method, ui_read);
	}
	return ui_method;
}

void
psm_lp11_free_all(struct psm_lp11 *lp)
{
	while (lp != NULL) {
		struct psm_lp11 *next = lp->next;

		if (lp->slots != NULL)
			PKCS11_release_all_slots(lp->ctx, lp->slots, lp->nslots);
		PKCS11_CTX_unload(lp->ctx);
		PKCS11_CTX_free(lp->ctx);
		free(lp);
		lp = next;
	}
}

/* libp11's error queue holds the CK_RV of a failed call. */
static CK_RV
lp11_last_ckr(void)
{
	unsigned long e = ERR_peek_last_error();

	if (e != 0 && ERR_GET_LIB(e) == ERR_get_CKR_code())
		return (CK_RV)ERR_GET_REASON(e);
	return CKR_FUNCTION_FAILED;
}

/* The libp11 view of slot s: one per slot for the whole run, because
 * libp11 closes every session of a slot when it starts using it, which
 * would log out keys loaded before. Our own session is forgotten then; the
 * next login (tokens/login.c) opens a new one and logs in once. */
static int
lp11_for_slot(psm_p11 *p11, struct psm_slot *s, struct psm_lp11 **out, PKCS11_SLOT **slot_out)
{
	struct psm_lp11 *lp;
	unsigned int i;

	*out = NULL;
	*slot_out = NULL;
	for (lp = p11->lp11; lp != NULL; lp = lp->next) {
		if (lp->mod == s->mod && lp->slot != NULL &&
		    PKCS11_get_slotid_from_slot(lp->slot) == s->id) {
			*out = lp;
			*slot_out = lp->slot;
			return 0;
		}
	}
	if ((lp = calloc(1, sizeof(*lp))) == NULL)
		return PSM_ERR_NOMEM;
	lp->mod = s->mod;
	snprintf(lp->label, sizeof(lp->label), "%s", s->info.label);
	if ((lp->ctx = PKCS11_CTX_new()) == NULL) {
		free(lp);
		return PSM_ERR_NOMEM;
	}
	/* kept until psm_p11_free(): unloading finalizes the module */
	lp->next = p11->lp11;
	p11->lp11 = lp;
	PKCS11_set_ui_method(lp->ctx, get_ui_method(), lp);
	if (PKCS11_CTX_load(lp->ctx, s->mod->path) != 0) {
		psm_error_set("libp11 cannot load module %s", s->mod->path);
		ERR_clear_error();
		return PSM_ERR_MODULE;
	}
	if (PKCS11_enumerate_slots(lp->ctx, &lp->slots, &lp->nslots) != 0) {
		psm_error_set("libp11 cannot list the slots of %s", s->mod->path);
		ERR_clear_error();
		return PSM_ERR_MODULE;
	}
	for (i = 0; i < lp->nslots; i++) {
		if (lp->slots[i].token != NULL &&
		    PKCS11_get_slotid_from_slot(&lp->slots[i]) == s->id)
			lp->slot = &lp->slots[i];
	}
	if (lp->slot == NULL) {
		psm_error_set("token '%s' disappeared while it was being opened", s->info.label);
		return PSM_ERR_TOKEN_ABSENT;
	}
	if (PKCS11_open_session(lp->slot, 0) != 0) {
		psm_error_set("libp11 cannot open a session on token '%s'", s->info.label);
		ERR_clear_error();
		return PSM_ERR_TOKEN;
	}
	/* libp11 just closed all sessions of this slot, ours included */
	if (s->session != CK_INVALID_HANDLE)
		psm_slot_forget_session(s);
	*out = lp;
	*slot_out = lp->slot;
	return 0;
}

/* Find the private key in our listing of slot s that the URI names. */
static int
match_listed_key(psm_key_list *list, const struct psm_slot *s, P11KitUri *uri,
                 const psm_key_info **out, int *count)
{
	size_t i;

	for (i = 0; i < psm_key_list_count(list); i++) {
		const psm_key_info *k = psm_key_list_get(list, i);

		if (!k->has_key || k->slot != &s->info)
			continue;
		if (!psm_uri_wants(uri, CKA_ID, k->id, k->id_len) ||
		    !psm_uri_wants(uri, CKA_LABEL, k->label, strlen(k->label)))
			continue;
		if (++*count == 1)
			*out = k;
	}
	return 0;
}

static int
check_class(P11KitUri *uri)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	CK_OBJECT_CLASS cls;

	if (a == NULL || a->ulValueLen != sizeof(cls))
		return 0;
	memcpy(&cls, a->pValue, sizeof(cls));
	if (cls == CKO_PRIVATE_KEY || cls == CKO_CERTIFICATE || cls == CKO_PUBLIC_KEY)
		return 0;
	psm_error_set("the key URI names an object that is not a key (type=)");
	return PSM_ERR_URI;
}

static int
find_key(psm_p11 *p11, P11KitUri *uri, const char *key_uri, struct psm_slot **slot_out,
         psm_key_list **list_out, const psm_key_info **info_out)
{
	struct psm_lp11 *lp;
	PKCS11_SLOT *ls;
	size_t i, need_pin = 0;
	int r, count = 0;

	*slot_out = NULL;
	for (i = 0; i < p11->nslots; i++) {
		struct psm_slot *s = &p11->slots[i];

		if (s->info.token_present && !s->info.duplicate && psm_slot_matches(s, uri) &&
		    s->info.login_required && !s->info.protected_auth_path)
			need_pin++;
	}
	if (need_pin > 1 && p11->pin_source != NULL &&
	    !psm_pin_source_is_interactive(p11->pin_source)) {
		psm_error_set("%s matches keys on %zu tokens that need a PIN, and one PIN cannot "
		              "be tried on each; add token= to the URI", key_uri, need_pin);
		return PSM_ERR_AMBIGUOUS;
	}
	for (i = 0; i < p11->nslots; i++) {
		struct psm_slot *s = &p11->slots[i];
		psm_key_list *list = NULL;
		const psm_key_info *k = NULL;
		int before = count;

		if (!s->info.token_present || s->info.duplicate || !psm_slot_matches(s, uri))
			continue;
		/* libp11 first (it resets the slot's sessions), then list this
		 * one token, logging in as needed */
		if ((r = lp11_for_slot(p11, s, &lp, &ls)) < 0)
			return r;
		if ((r = psm_p11_list_keys_filtered(p11, s->info.uri, uri, &list)) < 0)
			return r;
		match_listed_key(list, s, uri, &k, &count);
		if (count > before && before == 0) {
			*slot_out = s;
			*list_out = list;
			*info_out = k;
		} else {
			psm_key_list_free(list);
		}
	}
	if (count == 0) {
		psm_error_set("no private key matches %s; run 'p11smime keys' to see the keys%s",
		              key_uri, p11->pin_source == NULL ? " (give --pin-source to see "
		              "keys that need a login)" : "");
		return PSM_ERR_NOT_FOUND;
	}
	if (count > 1) {
		psm_key_list_free(*list_out);
		*list_out = NULL;
		psm_error_set("%d private keys match %s; add id= or object= to the URI",
		              count, key_uri);
		return PSM_ERR_AMBIGUOUS;
	}
	return 0;
}

int
psm_p11_load_key(psm_p11 *p11, const char *key_uri, psm_key **out)
{
	psm_key *key = NULL;
	P11KitUri *uri = NULL;
	struct psm_slot *s = NULL;
	PKCS11_SLOT *ls = NULL;
	PKCS11_KEY *keys = NULL, *lk = NULL;
	psm_pin_source *saved = p11->pin_source;
	unsigned int nkeys = 0, i;
	const char *v;
	size_t idx, before;
	int r = PSM_ERR_INTERNAL;

	*out = NULL;
	if ((r = psm_uri_parse(key_uri, &uri)) < 0)
		return r;
	if ((r = check_class(uri)) < 0)
		goto out;
	if ((key = calloc(1, sizeof(*key))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	key->p11 = p11;
	if ((v = p11_kit_uri_get_pin_source(uri)) != NULL) {
		if ((r = psm_pin_source_parse(v, &key->own_source)) < 0)
			goto out;
		p11->pin_source = key->own_source;
	}
	before = p11->nmods;
	if ((v = p11_kit_uri_get_module_path(uri)) != NULL &&
	    (r = psm_p11_add_module(p11, v, &idx)) < 0)
		goto out;
	if ((p11->nslots == 0 || p11->nmods != before) && (r = psm_p11_scan(p11)) < 0)
		goto out;
	if ((r = find_key(p11, uri, key_uri, &s, &key->list, &key->info)) < 0)
		goto out;

	if ((r = lp11_for_slot(p11, s, &key->lp, &ls)) < 0)
		goto out;
	/* logged in by the listing, on a session libp11 shares */
	if ((r = psm_slot_login(p11, s, p11->pin_source)) < 0)
		goto out;
	if (key->info->always_authenticate)
		key->lp->pin_source = p11->pin_source;
	if (PKCS11_enumerate_keys(ls->token, &keys, &nkeys) != 0) {
		r = psm_ckr_to_err(lp11_last_ckr(), "listing keys through libp11");
		goto out;
	}
	for (i = 0; i < nkeys; i++) {
		if (!keys[i].isPrivate || keys[i].id_len != key->info->id_len ||
		    (keys[i].id_len > 0 &&
		     memcmp(keys[i].id, key->info->id, keys[i].id_len) != 0) ||
		    strcmp(keys[i].label != NULL ? keys[i].label : "", key->info->label) != 0)
			continue;
		lk = &keys[i];
		break;
	}
	if (lk == NULL) {
		psm_error_set("libp11 does not see key %s", key->info->uri);
		r = PSM_ERR_NOT_FOUND;
		goto out;
	}
	if ((key->pkey = PKCS11_get_private_key(lk)) == NULL) {
		r = psm_error_from_openssl(PSM_ERR_TOKEN, "making the token key usable");
		goto out;
	}
	*out = key;
	key = NULL; /* transferred */
	r = 0;
out:
	/* the URI's pin source stays with the key (context logins) */
	p11->pin_source = saved;
	p11_kit_uri_free(uri);
	psm_key_free(key);
	ERR_clear_error();
	return r;
}

EVP_PKEY *
psm_key_pkey(const psm_key *key)
{
	return key->pkey;
}

X509 *
psm_key_cert(const psm_key *key)
{
	return key->info != NULL ? key->info->cert : NULL;
}

X509 *
psm_p11_key_enc_cert(psm_p11 *p11, const psm_key *key)
{
	const psm_key_info *me = key->info;
	STACK_OF(X509) *same = NULL;
	X509 *found = NULL;
	int i;

	if (me == NULL || me->cert == NULL ||
	    psm_p11_token_same_subject(p11, me->slot, me->cert, &same) < 0)
		return NULL;
	for (i = 0; found == NULL && i < sk_X509_num(same); i++) {
		X509 *c = sk_X509_value(same, i);
		psm_certinfo *ci = NULL;
		uint32_t ku = X509_get_key_usage(c);
		size_t a, b;

		if (X509_cmp(c, me->cert) == 0 || !(ku & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)) ||
		    X509_cmp_current_time(X509_get0_notAfter(c)) < 0)
			continue;   /* the signer itself, not for encryption, or retired */
		if (psm_certinfo_new(c, &ci) < 0)
			continue;
		for (a = 0; found == NULL && ci->emails[a] != NULL; a++)
			for (b = 0; found == NULL && me->emails != NULL && me->emails[b] != NULL; b++)
				if (strcasecmp(ci->emails[a], me->emails[b]) == 0 && X509_up_ref(c))
					found = c;
		psm_certinfo_free(ci);
	}
	sk_X509_pop_free(same, X509_free);
	ERR_clear_error();
	return found;
}

const psm_key_info *
psm_key_get_info(const psm_key *key)
{
	return key->info;
}

void
psm_key_free(psm_key *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey);
	if (key->lp != NULL && key->lp->pin_source == key->own_source)
		key->lp->pin_source = NULL;
	psm_pin_source_free(key->own_source);
	psm_key_list_free(key->list);
	free(key);
}
