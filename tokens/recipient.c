/* p11smime: the tokens' side of encryption: which token key opens a
 * message (decryption), and which certificate on a token to encrypt to. */
#include "config.h"

#include "p11-int.h"
#include "recipient.h"
#include "error.h"

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

int
psm_p11_find_decryption_key(psm_p11 *p11, const char *token_uri, psm_cert_match_fn match,
                            void *ud, char **uri_out, X509 **cert_out)
{
	psm_key_list *list = NULL;
	size_t i;
	int r;

	*uri_out = NULL;
	*cert_out = NULL;
	if ((r = list_public(p11, token_uri, &list)) < 0)
		return r;
	for (i = 0; i < psm_key_list_count(list); i++) {
		const psm_key_info *k = psm_key_list_get(list, i);

		/* expired certificates count: years-old mail must still open */
		if (k->cert == NULL || !match(ud, k->cert))
			continue;
		if (k->has_key && !(k->can_decrypt || k->can_derive || k->can_unwrap))
			continue;
		if (!k->has_key && k->id_len == 0)
			continue;       /* a certificate alone, nothing to pair it with */
		if ((*uri_out = key_uri(p11, k)) == NULL) {
			r = PSM_ERR_NOMEM;
			break;
		}
		*cert_out = X509_dup(k->cert);
		r = *cert_out != NULL ? 0 : PSM_ERR_NOMEM;
		break;
	}
	if (*uri_out == NULL && r == 0)
		r = PSM_ERR_NOT_FOUND;
	if (r < 0) {
		free(*uri_out);
		*uri_out = NULL;
		X509_free(*cert_out);
		*cert_out = NULL;
	}
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
