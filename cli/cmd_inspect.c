/* p11smime inspect: what a message is, layer by layer, without a key. */
#include "config.h"

#include "cli.h"
#include "inspect.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static const char inspect_usage[] =
"Usage: p11smime inspect [--anchors FILE]... [--at TIME] [--allow-weak] [--no-aia]\n"
"                        [--revocation off|soft|hard] [--crl FILE]...\n"
"                        [--no-from-check] [--json] [IN]\n"
"\n"
"Show what the message IN (default: standard input) is, without any key:\n"
"each signed layer (signed by whom, with which algorithms, and whether the\n"
"signature checks, as 'verify' would say), an encrypted layer (for whom:\n"
"each recipient's issuer and serial or key id, the key management and the\n"
"content cipher, authenticated or not), and the MIME structure of what can\n"
"be seen. Exit 0 when the message could be read, whatever it holds.\n"
"\n"
"  --anchors FILE  trust anchors for judging signatures (PEM; repeatable)\n"
"  --at TIME       judge signatures as of TIME\n"
"  --allow-weak    accept SHA-1 signatures\n"
"  --no-from-check a signature on a message without From: is not a failure\n"
"  --revocation P, --crl FILE  revocation checks of signers, as for verify\n"
"  --no-aia        do not fetch a missing issuer of a signer from the URL its\n"
"                  certificate names (AIA caIssuers)\n"
"  --json          the layers as JSON on standard output\n";

static void
print_text(const psm_inspection *in)
{
	size_t i, k;
	char t[32];

	for (i = 0; i < in->n; i++) {
		const psm_layer *l = &in->layers[i];

		printf("layer %zu: %s%s%s%s\n", i + 1, l->media_type, l->smime_type[0] ? " (" : "",
		       l->smime_type, l->smime_type[0] ? ")" : "");
		if (l->kind == PSM_LAYER_SIGNED) {
			const psm_verify_result *s = l->sig;

			printf("  signed by:   %s\n", s->signer_subject ? s->signer_subject : "?");
			for (k = 0; s->signer_emails != NULL && s->signer_emails[k] != NULL; k++)
				printf("  address:     %s\n", s->signer_emails[k]);
			if (s->signer_issuer != NULL)
				printf("  issued by:   %s\n", s->signer_issuer);
			if (s->signing_time != 0)
				printf("  signed at:   %s\n", psm_fmt_time(s->signing_time, t, sizeof(t)));
			if (s->digest != NULL)
				printf("  algorithm:   %s, %s\n", s->digest, s->signature_alg);
			printf("  signature:   %s%s%s\n", s->valid ? "valid" : "NOT valid",
			       s->valid ? "" : ": ", s->valid ? "" : s->failure);
		} else if (l->kind == PSM_LAYER_ENCRYPTED) {
			printf("  content:     %s, %s\n", l->cipher[0] ? l->cipher : "?",
			       l->authenticated ? "authenticated (AuthEnvelopedData)"
			                        : "NOT authenticated (changes go unnoticed)");
			for (k = 0; k < l->nrcpt; k++)
				printf("  for:         %s (%s)\n", l->rcpt[k].id, l->rcpt[k].key_management);
		} else {
			for (k = 0; k < l->nparts; k++) {
				const psm_part_desc *d = &l->parts[k];

				printf("  %*s%s, %s, %llu bytes%s%s%s\n", (int)(2 * d->depth), "", d->type,
				       d->cte, d->size, d->filename ? ", \"" : "",
				       d->filename ? d->filename : "", d->filename ? "\"" : "");
			}
		}
	}
}

/* The layers in one line a person reads at a glance: signed by whom and
 * trusted or not, encrypted or not, authenticated or not. */
static void
print_verdict(const psm_inspection *in)
{
	char line[1400] = "", part[760];
	size_t i;
	int signed_seen = 0, enc_seen = 0;

	for (i = 0; i < in->n; i++) {
		const psm_layer *l = &in->layers[i];

		part[0] = '\0';
		if (l->kind == PSM_LAYER_SIGNED) {
			psm_cli_signature_verdict(l->sig, part, sizeof(part));
			signed_seen = 1;
		} else if (l->kind == PSM_LAYER_ENCRYPTED) {
			snprintf(part, sizeof(part), "encrypted (%s, %s) for %zu recipient%s; what is "
			         "inside is seen only with a key (decrypt)", l->cipher[0] ? l->cipher : "?",
			         l->authenticated ? "authenticated" : "NOT authenticated", l->nrcpt,
			         l->nrcpt == 1 ? "" : "s");
			enc_seen = 1;
		}
		if (part[0] != '\0')
			snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s",
			         line[0] != '\0' ? ", then " : "", part);
	}
	if (!signed_seen && !enc_seen)
		snprintf(line, sizeof(line), "not signed, not encrypted");
	else if (!enc_seen)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "; not encrypted");
	else if (!signed_seen && in->n > 0 && in->layers[in->n - 1].kind != PSM_LAYER_ENCRYPTED)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "; not signed");
	printf("verdict: %s\n", line);
}

