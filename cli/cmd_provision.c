/* p11smime import-p12, keygen, csr, import-cert: putting a person's key
 * and certificate on a token (tokens/provision.h, core/csr.h). */
#include "config.h"

#include "cli.h"
#include "csr.h"
#include "outfile.h"
#include "prompt.h"
#include "provision.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static const char import_p12_usage[] =
"Usage: p11smime import-p12 FILE [--token URI] [--label LABEL] [--pass-source SRC]\n"
"                           [--pin-source SRC] [--json]\n"
"\n"
"Put the private key, certificate and CA chain of the PKCS#12 file FILE\n"
"(.p12, .pfx; older exports with RC2 or 3DES too) on a token. The key is\n"
"written sensitive and not extractable: it never leaves the token again.\n"
"It may sign and decrypt (RSA) or derive (EC) as the certificate's key\n"
"usage allows. Key, public key and certificate share one CKA_ID, the SHA-1\n"
"of the public key; CA certificates the token lacks are added as authority\n"
"certificates. If anything cannot be written, nothing is left on the token.\n"
"Prints the key's pkcs11: URI (--json: what was done, as one JSON object).\n"
"\n"
"  --token URI        the token (default: the only writable token present)\n"
"  --label LABEL      the key's and certificate's label (default: the file's\n"
"                     friendly name, else the certificate's e-mail address)\n"
"  --pass-source SRC  where the file's password comes from: file:PATH (mode\n"
"                     0600), fd:N, tty or pinentry[:PROGRAM]; never the command\n"
"                     line (default: the file has no password)\n"
"  --pin-source SRC   the token's user PIN, needed to write\n";

static const char keygen_usage[] =
"Usage: p11smime keygen [--token URI] --type TYPE --label LABEL [--usage USAGE]\n"
"                       [--always-auth] [--pin-source SRC] [--json]\n"
"\n"
"Make a key pair on the token itself (C_GenerateKeyPair): the private key\n"
"is sensitive and not extractable from the start. Prints its pkcs11: URI\n"
"(--json: {\"done\", \"token\", \"key\", \"label\", \"id\", \"type\", \"sign\",\n"
"\"decrypt\", ...} on standard output);\n"
"next, ask for a certificate with 'p11smime csr --key URI --email ADDR'.\n"
"\n"
"  --token URI      the token (default: the only writable token present)\n"
"  --type TYPE      rsa:2048, rsa:3072, rsa:4096, ec:p256, ec:p384 or ec:p521\n"
"  --label LABEL    the key's label (new on the token)\n"
"  --usage USAGE    sign, decrypt or both (default); for EC keys decrypt is\n"
"                   key agreement (ECDH). A request (csr) needs a key that signs.\n"
"  --always-auth    the token asks for the PIN before every use of the key\n";

static const char csr_usage[] =
"Usage: p11smime csr --key URI --email ADDR [--name NAME] [-o OUT] [--pin-source SRC]\n"
"\n"
"Write a PKCS#10 certificate request (PEM) for the token key URI, signed on\n"
"the token, to send to your CA: subject CN=NAME and emailAddress=ADDR,\n"
"asking for subjectAltName ADDR, the key usage the key has (digitalSignature,\n"
"keyEncipherment for RSA or keyAgreement for EC) and extendedKeyUsage\n"
"emailProtection. Then put what the CA sends back on the token with\n"
"'p11smime import-cert'.\n"
"\n"
"  --key URI        the key (see 'p11smime keys'); it must be allowed to sign\n"
"  --email ADDR     the e-mail address to certify\n"
"  --name NAME      the subject's common name (default: the address)\n"
"  -o, --output OUT the output file (default: standard output), written\n"
"                   atomically\n";

static const char import_cert_usage[] =
"Usage: p11smime import-cert FILE [--token URI] [--email ADDR] [--pin-source SRC] [--json]\n"
"\n"
"Put the certificate your CA issued (FILE: PEM, DER or PKCS#7) on the token,\n"
"next to its private key: the key whose public key it certifies, with the\n"
"key's CKA_ID and label. Issuer certificates in FILE go on as CA\n"
"certificates when the token lacks them. A certificate that matches no key\n"
"on the token is refused (exit 1), and so is one that does not carry ADDR\n"
"when --email is given; otherwise the addresses it carries are shown.\n"
"Prints the key's pkcs11: URI (--json: what was done, as one JSON object).\n"
"\n"
"  --token URI   the token (default: the only writable token present)\n"
"  --email ADDR  the address the certificate must carry (the one you asked for)\n";

