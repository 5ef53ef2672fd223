/* p11smime: the command line's shared state. Only cli/ prints or exits. */
#ifndef P11SMIME_CLI_H
#define P11SMIME_CLI_H

#include "p11smime.h"
#include "message.h"
#include "output.h"
#include "settings.h"
#include "directory.h"
#include "store.h"

#include <time.h>

/* Exit codes of the command-line contract (DESIGN.md). */
enum {
	PSM_EXIT_OK = 0,
	PSM_EXIT_CHECK_FAILED = 1,  /* bad signature, no matching key, ... */
	PSM_EXIT_USAGE = 2,         /* usage error or malformed input */
	PSM_EXIT_TOKEN = 3,         /* token, module or PIN problem */
	PSM_EXIT_INTERNAL = 4
};

/* Global options, parsed before the command name. */
struct psm_cli {
	const char *modules[8];     /* --module, repeatable */
	int nmodules;
	int too_many_modules;
	const char *pin_source;     /* --pin-source */
	int allow_last_try;         /* --allow-last-pin-try */
	psm_pin_source *pin;        /* parsed pin source or NULL */
	psm_settings *settings;     /* the settings file, once read */
};

/* The settings file (read on first use). PSM_ERR_USAGE for a bad one. */
int psm_cli_settings(struct psm_cli *cli, const psm_settings **out);

/* Append the settings file's anchors to files[*n] (room for max). */
int psm_cli_setting_anchors(struct psm_cli *cli, const char **files, size_t *n, size_t max);

/* Options every command accepts as well as the global position. */
enum { PSM_OPT_MODULE = 1000, PSM_OPT_PIN_SOURCE, PSM_OPT_ALLOW_LAST, PSM_OPT_JSON,
       PSM_OPT_TOKEN, PSM_OPT_DIRECTORY, PSM_OPT_DIRECTORY_BIND_DN, PSM_OPT_DIRECTORY_PASSWORD,
       PSM_OPT_DIRECTORY_CA, PSM_OPT_ANCHORS, PSM_OPT_AT, PSM_OPT_ALLOW_WEAK, PSM_OPT_NO_FROM_CHECK, PSM_OPT_KEEP_SIGNED, PSM_OPT_REVOCATION,
       PSM_OPT_CRL, PSM_OPT_NO_AIA, PSM_OPT_KEY, PSM_OPT_OPAQUE, PSM_OPT_DIGEST, PSM_OPT_PSS,
       PSM_OPT_CERTFILE, PSM_OPT_REQUIRE_CHAIN };
#define PSM_CLI_GLOBAL_OPTIONS \
	{ "module", required_argument, NULL, PSM_OPT_MODULE }, \
	{ "pin-source", required_argument, NULL, PSM_OPT_PIN_SOURCE }, \
	{ "allow-last-pin-try", no_argument, NULL, PSM_OPT_ALLOW_LAST }

/* Whom to trust and how to check a chain: verify, decrypt, inspect,
 * encrypt and sign-encrypt (the last two without the time options). */
#define PSM_CLI_CHAIN_OPTIONS \
	{ "anchors", required_argument, NULL, PSM_OPT_ANCHORS }, \
	{ "revocation", required_argument, NULL, PSM_OPT_REVOCATION }, \
	{ "crl", required_argument, NULL, PSM_OPT_CRL }, \
	{ "no-aia", no_argument, NULL, PSM_OPT_NO_AIA }
#define PSM_CLI_TIME_OPTIONS \
	{ "at", required_argument, NULL, PSM_OPT_AT }, \
	{ "allow-weak", no_argument, NULL, PSM_OPT_ALLOW_WEAK }, \
	{ "no-from-check", no_argument, NULL, PSM_OPT_NO_FROM_CHECK }

struct psm_cli_trust {
	const char *anchors[16];
	size_t nanchors;
	const char *crls[16];
	size_t ncrls;
	time_t at;
	int allow_weak;
	int no_from_check;
	psm_revocation_params rp;
	psm_aia_params aia;
	/* from psm_cli_trust_open() */
	psm_store *store;
	X509_STORE *xs;
	char crl_dir[4096], aia_dir[4096];
	char err[256];              /* a bad option value, for the usage error */
	/* the tokens, for CA certificates when a chain needs them: the
	 * caller's (set p11 after open), or opened on first need */
	struct psm_cli *cli;
	psm_p11 *p11;
	psm_p11 *own_p11;
	int p11_tried;
};

void psm_cli_trust_init(struct psm_cli_trust *t);
/* 1 when c was one of the options above, 0 when not, -1 for a bad value
 * (t->err says why). */
int psm_cli_trust_option(struct psm_cli_trust *t, int c, const char *arg);
/* The settings file's anchors and revocation policy, the store, the
 * anchors, the CRLs; and vp (may be NULL) pointed at them. */
int psm_cli_trust_open(struct psm_cli *cli, struct psm_cli_trust *t, psm_verify_params *vp);
void psm_cli_trust_clear(struct psm_cli_trust *t);

/* The LDAP directory options of encrypt, sign-encrypt and certs find. */
#define PSM_CLI_DIRECTORY_OPTIONS \
	{ "directory", required_argument, NULL, PSM_OPT_DIRECTORY }, \
	{ "directory-bind-dn", required_argument, NULL, PSM_OPT_DIRECTORY_BIND_DN }, \
	{ "directory-password-source", required_argument, NULL, PSM_OPT_DIRECTORY_PASSWORD }, \
	{ "directory-ca", required_argument, NULL, PSM_OPT_DIRECTORY_CA }

