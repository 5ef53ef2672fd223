/* p11smime decrypt: open an encrypted message with a key on a token, and
 * check a signature inside. */
#include "config.h"

#include "cli.h"
#include "progress.h"
#include "message.h"
#include "recipient.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static const char decrypt_usage[] =
"Usage: p11smime decrypt [--key URI | --token URI] [--anchors FILE]... [--at TIME] [--allow-weak]\n"
"                        [--require-authenticated] [--revocation off|soft|hard] [--crl FILE]...\n"
"                        [--no-aia] [--no-from-check] [--keep-signed] [--json] [-o OUT] [IN]\n"
"\n"
"Decrypt the S/MIME message IN (default: standard input) with a private key\n"
"on a token and write the message with its decrypted body to OUT (default:\n"
"standard output). The key is found by itself: each recipient named in the\n"
"message is matched against the certificates on all tokens, retired\n"
"key-management keys included. Nothing is written unless decryption\n"
"succeeded and, for AES-GCM, the content was shown to be unchanged.\n"
"A signature inside is checked in the same step (as 'p11smime verify'),\n"
"and then the message it signed is written (the routing headers outside,\n"
"the signed content inside), as a mail program shows it.\n"
"\n"
"  --key URI        use this key (see 'p11smime keys')\n"
"  --token URI      look for the key on this token only (when the message is for\n"
"                   keys on several tokens and the PIN is for one of them)\n"
"  --anchors FILE   trust anchors for an inner signature (PEM; repeatable)\n"
"  --at TIME        judge an inner signature as of TIME\n"
"  --allow-weak     accept an inner SHA-1 signature\n"
"  --no-from-check  an inner signature on a message without From: is not a\n"
"                   failure (you check the signer's address yourself)\n"
"  --revocation off|soft|hard, --crl FILE\n"
"                   revocation checks of an inner signer (see 'p11smime verify --help')\n"
"  --no-aia         do not fetch a missing issuer of an inner signer from the URL\n"
"                   its certificate names (AIA caIssuers)\n"
"  --require-authenticated\n"
"                   fail (exit 1) when the content is neither AES-GCM nor covered\n"
"                   by a valid signature: AES-CBC alone does not detect changes\n"
"  --keep-signed    write a signed message inside as it is (still signed), for\n"
"                   a mail program that shows the signature itself\n"
"  --json           the result as JSON on standard output (content only with -o)\n"
"  -o, --output OUT the output file\n";

struct finder {
	psm_p11 *p11;
	const char *key_uri;
	const char *token_uri;
	psm_key *key;
	X509 *cert;
	char *uri;
};

static int
names_cert(void *ud, X509 *cert)
{
	return psm_cms_names_recipient(ud, cert);
}

static int
find_key(void *ud, CMS_ContentInfo *hdr, EVP_PKEY **pkey, X509 **cert)
{
	struct finder *f = ud;
	const char *uri = f->key_uri;
	int r;

	if (uri == NULL) {
		r = psm_p11_find_decryption_key(f->p11, f->token_uri, names_cert, hdr, &f->uri, &f->cert);
		if (r == PSM_ERR_NOT_FOUND) {
			char *who = psm_cms_recipients_describe(hdr);

			psm_error_set("no key on the tokens can open this message (it is encrypted "
			              "for: %s): insert the token that holds one of these keys "
			              "('p11smime keys' lists the keys seen)", who != NULL ? who : "?");
			free(who);
			return PSM_ERR_VERIFY;
		}
		if (r < 0)
			return r;
		uri = f->uri;
	}
	if ((r = psm_p11_load_key(f->p11, uri, &f->key)) < 0)
		return r;
	if (f->cert == NULL && psm_key_cert(f->key) != NULL)
		f->cert = X509_dup(psm_key_cert(f->key));
	if (f->cert != NULL && !psm_cms_names_recipient(hdr, f->cert)) {
		char *who = psm_cms_recipients_describe(hdr);

		psm_error_set("the message is not encrypted for the key %s (it is for: %s): leave out "
		              "--key and decrypt finds the key", uri, who != NULL ? who : "?");
		free(who);
		return PSM_ERR_VERIFY;
	}
	if (f->uri == NULL && (f->uri = strdup(uri)) == NULL)
		return PSM_ERR_NOMEM;
	*pkey = psm_key_pkey(f->key);
	*cert = f->cert;
	return 0;
}

