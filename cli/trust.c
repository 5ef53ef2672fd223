/* p11smime: the options that say whom to trust and how to check, shared
 * by verify, decrypt, inspect, encrypt and sign-encrypt. */
#include "config.h"

#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
psm_cli_trust_init(struct psm_cli_trust *t)
{
	memset(t, 0, sizeof(*t));
	t->rp.policy = -1;          /* not given: the settings file's, or soft */
	t->aia.enabled = 1;
}

static int __attribute__((format(printf, 2, 3)))
bad(struct psm_cli_trust *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return -1;
}

int
psm_cli_trust_option(struct psm_cli_trust *t, int c, const char *arg)
{
	switch (c) {
	case PSM_OPT_ANCHORS:
		if (t->nanchors == sizeof(t->anchors) / sizeof(t->anchors[0]))
			return bad(t, "too many --anchors");
		t->anchors[t->nanchors++] = arg;
		return 1;
	case PSM_OPT_AT:
		if (psm_cli_parse_time(arg, &t->at) < 0)
			return bad(t, "--at wants RFC 3339 (2020-02-19T20:39:07Z) or @EPOCH, not '%s'",
			           arg);
		return 1;
	case PSM_OPT_ALLOW_WEAK:
		t->allow_weak = 1;
		return 1;
	case PSM_OPT_NO_FROM_CHECK:
		t->no_from_check = 1;
		return 1;
	case PSM_OPT_REVOCATION:
		if ((t->rp.policy = psm_revocation_policy_parse(arg)) < 0)
			return bad(t, "%s", psm_error_detail());
		return 1;
	case PSM_OPT_CRL:
		if (t->ncrls == sizeof(t->crls) / sizeof(t->crls[0]))
			return bad(t, "too many --crl");
		t->crls[t->ncrls++] = arg;
		return 1;
	case PSM_OPT_NO_AIA:
		t->aia.enabled = 0;
		return 1;
	default:
		return 0;
	}
}

/* psm_verify_params.more_certs: the store's certificates, then the CA
 * certificates on the tokens (the modules opened only now, when a chain
 * could not be built from the message: most runs never need them). */
static int
more_certs(void *ud, STACK_OF(X509) **more)
{
	struct psm_cli_trust *t = ud;
	size_t i;
	int r;

	if ((r = psm_cli_store_certs(t->store, more)) < 0)
		return r;
	if (t->p11 == NULL && t->cli != NULL && !t->p11_tried) {
		t->p11_tried = 1;
		if (psm_cli_open_p11(t->cli, &t->own_p11) < 0 || psm_p11_scan(t->own_p11) < 0) {
			psm_p11_free(t->own_p11);
			t->own_p11 = NULL;
		}
		t->p11 = t->own_p11;
	}
	for (i = 0; t->p11 != NULL && i < psm_p11_slot_count(t->p11); i++) {
		const psm_slot_info *s = psm_p11_slot(t->p11, i);
		STACK_OF(X509) *certs = NULL;

		if (!s->token_present || s->duplicate || psm_p11_token_certs(t->p11, s, &certs) < 0)
			continue;
		if (*more == NULL) {
			*more = certs;
			continue;
		}
		while (sk_X509_num(certs) > 0) {
			X509 *x = sk_X509_pop(certs);

			if (!sk_X509_push(*more, x))
				X509_free(x);
		}
		sk_X509_free(certs);
	}
	psm_error_clear();
	return 0;
}

int
psm_cli_trust_open(struct psm_cli *cli, struct psm_cli_trust *t, psm_verify_params *vp)
{
	const psm_settings *settings;
	int r;

	t->cli = cli;
	if ((r = psm_cli_settings(cli, &settings)) < 0 ||
	    (r = psm_revocation_params_load(&t->rp, settings->revocation, t->crls, t->ncrls)) < 0 ||
	    (r = psm_cli_setting_anchors(cli, t->anchors, &t->nanchors,
	                                 sizeof(t->anchors) / sizeof(t->anchors[0]))) < 0 ||
	    (r = psm_store_open(NULL, &t->store)) < 0 ||
	    (r = psm_anchors_load(t->store, t->anchors, t->nanchors, 1, &t->xs)) < 0)
		return r;
	snprintf(t->crl_dir, sizeof(t->crl_dir), "%s/crls", psm_store_path(t->store));
	t->rp.cache_dir = t->crl_dir;
	t->rp.at = t->at;
	snprintf(t->aia_dir, sizeof(t->aia_dir), "%s/aia", psm_store_path(t->store));
	t->aia.cache_dir = t->aia_dir;
	if (vp != NULL) {
		vp->anchors = t->xs;
		vp->at = t->at;
		vp->allow_weak = t->allow_weak;
		vp->no_from_check = t->no_from_check;
		vp->more_certs = more_certs;
		vp->more_ud = t;
		vp->revocation = &t->rp;
		vp->aia = &t->aia;
	}
	return 0;
}

void
psm_cli_trust_clear(struct psm_cli_trust *t)
{
	sk_X509_CRL_pop_free(t->rp.crls, X509_CRL_free);
	psm_p11_free(t->own_p11);
	X509_STORE_free(t->xs);
	psm_store_free(t->store);
	memset(t, 0, sizeof(*t));
}
