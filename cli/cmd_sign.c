/* p11smime sign: sign an RFC 5322 message with a key on a token. */
#include "config.h"

#include "cli.h"
#include "chain.h"
#include "progress.h"
#include "message.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

static const char sign_usage[] =
"Usage: p11smime sign [--key URI] [--opaque] [--digest sha256|sha384|sha512] [--pss]\n"
"                     [--certfile FILE]... [--anchors FILE]... [--no-aia]\n"
"                     [--require-chain] [--json] [-o OUT] [IN]\n"
"\n"
"Sign the RFC 5322 message IN (default: standard input) with a private key\n"
"on a token and write the signed message to OUT (default: standard output;\n"
"written only when signing succeeded). The routing headers (From, To,\n"
"Subject, Date, ...) stay outside; the body with its Content-* headers is\n"
"signed, after 8-bit text is made quoted-printable and binary data base64\n"
"so that the signature survives transport (RFC 8551 section 3.1).\n"
"\n"
"  --key URI        the pkcs11: URI of the signing key (see 'p11smime keys');\n"
"                   default: the token key whose certificate has the From: address\n"
"  --opaque         application/pkcs7-mime signed-data instead of multipart/signed\n"
"  --digest NAME    sha256, sha384 or sha512 (default: by key: SHA-256 for RSA and\n"
"                   P-256, SHA-384 for P-384, SHA-512 for P-521)\n"
"  --pss            RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys)\n"
"  --certfile FILE  intermediate CA certificates to send (PEM; repeatable);\n"
"                   CA certificates on the token are found by themselves, then\n"
"                   those in your store, then the issuer's AIA caIssuers URL\n"
"  --anchors FILE   roots the chain may end at (never sent), besides your\n"
"                   trusted certificates and the system store\n"
"  --no-aia         do not fetch a missing issuer from its caIssuers URL\n"
"  --require-chain  refuse to sign when the chain cannot be completed (by\n"
"                   default a warning says what is missing)\n"
"  --json           what was done (key, signer, digest, the chain sent) as one\n"
"                   JSON object on standard output (then -o OUT is needed); a\n"
"                   failure is one JSON object on standard error\n"
"  -o, --output OUT the output file\n";

int
psm_cli_open_input(const char *path, int *fd)
{
	if (path == NULL || strcmp(path, "-") == 0) {
		*fd = STDIN_FILENO;
		return 0;
	}
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		psm_error_set("cannot read %s: %s", path, strerror(errno));
		return PSM_ERR_IO;
	}
	return 0;
}

int
psm_cli_sign_settings(struct psm_cli *cli, const char **key_uri, psm_sign_params *sp)
{
	const psm_settings *st;
	int r;

	if ((r = psm_cli_settings(cli, &st)) < 0)
		return r;
	if (*key_uri == NULL)
		*key_uri = st->key;
	if (sp->digest == NULL)
		sp->digest = st->digest;
	return 0;
}

int
psm_cli_sign_option(struct psm_signer_setup *ss, psm_sign_params *sp, const char **key_uri,
                    int c, const char *arg)
{
	int r;

	switch (c) {
	case PSM_OPT_KEY: *key_uri = arg; return 1;
	case PSM_OPT_OPAQUE: sp->opaque = 1; return 1;
	case PSM_OPT_PSS: sp->pss = 1; return 1;
	case PSM_OPT_DIGEST:
		if (strcmp(arg, "sha256") != 0 && strcmp(arg, "sha384") != 0 &&
		    strcmp(arg, "sha512") != 0) {
			psm_error_set("--digest must be sha256, sha384 or sha512");
			return PSM_ERR_USAGE;
		}
		sp->digest = arg;
		return 1;
	case PSM_OPT_CERTFILE:
		return (r = psm_chain_load_pem(arg, &ss->pool)) < 0 ? r : 1;
	case PSM_OPT_REQUIRE_CHAIN: ss->require_chain = 1; return 1;
	default:
		return 0;
	}
}

void
psm_signer_setup_clear(struct psm_signer_setup *ss)
{
	psm_key_free(ss->key);
	sk_X509_pop_free(ss->pool, X509_free);
	sk_X509_pop_free(ss->chain, X509_free);
	X509_free(ss->enc_cert);
	free(ss->found_uri);
	free(ss->missing);
	memset(ss, 0, sizeof(*ss));
}

/* An ASN1_TIME in RFC 3339, for a person. */
static const char *
asn1_fmt(const ASN1_TIME *at, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(at, &tm) != 1)
		return "?";
	return psm_fmt_time(timegm(&tm), buf, len);
}