/* The decrypted message is itself signed: check it, as verify would,
 * writing the message it carries to unwrapped (NULL: keep it signed). */
static int
verify_inner(psm_outfile *out, const psm_verify_params *vp0, psm_store *store,
             psm_outfile *unwrapped, psm_verify_result **res, char **from)
{
	psm_verify_params vp = *vp0;
	psm_msg *m = NULL;
	int fd = -1, r;

	*res = NULL;
	if ((r = psm_outfile_reread(out, &fd)) < 0)
		goto out;
	if (psm_msg_open(fd, &m) < 0) {
		r = 0;          /* not a message inside: nothing to check */
		goto out;
	}
	if (psm_msg_kind(m) != PSM_MSG_SIGNED) {
		r = 0;
		goto out;
	}
	vp.from = psm_msg_from(m);
	if (vp.from != NULL && (*from = strdup(vp.from)) == NULL) {
		r = PSM_ERR_NOMEM;
		goto out;
	}
	if ((r = unwrapped != NULL ? psm_msg_verify_unwrap(m, &vp, unwrapped, res)
	                           : psm_msg_verify(m, &vp, NULL, res)) < 0)
		goto out;
	psm_cli_verify_summary(*res, vp.from);
	if ((*res)->valid)
		psm_store_remember_signer(store, (*res)->signer, (*res)->capabilities,
		                          (*res)->capabilities_len, (*res)->path_cas);
out:
	psm_msg_free(m);
	if (fd >= 0)
		close(fd);
	return r;
}

/* What was decrypted, for whom, how: on stderr, and as JSON on stdout. */
static void
report(const struct finder *f, const psm_decrypt_info *info, const psm_verify_result *res,
       const char *inner_from, int json, int authentic)
{
	{
		char subject[256] = "?";

		if (f->cert != NULL)
			X509_NAME_oneline(X509_get_subject_name(f->cert), subject, sizeof(subject));
		fprintf(stderr, "p11smime: decrypted\n  for:         %s\n  key:         %s\n"
		        "  content:     %s, %s\n", subject, f->uri, info->cipher,
		        info->authenticated ? "authenticated (unchanged since it was encrypted)"
		        : "NOT authenticated by the encryption");
	}
	if (info->legacy)
		fprintf(stderr, "p11smime: warning: %s is a legacy cipher, kept only to read old "
		        "mail\n", info->cipher);
	if (!authentic)
		fprintf(stderr, "p11smime: warning: nothing shows this content is unchanged (%s "
		        "without a valid signature); treat links and images in it with care\n",
		        info->cipher);
	if (json) {
		psm_json j;

		psm_json_init(&j, stdout);
		psm_json_begin_object(&j);
		psm_json_kv_bool(&j, "decrypted", 1);
		psm_json_kv_string(&j, "key", f->uri);
		psm_json_kv_string(&j, "cipher", info->cipher);
		psm_json_kv_string(&j, "key_management", info->key_transport);
		psm_json_kv_bool(&j, "authenticated", info->authenticated);
		psm_json_kv_bool(&j, "legacy_cipher", info->legacy);
		psm_json_key(&j, "signature");
		if (res != NULL)
			psm_cli_verify_json(&j, res, inner_from);
		else
			psm_json_null(&j);
		psm_json_end_object(&j);
	}
}

