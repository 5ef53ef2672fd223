/* p11smime certs: the user's certificate store (people to encrypt to,
 * CAs to trust). */
#include "config.h"

#include "cli.h"
#include "chain.h"
#include "directory.h"
#include "recipient.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

static const char certs_usage[] =
"Usage: p11smime certs list [--trusted] [--json]\n"
"       p11smime certs import FILE...\n"
"       p11smime certs export WHICH [-o OUT]\n"
"       p11smime certs find ADDR [--directory URL]... [--json]\n"
"       p11smime certs remove WHICH\n"
"       p11smime certs trust FILE... | WHICH\n"
"       p11smime certs untrust WHICH\n"
"\n"
"The certificate store in $P11SMIME_HOME (default $XDG_DATA_HOME/p11smime,\n"
"else ~/.local/share/p11smime):\n"
"certificates of people to encrypt to (filled by 'verify' and by import),\n"
"and the CA certificates you trust as anchors ('trust', the \"always\n"
"trust\" of a mail program). WHICH is an e-mail address or the start of a\n"
"SHA-256 fingerprint (as 'list' shows it, at least 8 hex digits).\n"
"\n"
"  list             remembered certificates (--trusted: the trusted ones)\n"
"  import FILE...   remember the certificates in FILE (PEM or DER)\n"
"  export WHICH     write the certificates as PEM\n"
"  find ADDR        the certificates for ADDR on the tokens, in the store and\n"
"                   in the LDAP directories given by --directory URL (asked\n"
"                   now, not from the cache; --directory-bind-dn,\n"
"                   --directory-password-source and --directory-ca as for\n"
"                   'p11smime encrypt')\n"
"  remove WHICH     forget certificates (and trust in them)\n"
"  trust            make a CA certificate (from FILE, or remembered) an anchor\n"
"  untrust WHICH    stop trusting it\n"
"\n"
"  --trusted        for list: only the trusted certificates\n"
"  --json           for list and find: one JSON document for scripts\n"
"  -o, --output OUT for export: the file to write (default: standard output)\n";

/* Read every certificate of a PEM or DER file. */
static int
load_file(const char *path, STACK_OF(X509) **out)
{
	BIO *b;
	X509 *x;
	int r;

	*out = NULL;
	if ((r = psm_chain_load_pem(path, out)) == 0)
		return 0;
	sk_X509_pop_free(*out, X509_free);
	*out = NULL;
	ERR_clear_error();
	if (r == PSM_ERR_IO)   /* the detail says why it cannot be read */
		return r;
	if ((b = BIO_new_file(path, "rb")) == NULL) {
		psm_error_set("cannot read %s", path);
		ERR_clear_error();
		return PSM_ERR_IO;
	}
	x = d2i_X509_bio(b, NULL);
	BIO_free(b);
	if (x == NULL || (*out = sk_X509_new_null()) == NULL || !sk_X509_push(*out, x)) {
		X509_free(x);
		ERR_clear_error();
		psm_error_set("%s holds no certificate (PEM or DER expected)", path);
		return PSM_ERR_MALFORMED;
	}
	return 0;
}

static void
print_cert(psm_json *j, X509 *x, const char *where)
{
	psm_certinfo *ci = NULL;
	char fp[80] = "", t[32];
	size_t i;

	psm_store_fingerprint(x, fp);
	if (psm_certinfo_new(x, &ci) < 0)
		return;
	if (j != NULL) {
		psm_json_begin_object(j);
		psm_json_kv_string(j, "fingerprint", fp);
		psm_json_kv_string(j, "subject", ci->subject);
		psm_json_kv_string(j, "issuer", ci->issuer);
		psm_json_key(j, "emails");
		psm_json_begin_array(j);
		for (i = 0; ci->emails != NULL && ci->emails[i] != NULL; i++)
			psm_json_string(j, ci->emails[i]);
		psm_json_end_array(j);
		psm_json_key(j, "not_after");
		psm_json_time(j, ci->not_after);
		psm_json_kv_bool(j, "expired", ci->not_after < time(NULL));
		psm_json_kv_string(j, "where", where);
		psm_json_end_object(j);
	} else {
		printf("%.16s  %s\n", fp, ci->subject);
		for (i = 0; ci->emails != NULL && ci->emails[i] != NULL; i++)
			printf("                  %s\n", ci->emails[i]);
		printf("                  valid until %s%s%s%s\n", psm_fmt_time(ci->not_after, t, sizeof(t)),
		       ci->not_after < time(NULL) ? " (EXPIRED)" : "", where != NULL ? ", " : "",
		       where != NULL ? where : "");
	}
	psm_certinfo_free(ci);
}

