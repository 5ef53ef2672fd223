/* p11smime: the command line. Parses the global options, picks the
 * command, maps library errors to the contract's exit codes. */
#include "config.h"

#include "cli.h"
#include "progress.h"
#include "prompt.h"
#include "signals.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

static const char usage_text[] =
"Usage: p11smime [--module PATH]... [--pin-source SRC] [--allow-last-pin-try]\n"
"                COMMAND [OPTIONS] [IN]\n"
"\n"
"S/MIME signing and encryption with private keys on PKCS#11 tokens\n"
"(smart cards, PIV/CAC, YubiKey, HSMs, SoftHSM).\n"
"\n"
"Commands:\n"
"  tokens                 list modules, slots, tokens and their PIN state\n"
"  keys [--token URI]     list key/certificate pairs with their pkcs11: URIs\n"
"  sign [--key URI] [--opaque] [-o OUT] [IN]\n"
"                         sign a message with a key on a token\n"
"  verify [--anchors FILE] [--at TIME] [-o OUT] [IN]\n"
"                         check a signed message; exit 0 only when valid\n"
"  encrypt [--recipient-cert FILE] [--to ADDR] [--cipher NAME] [-o OUT] [IN]\n"
"                         encrypt a message to its recipients and the sender\n"
"  sign-encrypt ...       sign on the token, then encrypt (options of both)\n"
"  decrypt [--key URI] [-o OUT] [IN]\n"
"                         decrypt with the matching key on a token; check an\n"
"                         inner signature\n"
"  certs list|import|export|find|remove|trust|untrust\n"
"                         the certificate store: people to encrypt to, CAs to trust\n"
"  inspect [--json] [IN]  what a message is, layer by layer, without a key\n"
"  import-p12 FILE [--token URI] [--label L] [--pass-source SRC]\n"
"                         put a key and certificate from a PKCS#12 file on a token\n"
"  keygen --type TYPE --label L [--token URI] [--usage U] [--always-auth]\n"
"                         make a key pair on a token\n"
"  csr --key URI --email ADDR [--name NAME] [-o OUT]\n"
"                         a certificate request for a token key, for your CA\n"
"  import-cert FILE [--token URI] [--email ADDR]\n"
"                         put the certificate your CA issued next to its key\n"
"\n"
"Global options (also accepted after the command):\n"
"  --module PATH          use this PKCS#11 module only (default: every module\n"
"                         registered with p11-kit); may be repeated\n"
"  --pin-source SRC       where the PIN comes from: file:PATH (mode 0600),\n"
"                         fd:N, tty, pinentry[:PROGRAM]; never the command line\n"
"  --allow-last-pin-try   allow a login when the token has one PIN try left\n"
"  -h, --help             this help; 'p11smime COMMAND --help' for a command\n"
"  -V, --version          print the version\n"
"\n"
"Exit codes: 0 success; 1 a signature or decryption check failed; 2 usage\n"
"error or malformed input; 3 token, module or PIN problem; 4 internal error.\n"
"See p11smime(1).\n";

int
psm_cli_exit_code(int err)
{
	switch (err) {
	case PSM_OK:
		return PSM_EXIT_OK;
	case PSM_ERR_VERIFY:
		return PSM_EXIT_CHECK_FAILED;
	case PSM_ERR_USAGE:
	case PSM_ERR_MALFORMED:
	case PSM_ERR_URI:
	case PSM_ERR_IO:
		return PSM_EXIT_USAGE;
	case PSM_ERR_MODULE:
	case PSM_ERR_TOKEN:
	case PSM_ERR_TOKEN_ABSENT:
	case PSM_ERR_NOT_FOUND:
	case PSM_ERR_AMBIGUOUS:
	case PSM_ERR_PIN_SOURCE:
	case PSM_ERR_PIN_UNSAFE:
	case PSM_ERR_PIN_INCORRECT:
	case PSM_ERR_PIN_LOCKED:
	case PSM_ERR_PIN_FINAL_TRY:
	case PSM_ERR_PIN_CANCELLED:
	case PSM_ERR_KEY_USAGE:
		return PSM_EXIT_TOKEN;
	default:
		return PSM_EXIT_INTERNAL;
	}
}

static int json_errors;

void
psm_cli_json_errors(void)
{
	json_errors = 1;
}

/* The failure as one JSON object on stderr. */
static int
fail_json(const char *sentence, int code)
{
	static const char *const kinds[] = { "ok", "check", "usage", "token", "internal" };
	psm_json j;

	psm_json_init(&j, stderr);
	psm_json_begin_object(&j);
	psm_json_kv_string(&j, "error", sentence);
	psm_json_kv_int(&j, "exit", code);
	psm_json_kv_string(&j, "kind", code >= 0 && code <= 4 ? kinds[code] : "internal");
	psm_json_end_object(&j);
	return code;
}

int
psm_cli_fail(int err)
{
	const char *detail = psm_error_detail();
	const char *sentence = detail != NULL && *detail != '\0' ? detail : psm_strerror(err);

	psm_cli_progress_done();
	if (json_errors)
		return fail_json(sentence, psm_cli_exit_code(err));
	fprintf(stderr, "p11smime: %s\n", sentence);
	return psm_cli_exit_code(err);
}

