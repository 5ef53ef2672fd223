/* p11smime: the tokens' side of encryption: which token key opens a
 * message (decryption), and which certificate on a token to encrypt to. */
#include "config.h"

#include "p11-int.h"
#include "recipient.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>

/* The key list as it looks without logging in anywhere: certificates are
 * public, and a PIN must not be spent on a token the message is not for. */
static int
list_public(psm_p11 *p11, const char *token_uri, psm_key_list **list)
{
	psm_pin_source *saved = p11->pin_source;
	int r;

	p11->pin_source = NULL;
	r = psm_p11_list_keys(p11, token_uri, list);
	p11->pin_source = saved;
	return r;
}

static char *
key_uri(psm_p11 *p11, const psm_key_info *k)
{
	size_t i;

	for (i = 0; i < p11->nslots; i++)
		if (&p11->slots[i].info == k->slot)
			return psm_uri_for_object(&p11->slots[i], CKO_PRIVATE_KEY, k->id, k->id_len,
			                          NULL);
	return NULL;
}

/* A key that can open the message: its certificate matches and it may
 * decrypt or derive (a certificate alone counts when it has an ID: its
 * key may be hidden until login). */
static int
usable(const psm_key_info *k, psm_cert_match_fn match, void *ud)
{
	/* expired certificates count: years-old mail must still open */
	if (k->cert == NULL || !match(ud, k->cert))
		return 0;
	if (k->has_key && !(k->can_decrypt || k->can_derive || k->can_unwrap))
		return 0;
	return k->has_key || k->id_len > 0;
}

/* Logging in to this token spends no PIN from the PIN source. */
static int
needs_no_pin(const psm_slot_info *t)
{
	return !t->login_required || t->protected_auth_path;
}

/* A wrong PIN now would cost this token dearly. */
static int
pin_trouble(const psm_slot_info *t)
{
	return t->pin_locked || t->pin_final_try || t->pin_count_low;
}

/* Which token's key opens the message, when keys on several tokens do.
 * A PIN source belongs to one token: a token that needs no PIN is taken
 * first; an interactive source is asked for the first token's PIN, by
 * name, the person choosing what to type; a fixed one (file:, fd:) may
 * only go to the one token with no PIN trouble, and when several qualify
 * nothing is tried: a guess would spend a try on a card. */
static const psm_key_info *
choose(psm_p11 *p11, const psm_key_info **c, size_t n)
{
	const psm_key_info *first_ok = NULL;
	size_t i, j, tokens = 0, ok_tokens = 0;
	char names[256] = "";

	for (i = 0; i < n; i++)
		if (needs_no_pin(c[i]->slot))
			return c[i];
	for (i = 0; i < n; i++) {
		for (j = 0; j < i && c[j]->slot != c[i]->slot; j++)
			;
		if (j < i)
			continue;       /* a token seen already */
		tokens++;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s'%s'",
		         names[0] != '\0' ? ", " : "", c[i]->slot->label);
		if (!pin_trouble(c[i]->slot)) {
			ok_tokens++;
			if (first_ok == NULL)
				first_ok = c[i];
		}
	}
	if (tokens == 1)
		return c[0];
	if (p11->pin_source != NULL && psm_pin_source_is_interactive(p11->pin_source))
		return first_ok != NULL ? first_ok : c[0];
	if (ok_tokens == 1)
		return first_ok;
	psm_error_set("keys on several tokens can open this message (%s); a PIN source is for "
	              "one token, and p11smime does not try it on the others: choose the token "
	              "with --token URI (see 'p11smime tokens')", names);
	return NULL;
}

int
psm_p11_find_decryption_key(psm_p11 *p11, const char *token_uri, psm_cert_match_fn match,
                            void *ud, char **uri_out, X509 **cert_out)
{
	psm_key_list *list = NULL;
	const psm_key_info **cands = NULL, *k;
	size_t i, n = 0;
	int r;

	*uri_out = NULL;
	*cert_out = NULL;
	if ((r = list_public(p11, token_uri, &list)) < 0)
		return r;
	if ((cands = calloc(psm_key_list_count(list) + 1, sizeof(*cands))) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < psm_key_list_count(list); i++)
		if (usable(psm_key_list_get(list, i), match, ud))
			cands[n++] = psm_key_list_get(list, i);
	if (n == 0) {
		r = PSM_ERR_NOT_FOUND;
		goto out;
	}
	if ((k = choose(p11, cands, n)) == NULL) {
		r = PSM_ERR_AMBIGUOUS;
		goto out;
	}
	if ((*uri_out = key_uri(p11, k)) == NULL || (*cert_out = X509_dup(k->cert)) == NULL) {
		free(*uri_out);
		*uri_out = NULL;
		r = PSM_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	free(cands);
	psm_key_list_free(list);
	return r;
}

int
psm_p11_find_encryption_certs(psm_p11 *p11, const char *email, STACK_OF(X509) **out)
{
	psm_key_list *list = NULL;
	size_t i, e;
	int r;

	*out = NULL;
	if ((r = psm_p11_list_public_for_email(p11, email, &list)) < 0)
		return r;
	if ((*out = sk_X509_new_null()) == NULL) {
		psm_key_list_free(list);
		return PSM_ERR_NOMEM;
	}
	for (i = 0; i < psm_key_list_count(list); i++) {
		const psm_key_info *k = psm_key_list_get(list, i);
		int match = 0;

		if (k->cert == NULL)
			continue;
		for (e = 0; k->emails != NULL && k->emails[e] != NULL; e++)
			if (strcasecmp(k->emails[e], email) == 0)
				match = 1;
		if (!match)
			continue;
		if (!X509_up_ref(k->cert))
			r = PSM_ERR_NOMEM;
		else if (!sk_X509_push(*out, k->cert)) {
			X509_free(k->cert);
			r = PSM_ERR_NOMEM;
		}
		if (r < 0)
			break;
	}
	psm_key_list_free(list);
	if (r < 0) {
		sk_X509_pop_free(*out, X509_free);
		*out = NULL;
	}
	return r;
}