enum {
	OPT_LABEL = 2000, OPT_PASS_SOURCE, OPT_TYPE, OPT_USAGE, OPT_ALWAYS_AUTH, OPT_KEY,
	OPT_EMAIL, OPT_NAME
};

/* The options of the four commands: each accepts those its table names. */
struct prov_opts {
	const char *token_uri, *label, *pass_spec, *type, *usage, *key_uri, *email, *name;
	const char *outpath;
	int always_auth;
	int json;
	const char *file;           /* the one FILE argument of the import commands */
};

/* Parse cmd's options (its table opts, short options shortopts) into o,
 * and its one FILE argument when want_file. Returns -1 to go on, or the
 * exit status to end with (--help, a usage error). */
static int
parse_options(struct psm_cli *cli, const char *cmd, const char *usage, const struct option *opts,
              const char *shortopts, int want_file, int argc, char **argv, struct prov_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg))
			continue;
		switch (c) {
		case PSM_OPT_TOKEN: o->token_uri = optarg; break;
		case OPT_LABEL: o->label = optarg; break;
		case OPT_PASS_SOURCE: o->pass_spec = optarg; break;
		case OPT_TYPE: o->type = optarg; break;
		case OPT_USAGE: o->usage = optarg; break;
		case OPT_ALWAYS_AUTH: o->always_auth = 1; break;
		case OPT_KEY: o->key_uri = optarg; break;
		case OPT_EMAIL: o->email = optarg; break;
		case OPT_NAME: o->name = optarg; break;
		case 'o': o->outpath = optarg; break;
		case PSM_OPT_JSON: o->json = 1; psm_cli_json_errors(); break;
		case 'h':
			fputs(usage, stdout);
			return PSM_EXIT_OK;
		default:
			return psm_cli_usage_error(cmd, "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (want_file && optind + 1 != argc)
		return psm_cli_usage_error(cmd, optind >= argc ? "which file?" : "one file at a time");
	if (!want_file && optind < argc)
		return psm_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	o->file = want_file ? argv[optind] : NULL;
	if (o->label != NULL && *o->label == '\0')
		return psm_cli_usage_error(cmd, "--label must not be empty");
	return -1;
}

static const char *
type_text(const psm_provision_result *res)
{
	return res->type == PSM_KEY_EC ? "EC" : res->type == PSM_KEY_RSA ? "RSA" : "other";
}

/* What was done, for a person (stderr), and the key's URI (stdout); or,
 * with --json, all of it as one object on stdout. */
static int
report(const char *done, const psm_slot_info *slot, const psm_provision_result *res, int json)
{
	if (json) {
		psm_json j;

		psm_json_init(&j, stdout);
		psm_json_begin_object(&j);
		psm_json_kv_string(&j, "done", done);
		psm_json_kv_string(&j, "token", slot->label);
		psm_json_kv_string(&j, "key", res->key_uri);
		psm_json_kv_string(&j, "certificate", res->cert_uri);
		psm_json_kv_string(&j, "label", res->label);
		psm_json_kv_string(&j, "id", res->id_hex);
		psm_json_kv_string(&j, "type", type_text(res));
		psm_json_kv_bool(&j, "sign", res->can_sign);
		psm_json_kv_bool(&j, "decrypt", res->can_decrypt);
		psm_json_kv_int(&j, "ca_certificates_added", (long long)res->cas_added);
		psm_json_kv_int(&j, "ca_certificates_present", (long long)res->cas_present);
		psm_json_end_object(&j);
		return fflush(stdout) == 0 ? PSM_EXIT_OK : PSM_EXIT_INTERNAL;
	}
	fprintf(stderr, "p11smime: %s on token '%s': %s key '%s', id %s, for %s%s%s\n", done,
	        slot->label, type_text(res), res->label, res->id_hex,
	        res->can_sign ? "signing" : "", res->can_sign && res->can_decrypt ? " and " : "",
	        !res->can_decrypt ? "" : res->type == PSM_KEY_EC ? "key agreement" : "decryption");
	if (res->cas_added > 0 || res->cas_present > 0)
		fprintf(stderr, "p11smime: CA certificates: %zu added, %zu on the token already\n",
		        res->cas_added, res->cas_present);
	printf("%s\n", res->key_uri);
	return fflush(stdout) == 0 ? PSM_EXIT_OK : PSM_EXIT_INTERNAL;
}

/* Open the modules and find the token to write to. */
static int
open_token(struct psm_cli *cli, const char *token_uri, psm_p11 **p11, const psm_slot_info **slot)
{
	int r;

	if (token_uri != NULL && (r = psm_p11_check_uri(token_uri)) < 0)
		return r;
	if ((r = psm_cli_open_p11(cli, p11)) < 0 || (r = psm_p11_scan(*p11)) < 0)
		return r;
	return psm_p11_writable_token(*p11, token_uri, slot);
}

/* ---- import-p12 ----------------------------------------------------------- */

/* The password of the file, read and used by psm_p12_read(). A source
 * that cannot give one is a usage error, as for a missing file. */
static int
read_p12(const char *path, const char *pass_spec, psm_p12 **p12)
{
	psm_pin_source *pass = NULL;
	char why[512];
	int r;

	if (pass_spec != NULL) {
		if ((r = psm_pin_source_parse(pass_spec, &pass)) < 0)
			goto out;
		psm_pin_source_set_prompt(pass, psm_cli_tty_prompt, NULL);
	}
	r = psm_p12_read(path, pass, p12);
out:
	if (r == PSM_ERR_PIN_SOURCE || r == PSM_ERR_PIN_UNSAFE || r == PSM_ERR_PIN_CANCELLED ||
	    (r == PSM_ERR_USAGE && pass == NULL && pass_spec != NULL)) {
		snprintf(why, sizeof(why), "%s", psm_error_detail());
		psm_error_set("--pass-source: %s", why);
		r = PSM_ERR_USAGE;
	}
	psm_pin_source_free(pass);
	return r;
}

/* The label a key from a PKCS#12 file gets when none is given: its
 * friendly name, else the certificate's first e-mail address. */
static int
default_label(const psm_p12 *p12, char **out)
{
	psm_certinfo *ci = NULL;
	int r;

	*out = NULL;
	if (p12->friendly_name != NULL && *p12->friendly_name != '\0')
		*out = strdup(p12->friendly_name);
	else if ((r = psm_certinfo_new(p12->cert, &ci)) < 0)
		return r;
	else if (ci->emails[0] != NULL)
		*out = strdup(ci->emails[0]);
	else {
		psm_certinfo_free(ci);
		psm_error_set("the file names no label and its certificate no e-mail address; "
		              "give one with --label");
		return PSM_ERR_USAGE;
	}
	psm_certinfo_free(ci);
	return *out != NULL ? 0 : PSM_ERR_NOMEM;
}

int
psm_cmd_import_p12(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "token", required_argument, NULL, PSM_OPT_TOKEN },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "pass-source", required_argument, NULL, OPT_PASS_SOURCE },
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const psm_slot_info *slot = NULL;
	struct prov_opts o;
	psm_provision_result res;
	psm_p11 *p11 = NULL;
	psm_p12 *p12 = NULL;
	char *dflt = NULL;
	int r;

	if ((r = parse_options(cli, "import-p12", import_p12_usage, opts, "h", 1, argc, argv, &o)) >= 0)
		return r;
	memset(&res, 0, sizeof(res));
	/* the file first: a wrong password touches no token */
	if ((r = read_p12(o.file, o.pass_spec, &p12)) < 0)
		goto out;
	if (o.label == NULL && (r = default_label(p12, &dflt)) < 0)
		goto out;
	if ((r = open_token(cli, o.token_uri, &p11, &slot)) < 0 ||
	    (r = psm_p11_import_keypair(p11, slot, p12->key, p12->cert, p12->others,
	                                o.label != NULL ? o.label : dflt, &res)) < 0)
		goto out;
	r = report(res.cert_present ? "key put next to its certificate"
	           : "key and certificate put", slot, &res, o.json);