static void
print_list(STACK_OF(X509) *sk, int json, const char *where)
{
	psm_json j;
	int i;

	if (json) {
		psm_json_init(&j, stdout);
		psm_json_begin_array(&j);
	}
	for (i = 0; i < sk_X509_num(sk); i++)
		print_cert(json ? &j : NULL, sk_X509_value(sk, i), where);
	if (json)
		psm_json_end_array(&j);
}

/* The store's certificates WHICH names (an address or a fingerprint
 * prefix); trusted = 1 looks among the trusted ones. */
static int
select_certs(psm_store *st, const char *which, int trusted, STACK_OF(X509) **out)
{
	STACK_OF(X509) *all = NULL;
	size_t wl = strlen(which);
	int i, r, by_email = strchr(which, '@') != NULL;

	*out = NULL;
	if (!by_email && (wl < 8 || strspn(which, "0123456789abcdefABCDEF") != wl)) {
		psm_error_set("'%s' is neither an e-mail address nor a fingerprint (8 or more hex "
		              "digits, see 'p11smime certs list')", which);
		return PSM_ERR_USAGE;
	}
	if (by_email && !trusted)
		r = psm_store_find_email(st, which, out);
	else if ((r = psm_store_list(st, trusted, &all, NULL)) == 0 &&
	         (*out = sk_X509_new_null()) == NULL)
		r = PSM_ERR_NOMEM;
	for (i = 0; r == 0 && all != NULL && i < sk_X509_num(all); i++) {
		X509 *x = sk_X509_value(all, i);
		char fp[80];

		if (psm_store_fingerprint(x, fp) < 0 || strncasecmp(fp, which, wl) != 0)
			continue;
		if (!X509_up_ref(x) || !sk_X509_push(*out, x))
			r = PSM_ERR_NOMEM;
	}
	sk_X509_pop_free(all, X509_free);
	if (r == 0 && sk_X509_num(*out) == 0) {
		psm_error_set("no certificate in the store matches '%s'; 'p11smime certs list' shows "
		              "what is there", which);
		r = PSM_ERR_NOT_FOUND;
	}
	if (r < 0) {
		sk_X509_pop_free(*out, X509_free);
		*out = NULL;
	}
	return r;
}

/* What each directory has for addr, asked now; one that fails is a
 * warning, and its reason is added to failed (for a later error line).
 * *total counts the certificates. */
static int
ask_directories(psm_directories *dirs, const char *addr, STACK_OF(X509) **found, int *total,
                char *failed, size_t failed_len)
{
	size_t i, n;
	int r;

	failed[0] = '\0';
	for (i = 0; i < psm_directories_count(dirs); i++) {
		if ((r = psm_directories_search(dirs, i, addr, &found[i])) == PSM_ERR_NOMEM ||
		    r == PSM_ERR_USAGE)
			return r;
		if (r < 0) {
			fprintf(stderr, "p11smime: warning: %s\n", psm_error_detail());
			n = strlen(failed);
			snprintf(failed + n, failed_len - n, "%s%s", n > 0 ? "; " : "",
			         psm_error_detail());
		}
		if (found[i] != NULL)   /* sk_X509_num(NULL) is -1 */
			*total += sk_X509_num(found[i]);
	}
	return 0;
}

