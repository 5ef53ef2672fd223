/* p11smime verify: check a signed message and say, at a glance, who signed. */
#include "config.h"

#include "cli.h"
#include "message.h"
#include "output.h"
#include "progress.h"
#include "store.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static const char verify_usage[] =
"Usage: p11smime verify [--anchors FILE]... [--at TIME] [--allow-weak] [--json]\n"
"                       [--revocation off|soft|hard] [--crl FILE]... [--no-aia]\n"
"                       [--no-from-check]\n"
"                       [-o OUT] [IN]\n"
"\n"
"Check the signature of a signed message (multipart/signed or\n"
"application/pkcs7-mime signed-data). Exit 0 only for a valid signature by\n"
"a trusted, valid signer whose certificate carries the From: address (a\n"
"message without From: fails: nobody checked who signed it). The\n"
"signed content is written to OUT (default: standard output) only then.\n"
"A summary goes to standard error; the signer's certificate, and the CA\n"
"certificates on its path, are remembered in the certificate store for\n"
"encrypting to them later.\n"
"\n"
"  --anchors FILE  trust anchors (PEM; repeatable), in addition to the\n"
"                  certificates you trusted and the system's CA store\n"
"  --at TIME       judge the message as of TIME (2020-02-19T20:39:07Z or @EPOCH)\n"
"  --allow-weak    accept SHA-1 signatures (MD5 never)\n"
"  --no-from-check a message without From: is not a failure: for callers that\n"
"                  check the signer's address themselves (git, scripts); a\n"
"                  From: that the certificate lacks still fails\n"
"  --revocation off|soft|hard\n"
"                  check the signer's certificate with OCSP and CRLs: a revoked\n"
"                  one always fails; when nobody can tell, soft (the default)\n"
"                  warns and hard fails; off contacts nothing\n"
"  --crl FILE      a CRL (PEM or DER; repeatable), used before fetching one\n"
"  --no-aia        do not fetch a missing issuer's certificate from the URL\n"
"                  the certificate names (AIA caIssuers; fetched ones are kept\n"
"                  in the store for a week)\n""  --json          the result as JSON on standard output (content only with -o)\n"
"  -o, --output OUT the verified content\n";

/* RFC 3339 (with Z or an offset) or @EPOCH. */
int
psm_cli_parse_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;
	char *end;
	long off = 0;

	if (s[0] == '@') {
		long long v = strtoll(s + 1, &end, 10);

		if (*end != '\0' || end == s + 1)
			return -1;
		*out = (time_t)v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (p == NULL)
		return -1;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	           isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
	           isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '+')
			off = -off;
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	*out = timegm(&tm) + off;
	return 0;
}

/* The revocation line of a summary, and a warning when a valid result
 * stands on an unknown status (--revocation soft) because the responders
 * or distribution points named did not answer. */
static void
revocation_summary(const psm_revocation_result *rev, int valid, const char *what)
{
	const char *reason = psm_revocation_reason_name(rev->reason);
	char t[32];

	switch (rev->status) {
	case PSM_REV_GOOD:
		fprintf(stderr, "  revocation:  good: %s\n", rev->detail);
		break;
	case PSM_REV_REVOKED:
		fprintf(stderr, "  revocation:  REVOKED on %s%s%s%s: %s\n",
		        psm_fmt_time(rev->revoked_at, t, sizeof(t)), reason != NULL ? " (" : "",
		        reason != NULL ? reason : "", reason != NULL ? ")" : "", rev->detail);
		break;
	case PSM_REV_UNKNOWN:
		fprintf(stderr, "  revocation:  unknown: %s\n", rev->detail);
		if (valid && rev->sources > 0)
			fprintf(stderr, "p11smime: warning: nothing could tell whether %s is revoked; "
			        "accepted under --revocation soft (hard refuses)\n", what);
		break;
	default:
		break;
	}
}

int
psm_cli_store_certs(void *ud, STACK_OF(X509) **more)
{
	STACK_OF(X509) *sk = NULL;
	int which, r;

	for (which = 0; which < 2; which++) {
		if ((r = psm_store_list(ud, which, &sk, NULL)) < 0)
			return r;
		if (*more == NULL) {
			*more = sk;
			continue;
		}
		while (sk_X509_num(sk) > 0) {
			X509 *x = sk_X509_pop(sk);

			if (!sk_X509_push(*more, x))
				X509_free(x);
		}
		sk_X509_free(sk);
	}
	return 0;
}

const char *
psm_cli_signature_verdict(const psm_verify_result *res, char *buf, size_t len)
{
	const char *who = res->signer_emails != NULL && res->signer_emails[0] != NULL
	                  ? res->signer_emails[0] : res->signer_subject;

	if (res->valid)
		snprintf(buf, len, "signed by %s, trusted", who != NULL ? who : "?");
	else
		snprintf(buf, len, "NOT validly signed%s%s (%s)", who != NULL ? " by " : "",
		         who != NULL ? who : "", res->failure != NULL ? res->failure : "not valid");
	return buf;
}