int
psm_cli_signer_load(struct psm_cli *cli, psm_p11 *p11, psm_msg *msg, const char *key_uri,
                    const struct psm_cli_trust *t, struct psm_signer_setup *ss,
                    psm_sign_params *sp)
{
	char missing[1024];
	int r;

	(void)cli;
	if (key_uri == NULL) {
		if (psm_msg_from(msg) == NULL) {
			psm_error_set("the message has no From: address to choose a key by; give --key");
			return PSM_ERR_USAGE;
		}
		if ((r = psm_p11_find_key_for_email(p11, psm_msg_from(msg), 1, &ss->found_uri)) < 0)
			return r;
		key_uri = ss->found_uri;
	}
	if ((r = psm_p11_load_key(p11, key_uri, &ss->key)) < 0)
		return r;
	if (psm_key_cert(ss->key) == NULL) {
		psm_error_set("the key %s has no certificate on its token; put it there with "
		              "'p11smime import-cert FILE'", key_uri);
		return PSM_ERR_NOT_FOUND;
	}
	if (!psm_key_get_info(ss->key)->can_sign) {
		psm_error_set("the key %s may not sign (it is for decryption only); choose a signing "
		              "key with --key (see 'p11smime keys')", key_uri);
		return PSM_ERR_KEY_USAGE;
	}
	if (sp->pss && psm_key_get_info(ss->key)->type != PSM_KEY_RSA) {
		psm_error_set("--pss needs an RSA key; %s is not one (leave --pss out)", key_uri);
		return PSM_ERR_USAGE;
	}
	/* a certificate out of its validity makes a signature nobody accepts:
	 * say so (the key may still be wanted, e.g. to test) */
	{
		const X509 *cert = psm_key_cert(ss->key);
		char when[32];

		if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
			fprintf(stderr, "p11smime: warning: the signing certificate expired on %s: "
			        "recipients will not accept this signature; renew it (p11smime csr) "
			        "or choose another key with --key (see 'p11smime keys')\n",
			        asn1_fmt(X509_get0_notAfter(cert), when, sizeof(when)));
		else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
			fprintf(stderr, "p11smime: warning: the signing certificate is not valid "
			        "before %s: recipients will not accept this signature yet (is this "
			        "computer's clock right?)\n",
			        asn1_fmt(X509_get0_notBefore(cert), when, sizeof(when)));
	}
	/* the chain: the issuers on the token and from --certfile, then,
	 * when that does not reach a root, the user's store, then AIA */
	if ((r = psm_p11_token_issuers(p11, psm_key_get_info(ss->key)->slot, psm_key_cert(ss->key),
	                               &ss->pool)) < 0 ||
	    (r = psm_chain_for_signer(psm_key_cert(ss->key), &ss->pool, t->xs, psm_cli_store_certs,
	                              t->store, &t->aia, &ss->chain, missing,
	                              sizeof(missing))) < 0)
		return r;
	if (missing[0] != '\0' && ss->require_chain) {
		psm_error_set("%s: recipients who lack it could not check the signature, and "
		              "--require-chain was given; import it with 'p11smime certs import "
		              "ISSUER.pem' or give it with --certfile", missing);
		return PSM_ERR_VERIFY;
	}
	if (missing[0] != '\0' && (ss->missing = strdup(missing)) == NULL)
		return PSM_ERR_NOMEM;
	if (missing[0] != '\0')
		fprintf(stderr, "p11smime: warning: %s: recipients who lack it cannot check the "
		        "signature; import it with 'p11smime certs import ISSUER.pem' or give it "
		        "with --certfile (--require-chain refuses to sign without it)\n", missing);
	sp->signer = psm_key_cert(ss->key);
	sp->chain = ss->chain;
	sp->enc_cert = ss->enc_cert = psm_p11_key_enc_cert(p11, ss->key);
	return 0;
}

void
psm_cli_signer_json(psm_json *j, const struct psm_signer_setup *ss, const psm_sign_params *sp,
                    const char *key_uri)
{
	char *subject = psm_name_oneline(X509_get_subject_name(psm_key_cert(ss->key)));
	int i;

	psm_json_key(j, "signer");
	psm_json_begin_object(j);
	psm_json_kv_string(j, "key", ss->found_uri != NULL ? ss->found_uri : key_uri);
	psm_json_kv_string(j, "subject", subject);
	psm_json_kv_string(j, "digest", sp->digest != NULL ? sp->digest
	                   : psm_default_digest(X509_get0_pubkey(psm_key_cert(ss->key))));
	psm_json_kv_bool(j, "pss", sp->pss);
	psm_json_kv_string(j, "form", sp->opaque ? "signed-data" : "multipart/signed");
	psm_json_key(j, "chain");
	psm_json_begin_array(j);
	for (i = 0; i < sk_X509_num(ss->chain); i++) {
		char *s = psm_name_oneline(X509_get_subject_name(sk_X509_value(ss->chain, i)));

		psm_json_string(j, s);
		free(s);
	}
	psm_json_end_array(j);
	psm_json_kv_bool(j, "chain_complete", ss->missing == NULL);
	psm_json_kv_string(j, "chain_missing", ss->missing);
	psm_json_end_object(j);
	free(subject);
}