static void
print_json(const psm_inspection *in, const char *from)
{
	psm_json j;
	size_t i, k;

	psm_json_init(&j, stdout);
	psm_json_begin_object(&j);
	psm_json_kv_string(&j, "from", from);
	psm_json_key(&j, "layers");
	psm_json_begin_array(&j);
	for (i = 0; i < in->n; i++) {
		const psm_layer *l = &in->layers[i];

		psm_json_begin_object(&j);
		psm_json_kv_string(&j, "kind", l->kind == PSM_LAYER_SIGNED ? "signed" :
		                   l->kind == PSM_LAYER_ENCRYPTED ? "encrypted" : "content");
		psm_json_kv_string(&j, "media_type", l->media_type);
		psm_json_kv_string(&j, "smime_type", l->smime_type[0] ? l->smime_type : NULL);
		if (l->kind == PSM_LAYER_SIGNED) {
			psm_json_key(&j, "signature");
			psm_cli_verify_json(&j, l->sig, from);
		} else if (l->kind == PSM_LAYER_ENCRYPTED) {
			psm_json_kv_string(&j, "cipher", l->cipher);
			psm_json_kv_bool(&j, "authenticated", l->authenticated);
			psm_json_key(&j, "recipients");
			psm_json_begin_array(&j);
			for (k = 0; k < l->nrcpt; k++) {
				psm_json_begin_object(&j);
				psm_json_kv_string(&j, "id", l->rcpt[k].id);
				psm_json_kv_string(&j, "key_management", l->rcpt[k].key_management);
				psm_json_end_object(&j);
			}
			psm_json_end_array(&j);
		} else {
			psm_json_key(&j, "parts");
			psm_json_begin_array(&j);
			for (k = 0; k < l->nparts; k++) {
				psm_json_begin_object(&j);
				psm_json_kv_int(&j, "depth", l->parts[k].depth);
				psm_json_kv_string(&j, "type", l->parts[k].type);
				psm_json_kv_string(&j, "transfer_encoding", l->parts[k].cte);
				psm_json_kv_string(&j, "filename", l->parts[k].filename);
				psm_json_kv_int(&j, "size", (long long)l->parts[k].size);
				psm_json_end_object(&j);
			}
			psm_json_end_array(&j);
		}
		psm_json_end_object(&j);
	}
	psm_json_end_array(&j);
	psm_json_end_object(&j);
}

int
psm_cmd_inspect(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		PSM_CLI_CHAIN_OPTIONS,
		PSM_CLI_TIME_OPTIONS,
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct psm_cli_trust t;
	psm_verify_params vp;
	psm_inspection *in = NULL;
	psm_msg *msg = NULL;
	int c, k, json = 0, fd = -1, r;

	memset(&vp, 0, sizeof(vp));
	psm_cli_trust_init(&t);
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg))
			continue;
		if ((k = psm_cli_trust_option(&t, c, optarg)) < 0)
			return psm_cli_usage_error("inspect", "%s", t.err);
		if (k > 0)
			continue;
		switch (c) {
		case PSM_OPT_JSON: json = 1; psm_cli_json_errors(); break;
		case 'h':
			fputs(inspect_usage, stdout);
			return PSM_EXIT_OK;
		default:
			return psm_cli_usage_error("inspect", "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (optind + 1 < argc)
		return psm_cli_usage_error("inspect", "unexpected argument '%s'", argv[optind + 1]);
	if ((r = psm_cli_trust_open(cli, &t, &vp)) < 0 ||
	    (r = psm_cli_open_input(optind < argc ? argv[optind] : NULL, &fd)) < 0 ||
	    (r = psm_msg_open(fd, &msg)) < 0)
		goto out;
	vp.from = psm_msg_from(msg);
	if ((r = psm_msg_inspect(msg, &vp, &in)) < 0)
		goto out;
	if (json) {
		print_json(in, vp.from);
	} else {
		print_text(in);
		print_verdict(in);
	}
out:
	psm_inspection_free(in);
	psm_msg_free(msg);
	psm_cli_trust_clear(&t);
	if (fd > STDIN_FILENO)
		close(fd);
	return r < 0 ? psm_cli_fail(r) : PSM_EXIT_OK;
}