void
psm_cli_verify_summary(const psm_verify_result *res, const char *from)
{
	char t[32];

	if (res->valid)
		fprintf(stderr, "p11smime: signature OK\n");
	else
		fprintf(stderr, "p11smime: signature NOT valid: %s\n", res->failure);
	if (res->signer_subject != NULL)
		fprintf(stderr, "  signed by:   %s\n", res->signer_subject);
	if (from != NULL && res->signer_subject != NULL)
		fprintf(stderr, "  from:        %s (%s)\n", from,
		        res->from_matches ? "matches the certificate" : "NOT in the certificate");
	if (res->anchor_subject != NULL)
		fprintf(stderr, "  trusted via: %s\n", res->anchor_subject);
	if (res->signing_time != 0)
		fprintf(stderr, "  signed at:   %s\n", psm_fmt_time(res->signing_time, t, sizeof(t)));
	if (res->digest != NULL)
		fprintf(stderr, "  algorithm:   %s, %s\n", res->digest, res->signature_alg);
	if (res->nested != NULL)
		fprintf(stderr, "  nested:      the signed content is itself %s: check it too "
		        "(verify or decrypt the content)\n", res->nested);
	revocation_summary(&res->revocation, res->valid, "the signer's certificate");
}

void
psm_cli_verify_json(psm_json *j, const psm_verify_result *res, const char *from)
{
	size_t i;

	psm_json_begin_object(j);
	psm_json_kv_bool(j, "valid", res->valid);
	psm_json_kv_string(j, "failure", res->failure);
	psm_json_kv_string(j, "signer", res->signer_subject);
	psm_json_kv_string(j, "issuer", res->signer_issuer);
	psm_json_key(j, "signer_emails");
	psm_json_begin_array(j);
	for (i = 0; res->signer_emails != NULL && res->signer_emails[i] != NULL; i++)
		psm_json_string(j, res->signer_emails[i]);
	psm_json_end_array(j);
	psm_json_kv_string(j, "from", from);
	psm_json_kv_bool(j, "from_matches", res->from_matches);
	psm_json_kv_string(j, "anchor", res->anchor_subject);
	psm_json_key(j, "signing_time");
	psm_json_time(j, res->signing_time);
	psm_json_kv_string(j, "digest", res->digest);
	psm_json_kv_string(j, "signature_algorithm", res->signature_alg);
	psm_json_kv_string(j, "nested", res->nested);
	psm_json_key(j, "revocation");
	psm_json_begin_object(j);
	psm_json_kv_string(j, "status", psm_revocation_status_name(res->revocation.status));
	psm_json_kv_string(j, "source", psm_revocation_source_name(res->revocation.source));
	psm_json_key(j, "revoked_at");
	psm_json_time(j, res->revocation.status == PSM_REV_REVOKED ? res->revocation.revoked_at : 0);
	psm_json_kv_string(j, "reason", res->revocation.status == PSM_REV_REVOKED ?
	                   psm_revocation_reason_name(res->revocation.reason) : NULL);
	psm_json_kv_string(j, "detail", res->revocation.detail[0] != '\0' ?
	                   res->revocation.detail : NULL);
	psm_json_end_object(j);
	psm_json_end_object(j);
}

int
psm_cmd_verify(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		PSM_CLI_CHAIN_OPTIONS,
		PSM_CLI_TIME_OPTIONS,
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *outpath = NULL, *inpath;
	struct psm_cli_trust t;
	psm_verify_params vp;
	psm_verify_result *res = NULL;
	psm_msg *msg = NULL;
	psm_outfile *out = NULL;
	int c, k, json = 0, fd = -1, r, rc;

	memset(&vp, 0, sizeof(vp));
	psm_cli_trust_init(&t);
	while ((c = getopt_long(argc, argv, "+ho:", opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg))
			continue;
		if ((k = psm_cli_trust_option(&t, c, optarg)) < 0)
			return psm_cli_usage_error("verify", "%s", t.err);
		if (k > 0)
			continue;
		switch (c) {
		case PSM_OPT_JSON: json = 1; psm_cli_json_errors(); break;
		case 'o': outpath = optarg; break;
		case 'h':
			fputs(verify_usage, stdout);
			return PSM_EXIT_OK;
		default:
			return psm_cli_usage_error("verify", "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (optind + 1 < argc)
		return psm_cli_usage_error("verify", "unexpected argument '%s'", argv[optind + 1]);
	inpath = optind < argc ? argv[optind] : NULL;
	if ((r = psm_cli_trust_open(cli, &t, &vp)) < 0 ||
	    (r = psm_cli_open_input(inpath, &fd)) < 0 || (r = psm_msg_open(fd, &msg)) < 0)
		goto fail;
	vp.from = psm_msg_from(msg);
	if ((!json || outpath != NULL) &&
	    (r = psm_outfile_open(outpath, PSM_OUTFILE_PRIVATE, &out)) < 0)
		goto fail;
	psm_cli_progress_start(msg, fd, "verifying", json);
	r = psm_msg_verify(msg, &vp, out, &res);
	psm_cli_progress_done();
	if (r < 0)
		goto fail;
	if (json) {
		psm_json j;

		psm_json_init(&j, stdout);
		psm_cli_verify_json(&j, res, vp.from);
	}
	psm_cli_verify_summary(res, vp.from);
	{
		char v[700];

		/* one line to read at a glance, last */
		fprintf(stderr, "p11smime: verdict: %s; not encrypted\n",
		        psm_cli_signature_verdict(res, v, sizeof(v)));
	}
	if (res->valid) {
		if (out != NULL && (r = psm_outfile_commit(out)) < 0)
			goto fail;
		/* remember who wrote, to encrypt to them later */
		psm_store_remember_signer(t.store, res->signer, res->capabilities,
		                          res->capabilities_len, res->path_cas);
		rc = PSM_EXIT_OK;
	} else {
		rc = PSM_EXIT_CHECK_FAILED;
	}
	goto out;
fail:
	rc = psm_cli_fail(r);
out:
	psm_verify_result_free(res);
	psm_outfile_free(out);
	psm_msg_free(msg);
	psm_cli_trust_clear(&t);
	if (fd > STDIN_FILENO)
		close(fd);
	return rc;
}