int
psm_cmd_sign(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		PSM_CLI_SIGN_OPTIONS,
		{ "anchors", required_argument, NULL, PSM_OPT_ANCHORS },
		{ "no-aia", no_argument, NULL, PSM_OPT_NO_AIA },
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *key_uri = NULL, *outpath = NULL, *inpath = NULL;
	struct psm_cli_trust t;
	struct psm_signer_setup ss;
	psm_sign_params sp;
	psm_p11 *p11 = NULL;
	psm_msg *msg = NULL;
	psm_outfile *out = NULL;
	int c, fd = -1, r, json = 0;

	memset(&sp, 0, sizeof(sp));
	memset(&ss, 0, sizeof(ss));
	psm_cli_trust_init(&t);
	while ((c = getopt_long(argc, argv, "+ho:", opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg))
			continue;
		/* the anchors a chain may end at, and --no-aia */
		if ((c == PSM_OPT_ANCHORS || c == PSM_OPT_NO_AIA) &&
		    psm_cli_trust_option(&t, c, optarg) < 0) {
			sk_X509_pop_free(ss.pool, X509_free);
			return psm_cli_usage_error("sign", "%s", t.err);
		}
		if (c == PSM_OPT_ANCHORS || c == PSM_OPT_NO_AIA)
			continue;
		if ((r = psm_cli_sign_option(&ss, &sp, &key_uri, c, optarg)) < 0)
			goto fail;
		if (r > 0)
			continue;
		switch (c) {
		case 'o': outpath = optarg; break;
		case PSM_OPT_JSON: json = 1; psm_cli_json_errors(); break;
		case 'h':
			fputs(sign_usage, stdout);
			return PSM_EXIT_OK;
		default:
			sk_X509_pop_free(ss.pool, X509_free);
			return psm_cli_usage_error("sign", "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (optind + 1 < argc) {
		sk_X509_pop_free(ss.pool, X509_free);
		return psm_cli_usage_error("sign", "unexpected argument '%s'", argv[optind + 1]);
	}
	inpath = optind < argc ? argv[optind] : NULL;
	if (json && (outpath == NULL || strcmp(outpath, "-") == 0)) {
		sk_X509_pop_free(ss.pool, X509_free);
		return psm_cli_usage_error("sign", "--json puts the result on standard output: "
		                           "give the signed message a file with -o OUT");
	}
	if ((r = psm_cli_sign_settings(cli, &key_uri, &sp)) < 0)
		goto fail;
	if (key_uri != NULL && (r = psm_p11_check_uri(key_uri)) < 0)
		goto fail;
	if ((r = psm_cli_open_input(inpath, &fd)) < 0 || (r = psm_msg_open(fd, &msg)) < 0)
		goto fail;
	if ((r = psm_cli_trust_open(cli, &t, NULL)) < 0 || (r = psm_cli_open_p11(cli, &p11)) < 0 ||
	    (r = psm_p11_scan(p11)) < 0)
		goto fail;
	if ((r = psm_cli_signer_load(cli, p11, msg, key_uri, &t, &ss, &sp)) < 0)
		goto fail;
	psm_cli_progress_start(msg, fd, "signing", json);
	if ((r = psm_outfile_open(outpath, 0, &out)) < 0 ||
	    (r = psm_msg_sign(msg, psm_key_pkey(ss.key), &sp, out)) < 0 ||
	    (r = psm_outfile_commit(out)) < 0)
		goto fail;
	psm_cli_progress_done();
	if (json) {
		psm_json j;

		psm_json_init(&j, stdout);
		psm_json_begin_object(&j);
		psm_json_kv_bool(&j, "signed", 1);
		psm_json_kv_string(&j, "output", outpath);
		psm_cli_signer_json(&j, &ss, &sp, key_uri);
		psm_json_end_object(&j);
	}
	r = 0;
fail:
	psm_outfile_free(out);
	psm_msg_free(msg);
	psm_signer_setup_clear(&ss);
	psm_p11_free(p11);
	psm_cli_trust_clear(&t);
	if (fd > STDIN_FILENO)
		close(fd);
	return r < 0 ? psm_cli_fail(r) : PSM_EXIT_OK;
}
