/* p11smime encrypt and sign-encrypt: encrypt a message to its recipients
 * (and the sender), signing it first on the token for sign-encrypt. */
#include "config.h"

#include "cli.h"
#include "chain.h"
#include "directory.h"
#include "message.h"
#include "progress.h"
#include "recipients.h"
#include "recipient.h"
#include "store.h"
#include "mime_header.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char encrypt_usage[] =
"Usage: p11smime encrypt [--recipient-cert FILE]... [--to ADDR]... [--cipher NAME]\n"
"                        [--oaep] [--anchors FILE]... [--revocation off|soft|hard]\n"
"                        [--crl FILE]... [--directory URL]...\n"
"                        [--directory-bind-dn DN --directory-password-source SRC]\n"
"                        [--directory-ca FILE] [--no-aia] [--json] [-o OUT] [IN]\n"
"       p11smime sign-encrypt [the options above] [--key URI] [--opaque]\n"
"                        [--digest NAME] [--pss] [--certfile FILE]... [--require-chain]\n"
"                        [-o OUT] [IN]\n"
"\n"
"Encrypt the RFC 5322 message IN (default: standard input) to its recipients\n"
"and write it to OUT (default: standard output; written only when everything\n"
"succeeded). The routing headers (From, To, Subject, Date, ...) stay outside;\n"
"the body with its Content-* headers is encrypted. sign-encrypt signs it on\n"
"the token first (see 'p11smime sign --help').\n"
"\n"
"Recipients: --recipient-cert and --to; with neither, the To, Cc and Bcc\n"
"addresses of the message. An address is looked up on the tokens, then in\n"
"the certificate store ('p11smime certs', filled by verify), then in the\n"
"LDAP directories given by --directory (answers are cached in the store:\n"
"a day, or ten minutes when nothing usable was found). The sender\n"
"(From:) is always added so they can read what they sent. A recipient\n"
"without a valid, trusted certificate for e-mail encryption stops\n"
"everything: nothing is sent to fewer people than asked.\n"
"\n"
"  --recipient-cert FILE  a recipient's certificate (PEM; more certificates\n"
"                   in the file are taken as its chain); repeatable\n"
"  --to ADDR        a recipient's address; repeatable\n"
"  --cipher NAME    aes-256-gcm (default), aes-128-gcm, aes-256-cbc, aes-128-cbc;\n"
"                   without it, AES-256-CBC is used when a recipient's\n"
"                   capabilities show they cannot read AES-GCM\n"
"  --oaep           RSAES-OAEP for RSA recipients (default: PKCS#1 v1.5, or OAEP\n"
"                   when the recipient announced it)\n"
"  --anchors FILE   trust anchors for the recipients' certificates (PEM;\n"
"                   repeatable), besides those you trusted and the system's\n"
"  --revocation off|soft|hard\n"
"                   check each recipient's certificate with OCSP and CRLs: a\n"
"                   revoked one is refused; when nobody can tell, soft (the\n"
"                   default) warns and hard refuses; off contacts nothing\n"
"  --crl FILE       a CRL (PEM or DER; repeatable), used before fetching one\n"
"  --no-aia         do not fetch a missing issuer of a recipient's certificate\n"
"                   from the URL the certificate names (AIA caIssuers; by\n"
"                   default fetched after the tokens and the store were asked)\n"
"  --directory URL  an LDAP directory to ask, ldap://HOST[:PORT]/BASE-DN or\n"
"                   ldaps://...; repeatable, asked in order. ldap:// uses\n"
"                   StartTLS when the server offers it (always, with the\n"
"                   URL extension !starttls: ldap://HOST/DN???" "?!starttls)\n"
"  --directory-bind-dn DN  bind as DN (default: anonymous) over TLS, with\n"
"  --directory-password-source SRC  the password from file:PATH (0600) or fd:N\n"
"  --directory-ca FILE  trust anchors (PEM) for the directories' TLS\n"
"                   certificates (default: OpenLDAP's ldap.conf TLS_CACERT)\n"
"  --json           what was done, as one JSON object on standard output\n"
"                   (then -o OUT is needed); a failure is one JSON object on\n"
"                   standard error\n"
"  -o, --output OUT the output file\n";

#define MAX_RCPT 256


struct rcpt_set {
	psm_recipient r[MAX_RCPT];
	char *who[MAX_RCPT];
	size_t n;
	STACK_OF(X509) *pool;       /* untrusted certificates for chains */
};

static void
rcpt_set_free(struct rcpt_set *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		X509_free(rs->r[i].cert);
		free(rs->who[i]);
	}
	sk_X509_pop_free(rs->pool, X509_free);
}

