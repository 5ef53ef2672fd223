/* p11smime: chain building for the certificates sent with a signature. */
#include "config.h"

#include "chain.h"
#include "certinfo.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define MAX_CHAIN 10

static int
self_signed(X509 *x)
{
	return X509_check_issued(x, x) == X509_V_OK;
}

int
psm_chain_build(X509 *cert, STACK_OF(X509) *pool, STACK_OF(X509) **out)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *cur = cert;
	int depth, i;

	*out = NULL;
	if (chain == NULL)
		return PSM_ERR_NOMEM;
	for (depth = 0; depth < MAX_CHAIN && !self_signed(cur); depth++) {
		X509 *issuer = NULL;

		for (i = 0; pool != NULL && i < sk_X509_num(pool); i++) {
			X509 *c = sk_X509_value(pool, i);

			if (X509_cmp(c, cur) != 0 && X509_check_issued(c, cur) == X509_V_OK) {
				issuer = c;
				break;
			}
		}
		if (issuer == NULL || self_signed(issuer))
			break;
		if (!X509_up_ref(issuer) || !sk_X509_push(chain, issuer)) {
			sk_X509_pop_free(chain, X509_free);
			return PSM_ERR_NOMEM;
		}
		cur = issuer;
	}
	ERR_clear_error();
	*out = chain;
	return 0;
}

int
psm_chain_load_pem(const char *path, STACK_OF(X509) **pool)
{
	STACK_OF(X509_INFO) *infos = NULL;
	BIO *b = BIO_new_file(path, "r");
	int i, added = 0;

	if (*pool == NULL && (*pool = sk_X509_new_null()) == NULL) {
		BIO_free(b);
		return PSM_ERR_NOMEM;
	}
	if (b == NULL) {
		psm_error_set("cannot read %s: %s", path, strerror(errno));
		ERR_clear_error();
		return PSM_ERR_IO;
	}
	infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
	BIO_free(b);
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509 != NULL && sk_X509_push(*pool, xi->x509)) {
			xi->x509 = NULL; /* transferred */
			added++;
		}
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	ERR_clear_error();
	if (added == 0) {
		psm_error_set("%s: no certificate could be read from it (PEM expected)", path);
		return PSM_ERR_USAGE;
	}
	return 0;
}

/* Is top's issuer known: itself, one in pool, or an anchor? */
static int
reaches_root(X509 *top, STACK_OF(X509) *pool, X509_STORE *anchors)
{
	X509_STORE_CTX *ctx;
	X509 *issuer = NULL;
	int i, found = self_signed(top);

	for (i = 0; !found && pool != NULL && i < sk_X509_num(pool); i++)
		found = X509_check_issued(sk_X509_value(pool, i), top) == X509_V_OK;
	if (!found && anchors != NULL && (ctx = X509_STORE_CTX_new()) != NULL) {
		/* the anchors' lookups (the system's hashed folder) by name */
		if (X509_STORE_CTX_init(ctx, anchors, top, NULL) == 1)
			found = X509_STORE_CTX_get1_issuer(&issuer, ctx, top) == 1;
		X509_free(issuer);
		X509_STORE_CTX_free(ctx);
	}
	ERR_clear_error();
	return found;
}

static X509 *
chain_top(X509 *signer, STACK_OF(X509) *chain)
{
	return sk_X509_num(chain) > 0 ? sk_X509_value(chain, sk_X509_num(chain) - 1) : signer;
}

static int
rebuild(X509 *signer, STACK_OF(X509) *pool, STACK_OF(X509) **chain)
{
	sk_X509_pop_free(*chain, X509_free);
	*chain = NULL;
	return psm_chain_build(signer, pool, chain);
}

int
psm_chain_for_signer(X509 *signer, STACK_OF(X509) **pool, X509_STORE *anchors,
                     int (*more)(void *ud, STACK_OF(X509) **pool), void *more_ud,
                     const psm_aia_params *aia, STACK_OF(X509) **chain, char *missing,
                     size_t missing_len)
{
	char why[600] = "";
	char *subject, *issuer;
	int budget = PSM_AIA_MAX_FETCHES, added, r;

	*chain = NULL;
	missing[0] = '\0';
	if (*pool == NULL && (*pool = sk_X509_new_null()) == NULL)
		return PSM_ERR_NOMEM;
	if ((r = psm_chain_build(signer, *pool, chain)) < 0)
		return r;
	if (reaches_root(chain_top(signer, *chain), *pool, anchors))
		return 0;
	if (more != NULL && (r = more(more_ud, pool)) == 0)
		r = rebuild(signer, *pool, chain);
	if (r < 0)
		return r;
	/* each fetch may bring the next issuer up */
	while (!reaches_root(chain_top(signer, *chain), *pool, anchors) && aia != NULL &&
	       aia->enabled && budget > 0) {
		if ((added = psm_aia_complete(chain_top(signer, *chain), aia, *pool, &budget, why,
		                              sizeof(why))) < 0)
			return added;
		if (added == 0)
			break;
		if ((r = rebuild(signer, *pool, chain)) < 0)
			return r;
	}
	if (reaches_root(chain_top(signer, *chain), *pool, anchors))
		return 0;
	subject = psm_name_oneline(X509_get_subject_name(chain_top(signer, *chain)));
	issuer = psm_name_oneline(X509_get_issuer_name(chain_top(signer, *chain)));
	snprintf(missing, missing_len, "the certificate of %s, which issued %s, is on no token, "
	         "in no store and was not given%s%s", issuer != NULL ? issuer : "its issuer",
	         subject != NULL ? subject : "the signer's certificate", why[0] != '\0' ? "; " : "",
	         why);
	free(subject);
	free(issuer);
	return 0;
}
