/* p11smime keys: private keys and their certificates, with pkcs11: URIs. */
#include "config.h"

#include "cli.h"
#include "output.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char keys_usage[] =
"Usage: p11smime keys [--token URI] [--json] [--pin-source SRC] [--module PATH]\n"
"\n"
"List each private key on the tokens with the certificate paired with it\n"
"(same CKA_ID, or same public key when the IDs differ): the key's pkcs11:\n"
"URI, type and size, what it may do (sign, decrypt, derive), whether it\n"
"needs a PIN for every use (always-authenticate, like PIV slot 9C), and the\n"
"certificate's subject, e-mail addresses and validity.\n"
"\n"
"Tokens hide private keys until you log in: with --pin-source the listing\n"
"logs in; without it, the certificates are shown and the list says so.\n"
"\n"
"  --token URI   only tokens matching this pkcs11: URI\n"
"  --json        one JSON document for scripts\n";

static const char *
type_name(const psm_key_info *k, char *buf, size_t len)
{
	switch (k->type) {
	case PSM_KEY_RSA:
		snprintf(buf, len, "RSA %u", k->bits);
		break;
	case PSM_KEY_EC:
		snprintf(buf, len, "EC %s", k->curve != NULL ? k->curve : "(unknown curve)");
		break;
	case PSM_KEY_OTHER:
		snprintf(buf, len, "other");
		break;
	default:
		snprintf(buf, len, "none");
	}
	return buf;
}

static const char *
validity_state(const psm_key_info *k, time_t now)
{
	if (k->cert == NULL)
		return "";
	if (k->not_after != 0 && now > k->not_after)
		return " (EXPIRED)";
	if (k->not_before != 0 && now < k->not_before)
		return " (NOT YET VALID)";
	return "";
}

static void
print_human(const psm_key_list *list)
{
	time_t now = time(NULL);
	size_t i, e;

	for (i = 0; i < psm_key_list_count(list); i++) {
		const psm_key_info *k = psm_key_list_get(list, i);
		char tbuf[48], nb[32], na[32];

		if (i > 0)
			putchar('\n');
		printf("%s\n", k->uri);
		printf("  token:    %s\n", k->slot->label);
		printf("  label:    %s\n", k->label);
		printf("  id:       %s\n", k->id_hex);
		if (k->has_key) {
			printf("  key:      %s%s%s%s%s\n", type_name(k, tbuf, sizeof(tbuf)),
			       k->can_sign ? ", sign" : "", k->can_decrypt ? ", decrypt" : "",
			       k->can_derive ? ", derive" : "", k->can_unwrap ? ", unwrap" : "");
			if (k->always_authenticate)
				printf("  pin:      always-authenticate (a PIN for every use)\n");
		} else {
			printf("  key:      %s (private key hidden until login)\n",
			       type_name(k, tbuf, sizeof(tbuf)));
		}
		if (k->cert == NULL) {
			printf("  cert:     none\n");
			continue;
		}
		printf("  subject:  %s\n", k->subject);
		for (e = 0; k->emails != NULL && k->emails[e] != NULL; e++)
			printf("  e-mail:   %s\n", k->emails[e]);
		printf("  valid:    %s to %s%s\n", psm_fmt_time(k->not_before, nb, sizeof(nb)),
		       psm_fmt_time(k->not_after, na, sizeof(na)), validity_state(k, now));
		if (k->has_key)
			printf("  cert:     %s%s\n", k->cert_uri,
			       k->paired_by == PSM_PAIR_PUBKEY ? " (paired by public key)" : "");
	}
	fflush(stdout);
	if (psm_key_list_incomplete(list) == PSM_KEYS_SEVERAL_TOKENS)
		fprintf(stderr, "p11smime: several tokens need a PIN and one PIN source cannot be "
		        "right for all; choose one with --token URI to see its private keys\n");
	else if (psm_key_list_incomplete(list))
		fprintf(stderr, "p11smime: some tokens show their private keys only after a login; "
		        "give --pin-source to list them\n");
	else if (psm_key_list_count(list) == 0)
		printf("no keys found\n");
}