/* Add cert (a new reference is taken) unless it is there already. */
static int
rcpt_add(struct rcpt_set *rs, X509 *cert, const char *who)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (X509_cmp(rs->r[i].cert, cert) == 0)
			return 0;
	if (rs->n == MAX_RCPT) {
		psm_error_set("more than %d recipients", MAX_RCPT);
		return PSM_ERR_USAGE;
	}
	if ((rs->who[rs->n] = strdup(who)) == NULL || !X509_up_ref(cert)) {
		free(rs->who[rs->n]);
		return PSM_ERR_NOMEM;
	}
	rs->r[rs->n].cert = cert;
	rs->r[rs->n].oaep = 0;
	rs->n++;
	return 0;
}

/* The best certificate for addr among cands: usable now, latest to
 * expire. When none is usable, the reason for the best-looking one. */
static int
pick(STACK_OF(X509) *cands, const char *addr, psm_directories *dirs, X509 **out)
{
	X509 *best = NULL;
	int i;

	*out = NULL;
	for (i = 0; i < sk_X509_num(cands); i++) {
		X509 *x = sk_X509_value(cands, i);

		if (!psm_recipient_usable(x))
			continue;
		if (best == NULL ||
		    ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(best)) > 0)
			best = x;
	}
	if (best != NULL) {
		*out = best;
		return 0;
	}
	if (sk_X509_num(cands) > 0) {
		/* say why the (first) one found cannot be used */
		psm_recipient_check(sk_X509_value(cands, 0), addr, NULL, NULL);
		return PSM_ERR_VERIFY;
	}
	if (psm_directories_count(dirs) > 0)
		psm_error_set("cannot encrypt to %s: no certificate for that address on the tokens, in "
		              "the store or in the directories asked (%s); import it with 'p11smime "
		              "certs import FILE', or give --recipient-cert", addr,
		              psm_directories_names(dirs));
	else
		psm_error_set("cannot encrypt to %s: no certificate for that address on the tokens or "
		              "in the store; import it with 'p11smime certs import FILE' (or verify a "
		              "signed message from them), or give --recipient-cert", addr);
	return PSM_ERR_VERIFY;
}

/* Move the certificates of from to the end of to. */
static int
move_certs(STACK_OF(X509) *to, STACK_OF(X509) *from)
{
	while (sk_X509_num(from) > 0) {
		X509 *x = sk_X509_shift(from);

		if (!sk_X509_push(to, x)) {
			X509_free(x);
			return PSM_ERR_NOMEM;
		}
	}
	return 0;
}

static int
any_usable(STACK_OF(X509) *certs)
{
	int i;

	for (i = 0; i < sk_X509_num(certs); i++)
		if (psm_recipient_usable(sk_X509_value(certs, i)))
			return 1;
	return 0;
}

/* Find addr's certificate: the tokens first, then (when they have no
 * usable one) the store, then the directories. */
static int
lookup(psm_p11 *p11, psm_store *st, psm_directories *dirs, const char *addr,
       struct rcpt_set *rs)
{
	STACK_OF(X509) *cands = NULL, *more = NULL;
	X509 *best = NULL;
	int r;

	if ((r = psm_p11_find_encryption_certs(p11, addr, &cands)) < 0)
		return r;
	if (!any_usable(cands) &&
	    ((r = psm_store_find_email(st, addr, &more)) < 0 || (r = move_certs(cands, more)) < 0))
		goto out;
	if (psm_directories_count(dirs) > 0 && !any_usable(cands)) {
		sk_X509_pop_free(more, X509_free);
		more = NULL;
		if ((r = psm_directories_find(dirs, st, addr, &more)) < 0 ||
		    (r = move_certs(cands, more)) < 0)
			goto out;
	}
	if ((r = pick(cands, addr, dirs, &best)) == 0)
		r = rcpt_add(rs, best, addr);
out:
	sk_X509_pop_free(cands, X509_free);
	sk_X509_pop_free(more, X509_free);
	return r;
}