int
psm_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char what[768], line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		snprintf(line, sizeof(line), "%s: %s (see 'p11smime %s --help')", cmd, what, cmd);
	else
		snprintf(line, sizeof(line), "%s (see 'p11smime --help')", what);
	if (json_errors)
		return fail_json(line, PSM_EXIT_USAGE);
	fprintf(stderr, "p11smime: %s\n", line);
	return PSM_EXIT_USAGE;
}

int
psm_cli_open_p11(struct psm_cli *cli, psm_p11 **out)
{
	int i, r;

	*out = NULL;
	if (cli->too_many_modules) {
		psm_error_set("--module may be given at most %d times",
		              (int)(sizeof(cli->modules) / sizeof(cli->modules[0])));
		return PSM_ERR_USAGE;
	}
	if (cli->pin_source != NULL && cli->pin == NULL) {
		if ((r = psm_pin_source_parse(cli->pin_source, &cli->pin)) < 0)
			return r;
		psm_pin_source_set_prompt(cli->pin, psm_cli_tty_prompt, NULL);
	}
	if ((r = psm_p11_open(cli->nmodules > 0 ? cli->modules[0] : NULL, out)) < 0)
		return r;
	for (i = 1; i < cli->nmodules; i++) {
		if ((r = psm_p11_load_module(*out, cli->modules[i])) < 0) {
			psm_p11_free(*out);
			*out = NULL;
			return r;
		}
	}
	psm_p11_set_pin_source(*out, cli->pin);
	psm_p11_set_allow_final_try(*out, cli->allow_last_try);
	return 0;
}

int
psm_cli_settings(struct psm_cli *cli, const psm_settings **out)
{
	int r;

	if (cli->settings == NULL && (r = psm_settings_load(NULL, &cli->settings)) < 0)
		return r;
	*out = cli->settings;
	return 0;
}

int
psm_cli_setting_anchors(struct psm_cli *cli, const char **files, size_t *n, size_t max)
{
	const psm_settings *st;
	size_t i;
	int r;

	if ((r = psm_cli_settings(cli, &st)) < 0)
		return r;
	for (i = 0; i < st->nanchors; i++) {
		if (*n == max) {
			psm_error_set("too many anchors files (with those of %s)", st->path);
			return PSM_ERR_USAGE;
		}
		files[(*n)++] = st->anchors[i];
	}
	return 0;
}

/* Keep PINs out of core files and swap. */
static void
harden(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!CRYPTO_secure_malloc_initialized())
		CRYPTO_secure_malloc_init(32768, 32);
}

int
psm_cli_global_option(struct psm_cli *cli, int c, const char *arg)
{
	switch (c) {
	case PSM_OPT_MODULE:
		if (cli->nmodules >= (int)(sizeof(cli->modules) / sizeof(cli->modules[0]))) {
			cli->too_many_modules = 1;
			return 1;
		}
		cli->modules[cli->nmodules++] = arg;
		return 1;
	case PSM_OPT_PIN_SOURCE:
		cli->pin_source = arg;
		return 1;
	case PSM_OPT_ALLOW_LAST:
		cli->allow_last_try = 1;
		return 1;
	default:
		return 0;
	}
}

static const struct option global_opts[] = {
	PSM_CLI_GLOBAL_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

int
main(int argc, char **argv)
{
	struct psm_cli cli;
	const char *cmd;
	int c, rc;

	harden();
	psm_cli_signals_init();
	memset(&cli, 0, sizeof(cli));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hV", global_opts, NULL)) != -1) {
		if (psm_cli_global_option(&cli, c, optarg))
			continue;
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return PSM_EXIT_OK;
		case 'V':
			printf("p11smime %s\n", PACKAGE_VERSION);
			return PSM_EXIT_OK;
		default:
			return psm_cli_usage_error(NULL, "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return PSM_EXIT_USAGE;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0; /* reset getopt for the command's own options */
	if (strcmp(cmd, "tokens") == 0)
		rc = psm_cmd_tokens(&cli, argc, argv);
	else if (strcmp(cmd, "keys") == 0)
		rc = psm_cmd_keys(&cli, argc, argv);
	else if (strcmp(cmd, "sign") == 0)
		rc = psm_cmd_sign(&cli, argc, argv);
	else if (strcmp(cmd, "verify") == 0)
		rc = psm_cmd_verify(&cli, argc, argv);
	else if (strcmp(cmd, "encrypt") == 0 || strcmp(cmd, "sign-encrypt") == 0)
		rc = psm_cmd_encrypt(&cli, argc, argv);
	else if (strcmp(cmd, "decrypt") == 0)
		rc = psm_cmd_decrypt(&cli, argc, argv);
	else if (strcmp(cmd, "certs") == 0)
		rc = psm_cmd_certs(&cli, argc, argv);
	else if (strcmp(cmd, "inspect") == 0)
		rc = psm_cmd_inspect(&cli, argc, argv);
	else if (strcmp(cmd, "import-p12") == 0)
		rc = psm_cmd_import_p12(&cli, argc, argv);
	else if (strcmp(cmd, "keygen") == 0)
		rc = psm_cmd_keygen(&cli, argc, argv);
	else if (strcmp(cmd, "csr") == 0)
		rc = psm_cmd_csr(&cli, argc, argv);
	else if (strcmp(cmd, "import-cert") == 0)
		rc = psm_cmd_import_cert(&cli, argc, argv);
	else if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		rc = PSM_EXIT_OK;
	} else
		rc = psm_cli_usage_error(NULL, "unknown command '%s'", cmd);
	psm_pin_source_free(cli.pin);
	psm_settings_free(cli.settings);
	return rc;
}