int
psm_cmd_decrypt(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "key", required_argument, NULL, 'k' },
		{ "token", required_argument, NULL, PSM_OPT_TOKEN },
		PSM_CLI_CHAIN_OPTIONS,
		PSM_CLI_TIME_OPTIONS,
		{ "require-authenticated", no_argument, NULL, 'A' },
		{ "keep-signed", no_argument, NULL, PSM_OPT_KEEP_SIGNED },
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *outpath = NULL, *inpath;
	struct psm_cli_trust t;
	struct finder f;
	psm_decrypt_info info;
	psm_verify_params vp;
	psm_verify_result *res = NULL;
	psm_p11 *p11 = NULL;
	psm_msg *msg = NULL;
	psm_outfile *out = NULL, *unwrapped = NULL, *result;
	char *inner_from = NULL;
	int c, k, json = 0, require_auth = 0, keep_signed = 0, fd = -1, r, rc, authentic;

	memset(&f, 0, sizeof(f));
	memset(&vp, 0, sizeof(vp));
	memset(&info, 0, sizeof(info));
	psm_cli_trust_init(&t);
	while ((c = getopt_long(argc, argv, "+ho:", opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg))
			continue;
		if ((k = psm_cli_trust_option(&t, c, optarg)) < 0)
			return psm_cli_usage_error("decrypt", "%s", t.err);
		if (k > 0)
			continue;
		switch (c) {
		case 'k': f.key_uri = optarg; break;
		case PSM_OPT_TOKEN: f.token_uri = optarg; break;
		case 'A': require_auth = 1; break;
		case PSM_OPT_KEEP_SIGNED: keep_signed = 1; break;
		case PSM_OPT_JSON: json = 1; psm_cli_json_errors(); break;
		case 'o': outpath = optarg; break;
		case 'h':
			fputs(decrypt_usage, stdout);
			return PSM_EXIT_OK;
		default:
			return psm_cli_usage_error("decrypt", "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (optind + 1 < argc)
		return psm_cli_usage_error("decrypt", "unexpected argument '%s'", argv[optind + 1]);
	inpath = optind < argc ? argv[optind] : NULL;
	if ((f.key_uri != NULL && (r = psm_p11_check_uri(f.key_uri)) < 0) ||
	    (f.token_uri != NULL && (r = psm_p11_check_uri(f.token_uri)) < 0))
		goto fail;
	if ((r = psm_cli_trust_open(cli, &t, &vp)) < 0 ||
	    (r = psm_cli_open_input(inpath, &fd)) < 0 || (r = psm_msg_open(fd, &msg)) < 0)
		goto fail;
	if ((r = psm_cli_open_p11(cli, &p11)) < 0 || (r = psm_p11_scan(p11)) < 0)
		goto fail;
	f.p11 = p11;
	t.p11 = p11;        /* CA certificates for an inner signer's chain */
	/* the output is a temporary file until everything checked */
	psm_cli_progress_start(msg, fd, "decrypting", json);
	if ((r = psm_outfile_open(outpath, PSM_OUTFILE_PRIVATE, &out)) < 0 ||
	    (r = psm_msg_decrypt(msg, find_key, &f, psm_outfile_sink, out, &info)) < 0)
		goto fail;
	psm_cli_progress_done();
	/* a signed message inside is written as what it carries (a second
	 * temporary; the one not used vanishes) unless --keep-signed */
	if (!keep_signed && (!json || outpath != NULL) &&
	    (r = psm_outfile_open(outpath, PSM_OUTFILE_PRIVATE, &unwrapped)) < 0)
		goto fail;
	if ((r = verify_inner(out, &vp, t.store, unwrapped, &res, &inner_from)) < 0)
		goto fail;
	result = res != NULL && unwrapped != NULL ? unwrapped : out;
	authentic = info.authenticated || (res != NULL && res->valid);
	if (res != NULL && !res->valid) {
		report(&f, &info, res, inner_from, json, authentic);
		rc = PSM_EXIT_CHECK_FAILED;     /* a bad signature: nothing is released */
		goto out;
	}
	if (require_auth && !authentic) {
		report(&f, &info, res, inner_from, json, authentic);
		fprintf(stderr, "p11smime: the content is not authenticated and "
		        "--require-authenticated was given: nothing written\n");
		rc = PSM_EXIT_CHECK_FAILED;
		goto out;
	}
	/* written first: a failure to write is then the only line */
	if ((!json || outpath != NULL) && (r = psm_outfile_commit(result)) < 0)
		goto fail;
	report(&f, &info, res, inner_from, json, authentic);
	rc = PSM_EXIT_OK;
	goto out;
fail:
	rc = psm_cli_fail(r);
out:
	psm_verify_result_free(res);
	free(inner_from);
	psm_outfile_free(out);
	psm_outfile_free(unwrapped);
	psm_key_free(f.key);
	X509_free(f.cert);
	free(f.uri);
	psm_msg_free(msg);
	psm_p11_free(p11);
	psm_cli_trust_clear(&t);
	if (fd > STDIN_FILENO)
		close(fd);
	return rc;
}