struct psm_cli_dir_opts {
	const char *urls[16];
	size_t n;
	int too_many;
	const char *bind_dn, *pw_src, *ca_file;
};

/* Handle one of PSM_CLI_DIRECTORY_OPTIONS; returns 1 when c was one. */
int psm_cli_directory_option(struct psm_cli_dir_opts *o, int c, const char *arg);

/* The directories of o (or, when o names none, of the settings file),
 * bound with the password from its source (read and wiped here), warnings
 * to standard error. */
int psm_cli_open_directories(struct psm_cli *cli, const struct psm_cli_dir_opts *o,
                             psm_directories **out);

/* Handle one of PSM_CLI_GLOBAL_OPTIONS; returns 1 when c was one. */
int psm_cli_global_option(struct psm_cli *cli, int c, const char *arg);

/* Map an error to the contract's exit code. */
int psm_cli_exit_code(int err);

/* Print "p11smime: <sentence>" for err (with the library's detail) to
 * stderr and return the exit code. */
int psm_cli_fail(int err);
/* From now on (a command's --json), failures are one JSON object on
 * standard error instead of a line: {"error": SENTENCE, "exit": N,
 * "kind": "check"|"usage"|"token"|"internal"}. */
void psm_cli_json_errors(void);

/* Print a usage error for cmd and return PSM_EXIT_USAGE. */
int psm_cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Open the modules and set the PIN policy from the global options. */
int psm_cli_open_p11(struct psm_cli *cli, psm_p11 **out);

/* Open IN (NULL or "-" is standard input). */
int psm_cli_open_input(const char *path, int *fd);

/* A signing key loaded for sign and sign-encrypt, with what goes along. */
struct psm_signer_setup {
	STACK_OF(X509) *pool;       /* --certfile certificates, then the token's issuers */
	STACK_OF(X509) *chain;
	char *found_uri;
	psm_key *key;
	X509 *enc_cert;
	int require_chain;          /* refuse to sign when the chain sent stops short */
	char *missing;              /* what the chain sent lacks, or NULL */
};

/* The signing options of sign and sign-encrypt. */
#define PSM_CLI_SIGN_OPTIONS \
	{ "key", required_argument, NULL, PSM_OPT_KEY }, \
	{ "opaque", no_argument, NULL, PSM_OPT_OPAQUE }, \
	{ "digest", required_argument, NULL, PSM_OPT_DIGEST }, \
	{ "pss", no_argument, NULL, PSM_OPT_PSS }, \
	{ "certfile", required_argument, NULL, PSM_OPT_CERTFILE }, \
	{ "require-chain", no_argument, NULL, PSM_OPT_REQUIRE_CHAIN }

/* Handle one of PSM_CLI_SIGN_OPTIONS: 1 when c was one, 0 when not, or a
 * psm_err (a bad --digest is PSM_ERR_USAGE; a --certfile that cannot be
 * read, with a detail). */
int psm_cli_sign_option(struct psm_signer_setup *ss, psm_sign_params *sp, const char **key_uri,
                        int c, const char *arg);

/* Load the signing key (key_uri, or the one for the From: address), its
 * chain and encryption key preference into ss, and point sp at them. The
 * chain is completed from the token, --certfile, t's store and anchors,
 * and AIA under t's settings; when it still stops short of a root, a
 * warning (or, with --require-chain, PSM_ERR_VERIFY) says what is missing. */
struct psm_cli_trust;
int psm_cli_signer_load(struct psm_cli *cli, psm_p11 *p11, psm_msg *msg, const char *key_uri,
                        const struct psm_cli_trust *t, struct psm_signer_setup *ss,
                        psm_sign_params *sp);
void psm_signer_setup_clear(struct psm_signer_setup *ss);
/* The signer, as the "signer" member of a --json result. */
void psm_cli_signer_json(psm_json *j, const struct psm_signer_setup *ss,
                         const psm_sign_params *sp, const char *key_uri);
/* The settings file's key and digest where the options gave none. */
int psm_cli_sign_settings(struct psm_cli *cli, const char **key_uri, psm_sign_params *sp);

/* RFC 3339 (2020-02-19T20:39:07Z, or with an offset) or @EPOCH. */
int psm_cli_parse_time(const char *s, time_t *out);

/* psm_verify_params.more_certs over the store (ud): its certificates. */
int psm_cli_store_certs(void *ud, STACK_OF(X509) **more);

/* "signed by ADDRESS, trusted" or "NOT validly signed (REASON)": the
 * signature part of a verdict line, in buf. */
const char *psm_cli_signature_verdict(const psm_verify_result *res, char *buf, size_t len);

/* The verification result for a person (stderr) and as a JSON object. */
void psm_cli_verify_summary(const psm_verify_result *res, const char *from);
void psm_cli_verify_json(psm_json *j, const psm_verify_result *res, const char *from);

int psm_cmd_tokens(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_sign(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_verify(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_keys(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_encrypt(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_decrypt(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_certs(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_inspect(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_import_p12(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_keygen(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_csr(struct psm_cli *cli, int argc, char **argv);
int psm_cmd_import_cert(struct psm_cli *cli, int argc, char **argv);

#endif