static int
certs_find(struct psm_cli *cli, psm_store *st, const char *addr, int json,
           const struct psm_cli_dir_opts *dopts)
{
	STACK_OF(X509) *tok = NULL, *mine = NULL, *far[16] = { NULL };
	psm_directories *dirs = NULL;
	psm_p11 *p11 = NULL;
	psm_json j;
	char failed[600];
	size_t i;
	int r, k, total = 0;

	if ((r = psm_cli_open_directories(cli, dopts, &dirs)) < 0 ||
	    (r = psm_cli_open_p11(cli, &p11)) < 0 || (r = psm_p11_scan(p11)) < 0 ||
	    (r = psm_p11_find_encryption_certs(p11, addr, &tok)) < 0 ||
	    (r = psm_store_find_email(st, addr, &mine)) < 0 ||
	    (r = ask_directories(dirs, addr, far, &total, failed, sizeof(failed))) < 0)
		goto out;
	/* nothing found is exit 1, whether every place was asked or one could
	 * not be (then the line says which, and why) */
	if (sk_X509_num(tok) + sk_X509_num(mine) + total == 0) {
		if (failed[0] != '\0')
			psm_error_set("no certificate for %s on the tokens, in the store or in the "
			              "directories that answered (%s); not asked: %s", addr,
			              psm_directories_names(dirs), failed);
		else if (psm_directories_count(dirs) > 0)
			psm_error_set("no certificate for %s on the tokens, in the store or in the "
			              "directories asked (%s)", addr, psm_directories_names(dirs));
		else
			psm_error_set("no certificate for %s on the tokens or in the store (ask a "
			              "directory with --directory, or import one with 'p11smime certs "
			              "import')", addr);
		r = PSM_ERR_VERIFY;
		goto out;
	}
	while (sk_X509_num(mine) > 0) {
		X509 *x = sk_X509_shift(mine);

		if (!sk_X509_push(tok, x)) {
			X509_free(x);
			r = PSM_ERR_NOMEM;
			goto out;
		}
	}
	if (json) {
		psm_json_init(&j, stdout);
		psm_json_begin_array(&j);
	}
	for (k = 0; k < sk_X509_num(tok); k++)
		print_cert(json ? &j : NULL, sk_X509_value(tok, k), NULL);
	for (i = 0; i < psm_directories_count(dirs); i++) {
		char where[1100];

		snprintf(where, sizeof(where), "directory %s", psm_directories_url(dirs, i));
		for (k = 0; k < sk_X509_num(far[i]); k++)
			print_cert(json ? &j : NULL, sk_X509_value(far[i], k), where);
	}
	if (json)
		psm_json_end_array(&j);
out:
	for (i = 0; i < sizeof(far) / sizeof(far[0]); i++)
		sk_X509_pop_free(far[i], X509_free);
	sk_X509_pop_free(tok, X509_free);
	sk_X509_pop_free(mine, X509_free);
	psm_directories_free(dirs);
	psm_p11_free(p11);
	return r;
}

static int
write_pem(STACK_OF(X509) *sk, const char *outpath)
{
	psm_outfile *out = NULL;
	int i, r;

	if ((r = psm_outfile_open(outpath, 0, &out)) < 0)
		return r;
	for (i = 0; r == 0 && i < sk_X509_num(sk); i++) {
		BIO *mem = BIO_new(BIO_s_mem());
		char *p;
		long n;

		if (mem == NULL || !PEM_write_bio_X509(mem, sk_X509_value(sk, i))) {
			BIO_free(mem);
			r = PSM_ERR_NOMEM;
			break;
		}
		n = BIO_get_mem_data(mem, &p);
		r = psm_outfile_write(out, p, (size_t)n);
		BIO_free(mem);
	}
	if (r == 0)
		r = psm_outfile_commit(out);
	psm_outfile_free(out);
	return r;
}