static int
add_cert_file(const char *path, struct rcpt_set *rs)
{
	STACK_OF(X509) *certs = NULL;
	psm_certinfo *ci = NULL;
	char who[600];
	int r;

	if ((r = psm_chain_load_pem(path, &certs)) < 0) {
		sk_X509_pop_free(certs, X509_free);
		if (r != PSM_ERR_IO)   /* else the detail says why it cannot be read */
			psm_error_set("--recipient-cert %s: no certificate could be read from it "
			              "(PEM expected)", path);
		return PSM_ERR_USAGE;
	}
	if (psm_certinfo_new(sk_X509_value(certs, 0), &ci) == 0 && ci->emails != NULL &&
	    ci->emails[0] != NULL)
		snprintf(who, sizeof(who), "%s (%s)", ci->emails[0], path);
	else
		snprintf(who, sizeof(who), "%s", path);
	psm_certinfo_free(ci);
	r = rcpt_add(rs, sk_X509_value(certs, 0), who);
	/* the rest of the file: the chain */
	while (r == 0 && sk_X509_num(certs) > 1) {
		X509 *x = sk_X509_pop(certs);

		if (!sk_X509_push(rs->pool, x)) {
			X509_free(x);
			r = PSM_ERR_NOMEM;
		}
	}
	sk_X509_pop_free(certs, X509_free);
	return r;
}

/* CA certificates on the tokens help to build recipients' chains. */
static int
pool_add_token_issuers(psm_p11 *p11, struct rcpt_set *rs)
{
	size_t i, k;
	int r;

	/* found by subject on each token: only those certificates are read */
	for (k = 0; k < rs->n; k++) {
		for (i = 0; i < psm_p11_slot_count(p11); i++) {
			const psm_slot_info *s = psm_p11_slot(p11, i);

			if (!s->token_present || s->duplicate)
				continue;
			if ((r = psm_p11_token_issuers(p11, s, rs->r[k].cert, &rs->pool)) == PSM_ERR_NOMEM)
				return r;
		}
	}
	psm_error_clear();
	return 0;
}

/* Choose the cipher and the RSA padding from what recipients announced. */
static const char *
choose(psm_store *st, struct rcpt_set *rs, const char *cipher, int oaep)
{
	const char *no_gcm = NULL;
	size_t i;

	for (i = 0; i < rs->n; i++) {
		unsigned char *caps = NULL;
		size_t len = 0;
		int gcm = 1, r_oaep = 0;

		if (psm_store_caps(st, rs->r[i].cert, &caps, &len) == 0 && caps != NULL &&
		    psm_caps_parse(caps, len, &gcm, &r_oaep) < 0)
			gcm = 1;        /* unreadable: as if unknown */
		free(caps);
		rs->r[i].oaep = oaep || r_oaep;
		if (!gcm && no_gcm == NULL)
			no_gcm = rs->who[i];
	}
	if (cipher != NULL)
		return cipher;
	if (no_gcm != NULL) {
		fprintf(stderr, "p11smime: warning: %s cannot read AES-GCM (from the capabilities "
		        "they announced); using AES-256-CBC, which does not detect changes\n", no_gcm);
		return "aes-256-cbc";
	}
	return "aes-256-gcm";
}

/* What was encrypted, for whom, how (--json, on standard output). */
static void
report_json(const struct rcpt_set *rs, const psm_encrypt_params *ep, const char *outpath,
            const struct psm_signer_setup *ss, const psm_sign_params *sp, const char *key_uri)
{
	psm_json j;
	size_t i;

	psm_json_init(&j, stdout);
	psm_json_begin_object(&j);
	psm_json_kv_bool(&j, "encrypted", 1);
	psm_json_kv_bool(&j, "signed", ss != NULL);
	psm_json_kv_string(&j, "output", outpath);
	psm_json_kv_string(&j, "cipher", ep->cipher != NULL ? ep->cipher : "aes-256-gcm");
	psm_json_key(&j, "recipients");
	psm_json_begin_array(&j);
	for (i = 0; i < rs->n; i++) {
		EVP_PKEY *pk = X509_get0_pubkey(rs->r[i].cert);
		char *subject = psm_name_oneline(X509_get_subject_name(rs->r[i].cert));

		psm_json_begin_object(&j);
		psm_json_kv_string(&j, "for", rs->who[i]);
		psm_json_kv_string(&j, "subject", subject);
		psm_json_kv_string(&j, "key_management",
		                   pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC ? "ecdh"
		                   : rs->r[i].oaep ? "rsaes-oaep" : "rsaes-pkcs1-v1_5");
		psm_json_end_object(&j);
		free(subject);
	}
	psm_json_end_array(&j);
	if (ss != NULL)
		psm_cli_signer_json(&j, ss, sp, key_uri);
	psm_json_end_object(&j);
}