static void
print_json(const psm_key_list *list)
{
	psm_json j;
	size_t i, e;
	char tbuf[48];

	psm_json_init(&j, stdout);
	psm_json_begin_object(&j);
	psm_json_kv_bool(&j, "complete", !psm_key_list_incomplete(list));
	psm_json_kv_string(&j, "incomplete_reason",
	                   psm_key_list_incomplete(list) == PSM_KEYS_SEVERAL_TOKENS
	                   ? "several tokens need a PIN; choose one with --token"
	                   : psm_key_list_incomplete(list) ? "no PIN source" : NULL);
	psm_json_key(&j, "keys");
	psm_json_begin_array(&j);
	for (i = 0; i < psm_key_list_count(list); i++) {
		const psm_key_info *k = psm_key_list_get(list, i);

		psm_json_begin_object(&j);
		psm_json_kv_string(&j, "uri", k->uri);
		psm_json_kv_string(&j, "token", k->slot->label);
		psm_json_kv_string(&j, "token_uri", k->slot->uri);
		psm_json_kv_string(&j, "label", k->label);
		psm_json_kv_string(&j, "id", k->id_hex);
		psm_json_kv_bool(&j, "private_key", k->has_key);
		psm_json_kv_string(&j, "type", k->type == PSM_KEY_RSA ? "rsa"
		                   : k->type == PSM_KEY_EC ? "ec" : k->type == PSM_KEY_OTHER
		                   ? "other" : NULL);
		psm_json_kv_int(&j, "bits", k->bits);
		psm_json_kv_string(&j, "curve", k->curve);
		psm_json_kv_string(&j, "description", type_name(k, tbuf, sizeof(tbuf)));
		psm_json_key(&j, "usage");
		psm_json_begin_array(&j);
		if (k->can_sign)
			psm_json_string(&j, "sign");
		if (k->can_decrypt)
			psm_json_string(&j, "decrypt");
		if (k->can_derive)
			psm_json_string(&j, "derive");
		if (k->can_unwrap)
			psm_json_string(&j, "unwrap");
		psm_json_end_array(&j);
		psm_json_kv_bool(&j, "always_authenticate", k->always_authenticate);
		psm_json_kv_bool(&j, "sensitive", k->sensitive);
		psm_json_kv_bool(&j, "extractable", k->extractable);
		if (k->cert != NULL) {
			psm_json_key(&j, "certificate");
			psm_json_begin_object(&j);
			psm_json_kv_string(&j, "uri", k->cert_uri);
			psm_json_kv_string(&j, "label", k->cert_label);
			psm_json_kv_string(&j, "subject", k->subject);
			psm_json_key(&j, "emails");
			psm_json_begin_array(&j);
			for (e = 0; k->emails != NULL && k->emails[e] != NULL; e++)
				psm_json_string(&j, k->emails[e]);
			psm_json_end_array(&j);
			psm_json_key(&j, "not_before");
			psm_json_time(&j, k->not_before);
			psm_json_key(&j, "not_after");
			psm_json_time(&j, k->not_after);
			psm_json_kv_string(&j, "paired_by", k->paired_by == PSM_PAIR_PUBKEY
			                   ? "public-key" : k->paired_by == PSM_PAIR_ID ? "id" : NULL);
			psm_json_end_object(&j);
		} else {
			psm_json_key(&j, "certificate");
			psm_json_null(&j);
		}
		psm_json_end_object(&j);
	}
	psm_json_end_array(&j);
	psm_json_end_object(&j);
}

int
psm_cmd_keys(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "token", required_argument, NULL, PSM_OPT_TOKEN },
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *token_uri = NULL;
	psm_key_list *list = NULL;
	psm_p11 *p11 = NULL;
	int c, json = 0, r;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg))
			continue;
		switch (c) {
		case PSM_OPT_TOKEN:
			token_uri = optarg;
			break;
		case PSM_OPT_JSON:
			json = 1;
			psm_cli_json_errors();
			break;
		case 'h':
			fputs(keys_usage, stdout);
			return PSM_EXIT_OK;
		default:
			return psm_cli_usage_error("keys", "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (optind < argc)
		return psm_cli_usage_error("keys", "unexpected argument '%s'", argv[optind]);
	if (token_uri != NULL && (r = psm_p11_check_uri(token_uri)) < 0)
		return psm_cli_fail(r);
	if ((r = psm_cli_open_p11(cli, &p11)) < 0 ||
	    (r = psm_p11_scan(p11)) < 0 ||
	    (r = psm_p11_list_keys(p11, token_uri, &list)) < 0) {
		psm_p11_free(p11);
		return psm_cli_fail(r);
	}
	if (json)
		print_json(list);
	else
		print_human(list);
	psm_key_list_free(list);
	psm_p11_free(p11);
	return fflush(stdout) == 0 ? PSM_EXIT_OK : PSM_EXIT_INTERNAL;
}
