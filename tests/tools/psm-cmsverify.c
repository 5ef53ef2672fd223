/* psm-cmsverify: check a detached CMS signature over a file with the
 * library's streaming verifier (no MIME). For tests of core/cms_verify.
 *
 * Usage: psm-cmsverify --anchors PEM --content FILE --sig DER
 *                      [--micalg NAME] [--from ADDR] [--no-from-check] [--at EPOCH]
 *                      [--allow-weak]
 * Exit 0 valid, 1 invalid (the reason on stderr), 2 malformed input.
 */
#include "config.h"

#include "cms_verify.h"
#include "error.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "anchors", required_argument, NULL, 'a' },
		{ "content", required_argument, NULL, 'c' },
		{ "sig", required_argument, NULL, 's' },
		{ "micalg", required_argument, NULL, 'm' },
		{ "from", required_argument, NULL, 'f' },
		{ "no-from-check", no_argument, NULL, 'n' },
		{ "at", required_argument, NULL, 't' },
		{ "allow-weak", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	const char *anchors = NULL, *content = NULL, *sig = NULL, *micalg = NULL;
	psm_verify_params p;
	psm_verify_result *res = NULL;
	psm_verifier *v = NULL;
	X509_STORE *store = X509_STORE_new();
	unsigned char buf[65536], *der = NULL;
	size_t n, dlen = 0;
	FILE *f;
	int c, r, rc = 2;

	memset(&p, 0, sizeof(p));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': anchors = optarg; break;
		case 'c': content = optarg; break;
		case 's': sig = optarg; break;
		case 'm': micalg = optarg; break;
		case 'f': p.from = optarg; break;
		case 'n': p.no_from_check = 1; break;
		case 't': p.at = (time_t)strtoll(optarg, NULL, 10); break;
		case 'w': p.allow_weak = 1; break;
		default: return 2;
		}
	}
	if (anchors == NULL || content == NULL || sig == NULL || store == NULL ||
	    X509_STORE_load_file(store, anchors) != 1)
		goto out;
	p.anchors = store;
	if (psm_verifier_new(micalg, &v) < 0 || (f = fopen(content, "rb")) == NULL)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		psm_verifier_update(v, buf, n);
	fclose(f);
	if ((f = fopen(sig, "rb")) == NULL)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		unsigned char *g = realloc(der, dlen + n);

		if (g == NULL)
			break;
		der = g;
		memcpy(der + dlen, buf, n);
		dlen += n;
	}
	fclose(f);
	if ((r = psm_verifier_finish(v, der, dlen, &p, &res)) < 0) {
		fprintf(stderr, "psm-cmsverify: %s\n", psm_error_detail());
		goto out;
	}
	printf("signer: %s\nissuer: %s\nanchor: %s\ndigest: %s\nsignature: %s\n",
	       res->signer_subject ? res->signer_subject : "-",
	       res->signer_issuer ? res->signer_issuer : "-",
	       res->anchor_subject ? res->anchor_subject : "-", res->digest, res->signature_alg);
	if (!res->valid)
		fprintf(stderr, "psm-cmsverify: %s\n", res->failure);
	rc = res->valid ? 0 : 1;
out:
	psm_verify_result_free(res);
	psm_verifier_free(v);
	X509_STORE_free(store);
	free(der);
	return rc;
}