out:
	psm_provision_result_clear(&res);
	psm_p11_free(p11);
	psm_p12_free(p12);
	free(dflt);
	return r < 0 ? psm_cli_fail(r) : r;
}

/* ---- keygen --------------------------------------------------------------- */

static int
parse_type(const char *s, psm_keygen_params *kp)
{
	static const struct { const char *name; psm_key_type type; unsigned bits;
	                      const char *curve; } types[] = {
		{ "rsa:2048", PSM_KEY_RSA, 2048, NULL },
		{ "rsa:3072", PSM_KEY_RSA, 3072, NULL },
		{ "rsa:4096", PSM_KEY_RSA, 4096, NULL },
		{ "ec:p256", PSM_KEY_EC, 0, "P-256" },
		{ "ec:p384", PSM_KEY_EC, 0, "P-384" },
		{ "ec:p521", PSM_KEY_EC, 0, "P-521" },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(s, types[i].name) == 0) {
			kp->type = types[i].type;
			kp->bits = types[i].bits;
			kp->curve = types[i].curve;
			return 1;
		}
	}
	return 0;
}

int
psm_cmd_keygen(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "token", required_argument, NULL, PSM_OPT_TOKEN },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "usage", required_argument, NULL, OPT_USAGE },
		{ "always-auth", no_argument, NULL, OPT_ALWAYS_AUTH },
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const psm_slot_info *slot = NULL;
	struct prov_opts o;
	psm_provision_result res;
	psm_keygen_params kp;
	psm_p11 *p11 = NULL;
	int r;

	if ((r = parse_options(cli, "keygen", keygen_usage, opts, "h", 0, argc, argv, &o)) >= 0)
		return r;
	memset(&res, 0, sizeof(res));
	memset(&kp, 0, sizeof(kp));
	if (o.type == NULL || !parse_type(o.type, &kp))
		return psm_cli_usage_error("keygen", "--type must be rsa:2048, rsa:3072, rsa:4096, "
		                           "ec:p256, ec:p384 or ec:p521");
	if (o.label == NULL)
		return psm_cli_usage_error("keygen", "give the new key a --label");
	if (o.usage == NULL)
		o.usage = "both";
	kp.label = o.label;
	kp.always_auth = o.always_auth;
	kp.sign = strcmp(o.usage, "sign") == 0 || strcmp(o.usage, "both") == 0;
	kp.decrypt = strcmp(o.usage, "decrypt") == 0 || strcmp(o.usage, "both") == 0;
	if (!kp.sign && !kp.decrypt)
		return psm_cli_usage_error("keygen", "--usage must be sign, decrypt or both");
	if ((r = open_token(cli, o.token_uri, &p11, &slot)) < 0 ||
	    (r = psm_p11_generate_keypair(p11, slot, &kp, &res)) < 0)
		goto out;
	r = report("key pair generated", slot, &res, o.json);
	if (r == PSM_EXIT_OK && kp.sign)
		fprintf(stderr, "p11smime: next, ask your CA for a certificate: p11smime csr --key "
		        "'%s' --email ADDRESS -o request.pem\n", res.key_uri);
