/* p11smime: chain building for the certificates sent with a signature. */
#include "config.h"

#include "chain.h"
#include "error.h"

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
	if (b != NULL)
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