int
psm_cmd_certs(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "trusted", no_argument, NULL, 'T' },
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		{ "output", required_argument, NULL, 'o' },
		PSM_CLI_DIRECTORY_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct psm_cli_dir_opts dopts;
	const char *sub, *outpath = NULL;
	STACK_OF(X509) *sk = NULL;
	psm_store *st = NULL;
	int c, json = 0, trusted = 0, r = 0, i, k;

	memset(&dopts, 0, sizeof(dopts));
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg) ||
		    psm_cli_directory_option(&dopts, c, optarg))
			continue;
		switch (c) {
		case 'T': trusted = 1; break;
		case PSM_OPT_JSON: json = 1; psm_cli_json_errors(); break;
		case 'o': outpath = optarg; break;
		case 'h':
			fputs(certs_usage, stdout);
			return PSM_EXIT_OK;
		default:
			return psm_cli_usage_error("certs", "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return psm_cli_usage_error("certs", "which one: list, import, export, find, remove, "
		                           "trust or untrust?");
	sub = argv[optind++];
	if ((strcmp(sub, "list") == 0 && optind != argc) ||
	    ((strcmp(sub, "export") == 0 || strcmp(sub, "find") == 0 ||
	      strcmp(sub, "remove") == 0 || strcmp(sub, "untrust") == 0) && optind + 1 != argc) ||
	    ((strcmp(sub, "import") == 0 || strcmp(sub, "trust") == 0) && optind >= argc))
		return psm_cli_usage_error("certs", "wrong number of arguments for '%s'", sub);
	if ((dopts.n > 0 || dopts.bind_dn != NULL || dopts.pw_src != NULL || dopts.ca_file != NULL) &&
	    strcmp(sub, "find") != 0)
		return psm_cli_usage_error("certs", "the --directory options are for 'certs find'");
	/* an option that does nothing for this sub-command is refused, not ignored */
	if (trusted && strcmp(sub, "list") != 0)
		return psm_cli_usage_error("certs", "--trusted is for 'certs list'");
	if (json && strcmp(sub, "list") != 0 && strcmp(sub, "find") != 0)
		return psm_cli_usage_error("certs", "--json is for 'certs list' and 'certs find'");
	if (outpath != NULL && strcmp(sub, "export") != 0)
		return psm_cli_usage_error("certs", "-o is for 'certs export'");
	if ((r = psm_store_open(NULL, &st)) < 0)
		goto out;
	if (strcmp(sub, "list") == 0) {
		int skipped = 0;

		if ((r = psm_store_list(st, trusted, &sk, &skipped)) < 0)
			goto out;
		print_list(sk, json, trusted ? "trusted" : NULL);
		if (skipped > 0)
			fprintf(stderr, "p11smime: %d damaged entr%s in %s skipped\n", skipped,
			        skipped == 1 ? "y" : "ies", psm_store_path(st));
	} else if (strcmp(sub, "import") == 0 || (strcmp(sub, "trust") == 0 &&
	                                          access(argv[optind], F_OK) == 0)) {
		int trust = strcmp(sub, "trust") == 0;

		for (k = optind; k < argc; k++) {
			if ((r = load_file(argv[k], &sk)) < 0)
				goto out;
			for (i = 0; i < sk_X509_num(sk); i++) {
				X509 *x = sk_X509_value(sk, i);

				if ((r = trust ? psm_store_trust(st, x) : psm_store_remember(st, x, NULL, 0)) < 0)
					goto out;
				print_cert(NULL, x, trust ? "now trusted" : "imported");
			}
			sk_X509_pop_free(sk, X509_free);
			sk = NULL;
		}
	} else if (strcmp(sub, "trust") == 0) {
		if ((r = select_certs(st, argv[optind], 0, &sk)) < 0)
			goto out;
		for (i = 0; i < sk_X509_num(sk); i++) {
			if ((r = psm_store_trust(st, sk_X509_value(sk, i))) < 0)
				goto out;
			print_cert(NULL, sk_X509_value(sk, i), "now trusted");
		}
	} else if (strcmp(sub, "untrust") == 0) {
		if ((r = select_certs(st, argv[optind], 1, &sk)) < 0)
			goto out;
		for (i = 0; i < sk_X509_num(sk); i++)
			if ((r = psm_store_untrust(st, sk_X509_value(sk, i))) < 0)
				goto out;
	} else if (strcmp(sub, "export") == 0) {
		if ((r = select_certs(st, argv[optind], 0, &sk)) < 0 || (r = write_pem(sk, outpath)) < 0)
			goto out;
	} else if (strcmp(sub, "find") == 0) {
		r = certs_find(cli, st, argv[optind], json, &dopts);
	} else if (strcmp(sub, "remove") == 0) {
		if ((r = select_certs(st, argv[optind], 0, &sk)) < 0)
			goto out;
		for (i = 0; i < sk_X509_num(sk); i++) {
			if ((r = psm_store_forget(st, sk_X509_value(sk, i))) < 0)
				goto out;
			print_cert(NULL, sk_X509_value(sk, i), "removed");
		}
	} else {
		psm_store_free(st);
		return psm_cli_usage_error("certs", "unknown sub-command '%s'", sub);
	}
out:
	sk_X509_pop_free(sk, X509_free);
	psm_store_free(st);
	return r < 0 ? psm_cli_fail(r) : PSM_EXIT_OK;
}
