/* p11smime tokens: modules, slots, tokens and their PIN state. */
#include "config.h"

#include "cli.h"
#include "output.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char tokens_usage[] =
"Usage: p11smime tokens [--json] [--module PATH]\n"
"\n"
"List the PKCS#11 modules (every module registered with p11-kit, or the one\n"
"given with --module), their slots, and the token in each slot: label,\n"
"manufacturer, model, serial, its pkcs11: URI, whether it needs a login or\n"
"has a PIN pad, and the PIN counters (count low, final try, locked).\n"
"A token seen through two modules is listed once. No PIN is asked.\n"
"\n"
"  --json    one JSON document for scripts\n";

static const char *
pin_state(const psm_slot_info *s)
{
	if (s->pin_locked)
		return "LOCKED (unlock with the SO PIN or PUK)";
	if (s->pin_final_try)
		return "one try left";
	if (s->pin_count_low)
		return "few tries left";
	if (!s->user_pin_initialized)
		return "not set";
	return "ok";
}

static void
print_human(psm_p11 *p11)
{
	size_t m, i, shown = 0;

	for (m = 0; m < psm_p11_module_count(p11); m++) {
		const psm_module_info *mi = psm_p11_module(p11, m);

		printf("module %s (%s)\n", mi->name, mi->path);
		if (mi->error != NULL) {
			printf("  failed to load: %s\n", mi->error);
			continue;
		}
		printf("  %s, %s %d.%d\n", mi->description, mi->manufacturer,
		       mi->version_major, mi->version_minor);
		for (i = 0; i < psm_p11_slot_count(p11); i++) {
			const psm_slot_info *s = psm_p11_slot(p11, i);

			if (s->module != mi)
				continue;
			printf("  slot %lu: %s%s\n", s->slot_id, s->description,
			       s->removable ? " (removable)" : "");
			if (!s->token_present) {
				printf("    no token\n");
				continue;
			}
			if (s->duplicate) {
				printf("    token '%s' (already listed through another module)\n",
				       s->label);
				continue;
			}
			shown++;
			printf("    token '%s'\n", s->label);
			printf("      manufacturer: %s\n", s->token_manufacturer);
			printf("      model:        %s\n", s->model);
			printf("      serial:       %s\n", s->serial);
			printf("      uri:          %s\n", s->uri);
			if (!s->initialized) {
				printf("      not initialised\n");
				continue;
			}
			printf("      login:        %s%s\n",
			       s->login_required ? "required" : "not required",
			       s->protected_auth_path ? ", PIN pad (protected authentication path)" : "");
			printf("      user PIN:     %s%s\n", pin_state(s),
			       s->pin_to_be_changed ? ", must be changed" : "");
			if (s->write_protected)
				printf("      write-protected\n");
		}
	}
	if (psm_p11_module_count(p11) == 0)
		printf("no PKCS#11 modules are registered with p11-kit; use --module PATH\n");
	else if (shown == 0)
		printf("no tokens present\n");
}

static void
print_json(psm_p11 *p11)
{
	psm_json j;
	size_t m, i;

	psm_json_init(&j, stdout);
	psm_json_begin_object(&j);
	psm_json_key(&j, "modules");
	psm_json_begin_array(&j);
	for (m = 0; m < psm_p11_module_count(p11); m++) {
		const psm_module_info *mi = psm_p11_module(p11, m);
		char ver[32];

		psm_json_begin_object(&j);
		psm_json_kv_string(&j, "name", mi->name);
		psm_json_kv_string(&j, "path", mi->path);
		psm_json_kv_string(&j, "error", mi->error);
		if (mi->error == NULL) {
			snprintf(ver, sizeof(ver), "%d.%d", mi->version_major, mi->version_minor);
			psm_json_kv_string(&j, "description", mi->description);
			psm_json_kv_string(&j, "manufacturer", mi->manufacturer);
			psm_json_kv_string(&j, "version", ver);
		}
		psm_json_key(&j, "slots");
		psm_json_begin_array(&j);
		for (i = 0; i < psm_p11_slot_count(p11); i++) {
			const psm_slot_info *s = psm_p11_slot(p11, i);

			if (s->module != mi)
				continue;
			psm_json_begin_object(&j);
			psm_json_kv_int(&j, "id", (long long)s->slot_id);
			psm_json_kv_string(&j, "description", s->description);
			psm_json_kv_string(&j, "manufacturer", s->manufacturer);
			psm_json_kv_bool(&j, "removable", s->removable);
			psm_json_kv_bool(&j, "hardware", s->hardware);
			psm_json_kv_bool(&j, "token_present", s->token_present);
			if (s->token_present) {
				psm_json_key(&j, "token");
				psm_json_begin_object(&j);
				psm_json_kv_string(&j, "label", s->label);
				psm_json_kv_string(&j, "manufacturer", s->token_manufacturer);
				psm_json_kv_string(&j, "model", s->model);
				psm_json_kv_string(&j, "serial", s->serial);
				psm_json_kv_string(&j, "uri", s->uri);
				psm_json_kv_bool(&j, "duplicate", s->duplicate);
				psm_json_kv_bool(&j, "initialized", s->initialized);
				psm_json_kv_bool(&j, "write_protected", s->write_protected);
				psm_json_kv_bool(&j, "login_required", s->login_required);
				psm_json_kv_bool(&j, "protected_authentication_path",
				                 s->protected_auth_path);
				psm_json_kv_bool(&j, "user_pin_initialized", s->user_pin_initialized);
				psm_json_kv_bool(&j, "user_pin_count_low", s->pin_count_low);
				psm_json_kv_bool(&j, "user_pin_final_try", s->pin_final_try);
				psm_json_kv_bool(&j, "user_pin_locked", s->pin_locked);
				psm_json_kv_bool(&j, "user_pin_to_be_changed", s->pin_to_be_changed);
				psm_json_end_object(&j);
			}
			psm_json_end_object(&j);
		}
		psm_json_end_array(&j);
		psm_json_end_object(&j);
	}
	psm_json_end_array(&j);
	psm_json_end_object(&j);
}

int
psm_cmd_tokens(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	psm_p11 *p11 = NULL;
	int c, json = 0, r;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg))
			continue;
		switch (c) {
		case PSM_OPT_JSON:
			json = 1;
			psm_cli_json_errors();
			break;
		case 'h':
			fputs(tokens_usage, stdout);
			return PSM_EXIT_OK;
		default:
			return psm_cli_usage_error("tokens", "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (optind < argc)
		return psm_cli_usage_error("tokens", "unexpected argument '%s'", argv[optind]);
	if ((r = psm_cli_open_p11(cli, &p11)) < 0 || (r = psm_p11_scan(p11)) < 0) {
		psm_p11_free(p11);
		return psm_cli_fail(r);
	}
	if (json)
		print_json(p11);
	else
		print_human(p11);
	psm_p11_free(p11);
	return fflush(stdout) == 0 ? PSM_EXIT_OK : PSM_EXIT_INTERNAL;
}