int
psm_cmd_encrypt(struct psm_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		PSM_CLI_GLOBAL_OPTIONS,
		{ "recipient-cert", required_argument, NULL, 'r' },
		{ "to", required_argument, NULL, 't' },
		{ "cipher", required_argument, NULL, 'C' },
		{ "oaep", no_argument, NULL, 'E' },
		PSM_CLI_CHAIN_OPTIONS,
		PSM_CLI_SIGN_OPTIONS,
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, PSM_OPT_JSON },
		PSM_CLI_DIRECTORY_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd = argv[0];
	int sign = strcmp(cmd, "sign-encrypt") == 0;
	struct psm_cli_trust t;
	psm_revocation_result rev;
	char why[1024];
	const char *files[64], *tos[MAX_RCPT];
	size_t nfiles = 0, ntos = 0, i;
	struct psm_cli_dir_opts dopts;
	psm_directories *dirs = NULL;
	const char *outpath = NULL, *inpath, *cipher = NULL, *key_uri = NULL;
	struct rcpt_set rs;
	struct psm_signer_setup ss;
	psm_encrypt_params ep;
	psm_sign_params sp;
	psm_p11 *p11 = NULL;
	psm_msg *msg = NULL;
	psm_outfile *out = NULL;
	char **addrs = NULL;
	const psm_settings *settings = NULL;
	int c, k, fd = -1, oaep = 0, r, json = 0;

	memset(&rs, 0, sizeof(rs));
	memset(&dopts, 0, sizeof(dopts));
	memset(&ss, 0, sizeof(ss));
	memset(&sp, 0, sizeof(sp));
	memset(&ep, 0, sizeof(ep));
	psm_cli_trust_init(&t);
	while ((c = getopt_long(argc, argv, "+ho:", opts, NULL)) != -1) {
		if (psm_cli_global_option(cli, c, optarg) ||
		    psm_cli_directory_option(&dopts, c, optarg))
			continue;
		if ((k = psm_cli_trust_option(&t, c, optarg)) < 0) {
			sk_X509_pop_free(ss.pool, X509_free);
			return psm_cli_usage_error(cmd, "%s", t.err);
		}
		if (k > 0)
			continue;
		if ((r = psm_cli_sign_option(&ss, &sp, &key_uri, c, optarg)) != 0) {
			if (r > 0 && sign)
				continue;
			if (r > 0)
				psm_error_set("--key, --opaque, --digest, --pss and --certfile are for "
				              "signing: use sign-encrypt");
			r = r > 0 ? PSM_ERR_USAGE : r;
			goto fail;
		}
		switch (c) {
		case 'r':
			if (nfiles == sizeof(files) / sizeof(files[0]))
				return psm_cli_usage_error(cmd, "too many --recipient-cert");
			files[nfiles++] = optarg;
			break;
		case 't':
			if (ntos == MAX_RCPT)
				return psm_cli_usage_error(cmd, "too many --to");
			tos[ntos++] = optarg;
			break;
		case 'C': cipher = optarg; break;
		case 'E': oaep = 1; break;
		case 'o': outpath = optarg; break;
		case PSM_OPT_JSON: json = 1; psm_cli_json_errors(); break;
		case 'h':
			fputs(encrypt_usage, stdout);
			return PSM_EXIT_OK;
		default:
			sk_X509_pop_free(ss.pool, X509_free);
			return psm_cli_usage_error(cmd, "unknown or incomplete option '%s'",
			                           argv[optind - 1]);
		}
	}
	if (cipher != NULL && !psm_cipher_known(cipher)) {
		sk_X509_pop_free(ss.pool, X509_free);
		return psm_cli_usage_error(cmd, "--cipher must be aes-256-gcm, aes-128-gcm, "
		                           "aes-256-cbc or aes-128-cbc");
	}
	if (optind + 1 < argc) {
		sk_X509_pop_free(ss.pool, X509_free);
		return psm_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	}
	inpath = optind < argc ? argv[optind] : NULL;
	if (json && (outpath == NULL || strcmp(outpath, "-") == 0)) {
		sk_X509_pop_free(ss.pool, X509_free);
		return psm_cli_usage_error(cmd, "--json puts the result on standard output: give "
		                           "the encrypted message a file with -o OUT");
	}
	if ((r = psm_cli_settings(cli, &settings)) < 0 ||
	    (sign && (r = psm_cli_sign_settings(cli, &key_uri, &sp)) < 0))
		goto fail;
	if (cipher == NULL)
		cipher = settings->cipher;
	if (key_uri != NULL && (r = psm_p11_check_uri(key_uri)) < 0)
		goto fail;
	if ((rs.pool = sk_X509_new_null()) == NULL) {
		r = PSM_ERR_NOMEM;
		goto fail;
	}
	if ((r = psm_cli_trust_open(cli, &t, NULL)) < 0 ||
	    (r = psm_cli_open_input(inpath, &fd)) < 0 || (r = psm_msg_open(fd, &msg)) < 0 ||
	    (r = psm_cli_open_p11(cli, &p11)) < 0 || (r = psm_p11_scan(p11)) < 0 ||
	    (r = psm_cli_open_directories(cli, &dopts, &dirs)) < 0)
		goto fail;

	/* who gets it */
	for (i = 0; i < nfiles; i++)
		if ((r = add_cert_file(files[i], &rs)) < 0)
			goto fail;
	for (i = 0; i < ntos; i++)
		if ((r = lookup(p11, t.store, dirs, tos[i], &rs)) < 0)
			goto fail;
	if (nfiles == 0 && ntos == 0) {
		if ((r = psm_msg_recipients(msg, &addrs)) < 0)
			goto fail;
		if (addrs[0] == NULL) {
			psm_error_set("the message has no To, Cc or Bcc address; give --to or "
			              "--recipient-cert");
			r = PSM_ERR_USAGE;
			goto fail;
		}
		for (i = 0; addrs[i] != NULL; i++)
			if ((r = lookup(p11, t.store, dirs, addrs[i], &rs)) < 0)
				goto fail;
	}
	/* the sender, so that they can read what they sent */
	if (psm_msg_from(msg) != NULL && (r = lookup(p11, t.store, dirs, psm_msg_from(msg), &rs)) < 0) {
		if (r == PSM_ERR_VERIFY)
			psm_error_set("no certificate of the sender %s to encrypt to (so they can read "
			              "their own mail): put it on the token or import it with "
			              "'p11smime certs import'", psm_msg_from(msg));
		goto fail;
	}
	/* the CA certificates on the tokens, only when a chain needs them
	 * (reading every certificate of every token is not free), then the
	 * store's; AIA caIssuers last (psm_recipient_check_aia) */
	for (i = 0; i < rs.n; i++) {
		if (psm_recipient_check(rs.r[i].cert, rs.who[i], t.xs, rs.pool) < 0) {
			if ((r = pool_add_token_issuers(p11, &rs)) < 0)
				goto fail;
			break;
		}
	}
	for (; i < rs.n; i++) {
		if (psm_recipient_check(rs.r[i].cert, rs.who[i], t.xs, rs.pool) < 0) {
			STACK_OF(X509) *more = NULL;

			r = psm_cli_store_certs(t.store, &more);
			if (r == 0)
				r = move_certs(rs.pool, more);
			sk_X509_pop_free(more, X509_free);
			if (r < 0)
				goto fail;
			break;
		}
	}
	psm_error_clear();
	for (i = 0; i < rs.n; i++) {
		if ((r = psm_recipient_check_aia(rs.r[i].cert, rs.who[i], t.xs, rs.pool, &t.rp,
		                                 t.aia.enabled ? &t.aia : NULL, &rev)) < 0)
			goto fail;
		if (rev.status == PSM_REV_UNKNOWN && rev.sources > 0) {
			char what[700];

			snprintf(what, sizeof(what), "the certificate of %s", rs.who[i]);
			fprintf(stderr, "p11smime: warning: %s; encrypting anyway under --revocation "
			        "soft (hard refuses)\n", psm_revocation_explain(&rev, what, why,
			                                                       sizeof(why)));
		}
	}
	ep.cipher = choose(t.store, &rs, cipher, oaep);
	ep.rcpt = rs.r;
	ep.nrcpt = rs.n;

	if (sign && (r = psm_cli_signer_load(cli, p11, msg, key_uri, &t, &ss, &sp)) < 0)
		goto fail;
	psm_cli_progress_start(msg, fd, sign ? "signing and encrypting" : "encrypting", json);
	if ((r = psm_outfile_open(outpath, 0, &out)) < 0 ||
	    (r = psm_msg_encrypt(msg, &ep, sign ? psm_key_pkey(ss.key) : NULL, &sp, out)) < 0 ||
	    (r = psm_outfile_commit(out)) < 0)
		goto fail;
	psm_cli_progress_done();
	if (json)
		report_json(&rs, &ep, outpath, sign ? &ss : NULL, &sp, key_uri);
	r = 0;
fail:
	psm_outfile_free(out);
	psm_signer_setup_clear(&ss);
	psm_mime_addr_list_free(addrs);
	rcpt_set_free(&rs);
	psm_msg_free(msg);
	psm_p11_free(p11);
	psm_directories_free(dirs);
	psm_cli_trust_clear(&t);
	if (fd > STDIN_FILENO)
		close(fd);
	return r < 0 ? psm_cli_fail(r) : PSM_EXIT_OK;
}
