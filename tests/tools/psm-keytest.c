/* psm-keytest: load a token key through libp11smime and sign with it.
 *
 * Usage: psm-keytest [--module PATH] [--pin-source SRC] [--count N] KEY-URI
 *        psm-keytest ... --cms IN --out OUT [--opaque] [--pss] [--digest D] KEY-URI
 * Signs a fixed message N times (default 2) with the key's EVP_PKEY (the
 * private operation runs on the token) and verifies each signature with
 * the paired certificate; or makes a CMS SignedData (DER) of IN's bytes.
 * Exit 0 on success, 3 on a library error (its sentence on stderr), 1 when
 * a signature does not verify, 2 on usage.
 */
#include "config.h"

#include "p11smime.h"
#include "cms_sign.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

static int
sign_once(EVP_PKEY *pkey, X509 *cert, int n)
{
	static const unsigned char msg[] = "p11smime key test";
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = 0;

	if (md == NULL)
		return 0;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)) != 1) {
		fprintf(stderr, "psm-keytest: signature %d failed on the token\n", n);
		ERR_print_errors_fp(stderr);
		goto out;
	}
	EVP_MD_CTX_reset(md);
	if (cert == NULL) {
		ok = 1;
		goto out;
	}
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)) != 1 ||
	    EVP_DigestVerify(md, sig, siglen, msg, sizeof(msg)) != 1) {
		fprintf(stderr, "psm-keytest: signature %d does not verify\n", n);
		goto out;
	}
	ok = 1;
out:
	EVP_MD_CTX_free(md);
	return ok;
}

static int
cms_sign_file(psm_key *key, const char *in, const char *outp, psm_sign_params *sp)
{
	BIO *bin = BIO_new_file(in, "rb"), *bout = BIO_new_file(outp, "wb"), *content = NULL;
	psm_cms_signer *s = NULL;
	char buf[65536];
	int n, r = PSM_ERR_IO;

	if (bin == NULL || bout == NULL)
		goto out;
	sp->signer = psm_key_cert(key);
	if ((r = psm_cms_signer_new(psm_key_pkey(key), sp, bout, &s, &content)) < 0)
		goto out;
	while ((n = BIO_read(bin, buf, sizeof(buf))) > 0) {
		if (BIO_write(content, buf, n) != n) {
			r = PSM_ERR_IO;
			goto out;
		}
	}
	r = psm_cms_signer_finish(s, bout);
out:
	psm_cms_signer_free(s);
	BIO_free(bin);
	BIO_free(bout);
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "pin-source", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "cms", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "opaque", no_argument, NULL, 'O' },
		{ "pss", no_argument, NULL, 'P' },
		{ "digest", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	const char *module = NULL, *pin_spec = NULL, *cms_in = NULL, *cms_out = NULL;
	psm_sign_params sp;
	psm_pin_source *pin = NULL;
	psm_p11 *p11 = NULL;
	psm_key *key = NULL;
	int c, i, count = 2, r, rc = 3;

	memset(&sp, 0, sizeof(sp));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cms_in = optarg; break;
		case 'o': cms_out = optarg; break;
		case 'O': sp.opaque = 1; break;
		case 'P': sp.pss = 1; break;
		case 'd': sp.digest = optarg; break;
		case 'm': module = optarg; break;
		case 'p': pin_spec = optarg; break;
		case 'n': count = atoi(optarg); break;
		default: return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: psm-keytest [--module PATH] [--pin-source SRC] [--count N] URI\n");
		return 2;
	}
	if ((pin_spec != NULL && (r = psm_pin_source_parse(pin_spec, &pin)) < 0) ||
	    (r = psm_p11_open(module, &p11)) < 0)
		goto fail;
	psm_p11_set_pin_source(p11, pin);
	if ((r = psm_p11_load_key(p11, argv[optind], &key)) < 0)
		goto fail;
	if (cms_in != NULL) {
		if (cms_out == NULL || (r = cms_sign_file(key, cms_in, cms_out, &sp)) < 0)
			goto fail;
		rc = 0;
		goto out;
	}
	for (i = 1; i <= count; i++) {
		if (!sign_once(psm_key_pkey(key), psm_key_cert(key), i)) {
			rc = 1;
			goto out;
		}
	}
	printf("%d signatures made and verified with %s%s\n", count, psm_key_get_info(key)->label,
	       psm_key_get_info(key)->always_authenticate ? " (always-authenticate)" : "");
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "psm-keytest: %s\n", *psm_error_detail() ? psm_error_detail()
	        : psm_strerror(r));
out:
	psm_key_free(key);
	psm_p11_free(p11);
	psm_pin_source_free(pin);
	return rc;
}