out:
	psm_provision_result_clear(&res);
	psm_p11_free(p11);
	return r < 0 ? psm_cli_fail(r) : r;
}

/* ---- csr ------------------------------------------------------------------ */

int
psm_cmd_csr(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "key", required_argument, NULL, OPT_KEY },
		{ "email", required_argument, NULL, OPT_EMAIL },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const psm_key_info *info;
	struct prov_opts o;
	psm_csr_params cp;
	psm_outfile *out = NULL;
	psm_key *key = NULL;
	psm_p11 *p11 = NULL;
	char *pem = NULL;
	size_t pem_len = 0;
	int r;

	if ((r = parse_options(cli, "csr", csr_usage, opts, "ho:", 0, argc, argv, &o)) >= 0)
		return r;
	if (o.key_uri == NULL || o.email == NULL)
		return psm_cli_usage_error("csr", "give the key (--key URI) and the address to "
		                           "certify (--email ADDR)");
	memset(&cp, 0, sizeof(cp));
	cp.email = o.email;
	cp.name = o.name;
	if ((r = psm_p11_check_uri(o.key_uri)) < 0 || (r = psm_cli_open_p11(cli, &p11)) < 0 ||
	    (r = psm_p11_scan(p11)) < 0 || (r = psm_p11_load_key(p11, o.key_uri, &key)) < 0)
		goto out;
	info = psm_key_get_info(key);
	if (!info->can_sign) {
		psm_error_set("the key %s may not sign, so it cannot sign its own certificate "
		              "request; make one with --usage both or sign", o.key_uri);
		r = PSM_ERR_KEY_USAGE;
		goto out;
	}
	cp.sign = 1;
	cp.encrypt = info->type == PSM_KEY_EC ? info->can_derive : info->can_decrypt;
	if ((r = psm_csr_make(psm_key_pkey(key), &cp, &pem, &pem_len)) < 0 ||
	    (r = psm_outfile_open(o.outpath, 0, &out)) < 0 ||
	    (r = psm_outfile_write(out, pem, pem_len)) < 0 ||
	    (r = psm_outfile_commit(out)) < 0)
		goto out;
	r = 0;
out:
	psm_outfile_free(out);
	free(pem);
	psm_key_free(key);
	psm_p11_free(p11);
	return r < 0 ? psm_cli_fail(r) : PSM_EXIT_OK;
}

/* ---- import-cert ---------------------------------------------------------- */

/* The end-entity certificate of a file from a CA (moved out of *certs;
 * what is left is its chain). */
static int
take_leaf(STACK_OF(X509) *certs, const char *path, X509 **leaf)
{
	int i, found = -1;

	*leaf = NULL;
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (X509_check_ca(sk_X509_value(certs, i)) > 0)
			continue;
		if (found >= 0) {
			psm_error_set("%s holds several end-entity certificates; give one at a time", path);
			return PSM_ERR_USAGE;
		}
		found = i;
	}
	ERR_clear_error();
	if (found < 0) {
		psm_error_set("%s holds only CA certificates, no certificate for a key of yours", path);
		return PSM_ERR_USAGE;
	}
	*leaf = sk_X509_delete(certs, found);
	return 0;
}

/* Does the certificate fit the key for S/MIME? Warnings, not refusals:
 * the CA decided, and the key is the user's. */
static void
smime_warnings(X509 *cert, const psm_certinfo *ci, const psm_provision_result *res)
{
	uint32_t ku = X509_get_key_usage(cert), xku = X509_get_extended_key_usage(cert);
	time_t now = time(NULL);
	size_t i;

	if (ci->emails[0] == NULL)
		fprintf(stderr, "p11smime: warning: the certificate carries no e-mail address: "
		        "mail programs cannot tell it is yours, and sign needs --key\n");
	for (i = 0; ci->emails[i] != NULL; i++)
		fprintf(stderr, "p11smime: the certificate is for %s\n", ci->emails[i]);
	if (!(xku & (XKU_SMIME | XKU_ANYEKU)))
		fprintf(stderr, "p11smime: warning: the certificate is not for e-mail protection "
		        "(extendedKeyUsage); other programs will refuse it for S/MIME\n");
	if (res->can_sign && !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)))
		fprintf(stderr, "p11smime: warning: the certificate does not allow signing\n");
	if (res->can_decrypt && !(ku & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)))
		fprintf(stderr, "p11smime: warning: the certificate does not allow encrypting "
		        "to it\n");
	if (ci->not_after != 0 && now > ci->not_after)
		fprintf(stderr, "p11smime: warning: the certificate has expired\n");
	else if (ci->not_before != 0 && now < ci->not_before)
		fprintf(stderr, "p11smime: warning: the certificate is not valid yet\n");
	ERR_clear_error();
}

static int
carries(const psm_certinfo *ci, const char *email)
{
	size_t i;

	for (i = 0; ci->emails[i] != NULL; i++)
		if (strcasecmp(ci->emails[i], email) == 0)
			return 1;
	return 0;
}

int
psm_cmd_import_cert(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "token", required_argument, NULL, PSM_OPT_TOKEN },
		{ "email", required_argument, NULL, OPT_EMAIL },
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const psm_slot_info *slot = NULL;
	struct prov_opts o;
	psm_provision_result res;
	STACK_OF(X509) *certs = NULL;
	psm_certinfo *ci = NULL;
	psm_p11 *p11 = NULL;
	X509 *leaf = NULL;
	int r, rc = PSM_EXIT_OK;

	if ((r = parse_options(cli, "import-cert", import_cert_usage, opts, "h", 1, argc, argv,
	                       &o)) >= 0)
		return r;
	memset(&res, 0, sizeof(res));
	if ((r = psm_certfile_read(o.file, &certs)) < 0 ||
	    (r = take_leaf(certs, o.file, &leaf)) < 0 ||
	    (r = psm_certinfo_new(leaf, &ci)) < 0)
		goto out;
	if (o.email != NULL && !carries(ci, o.email)) {
		fprintf(stderr, "p11smime: the certificate in %s is not for %s (it is for %s); "
		        "nothing was written\n", o.file, o.email,
		        ci->emails[0] != NULL ? ci->emails[0] : "no e-mail address");
		rc = PSM_EXIT_CHECK_FAILED;
		goto out;
	}
	if ((r = open_token(cli, o.token_uri, &p11, &slot)) < 0)
		goto out;
	r = psm_p11_import_cert(p11, slot, leaf, certs, &res);
	if (r == PSM_ERR_NOT_FOUND) {
		/* a certificate for another key: a check that failed */
		psm_cli_fail(r);
		rc = PSM_EXIT_CHECK_FAILED;
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	smime_warnings(leaf, ci, &res);
	rc = report(res.cert_present ? "the certificate was there already"
	            : "certificate put next to its key", slot, &res, o.json);
out:
	psm_provision_result_clear(&res);
	psm_certinfo_free(ci);
	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
	psm_p11_free(p11);
	return r < 0 ? psm_cli_fail(r) : rc;
}
