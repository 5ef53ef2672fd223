/* p11smime: finding people's certificates in LDAP directories (see
 * directory.h). The URL parser and the filter escaping are our own (RFC
 * 4516, RFC 4515) so that what is accepted is exactly what is documented;
 * the protocol is OpenLDAP's libldap. */
#include "config.h"

#include "directory.h"
#include "certinfo.h"
#include "error.h"
#include "recipients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ldapfn.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

struct psm_dir {
	psm_directory_url *u;
	LDAP *ld;               /* connected (and bound) once asked */
	int failed;             /* failed once: not contacted again */
	int warned;
};

struct psm_directories {
	struct psm_dir *dirs;
	size_t n;
	char *bind_dn;
	char *password;         /* OPENSSL_secure_malloc'd, wiped on free */
	size_t password_len;
	char *ca_file;
	int connect_timeout;
	int search_timeout;
	psm_directory_warn_fn warn;
	void *warn_ud;
	char *names;
};

/* ---- URLs (RFC 4516) ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [p, p+len) (RFC 3986 section 2.1) into a new string;
 * NULL with *bad set for a broken escape, a NUL or a control character. */
static char *
pct_decode(const char *p, size_t len, int *bad)
{
	char *s = malloc(len + 1), *o = s;
	size_t i;

	*bad = 0;
	if (s == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)p[i];

		if (c == '%') {
			int hi = -1, lo = -1;

			if (i + 2 >= len || (hi = hexval(p[i + 1])) < 0 || (lo = hexval(p[i + 2])) < 0) {
				*bad = 1;
				break;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			*bad = 1;
			break;
		}
		*o++ = (char)c;
	}
	if (*bad) {
		free(s);
		return NULL;
	}
	*o = '\0';
	return s;
}

void
psm_directory_url_free(psm_directory_url *u)
{
	if (u == NULL)
		return;
	free(u->url);
	free(u->server);
	free(u->host);
	free(u->base);
	free(u);
}

/* The extensions part: "[!]type[=value]" separated by ','. */
static int
parse_extensions(psm_directory_url *u, const char *p, size_t len)
{
	while (len > 0) {
		const char *comma = memchr(p, ',', len);
		size_t n = comma != NULL ? (size_t)(comma - p) : len, tlen;
		int crit = 0, bad = 0;
		const char *eq;
		char *type;

		if (n > 0 && *p == '!') {
			crit = 1;
			p++;
			n--;
			len--;
		}
		eq = memchr(p, '=', n);
		tlen = eq != NULL ? (size_t)(eq - p) : n;
		if (tlen == 0 || (type = pct_decode(p, tlen, &bad)) == NULL) {
			if (bad || tlen == 0) {
				psm_error_set("directory URL %s: an extension that does not parse", u->url);
				return PSM_ERR_USAGE;
			}
			return PSM_ERR_NOMEM;
		}
		if (strcasecmp(type, "starttls") == 0) {
			if (u->tls == PSM_DIRECTORY_LDAPS) {
				psm_error_set("directory URL %s: StartTLS is for ldap://, ldaps:// is TLS "
				              "already", u->url);
				free(type);
				return PSM_ERR_USAGE;
			}
			if (crit)
				u->tls = PSM_DIRECTORY_STARTTLS_MUST;
		} else if (crit) {
			psm_error_set("directory URL %s: unknown critical extension '%s' (known: "
			              "!starttls)", u->url, type);
			free(type);
			return PSM_ERR_USAGE;
		}                       /* RFC 4516 2: unknown non-critical ones are ignored */
		free(type);
		p += n;
		len -= n;
		if (comma != NULL) {
			p++;
			len--;
			if (len == 0) {
				psm_error_set("directory URL %s: an empty extension", u->url);
				return PSM_ERR_USAGE;
			}
		}
	}
	return 0;
}

int
psm_directory_url_parse(const char *url, psm_directory_url **out)
{
	psm_directory_url *u = NULL;
	const char *p, *hend, *q, *field[5] = { 0 };
	size_t flen[5] = { 0 }, nfield = 0, hlen, need;
	const char *scheme;
	int r = PSM_ERR_NOMEM, bad = 0;
	long port = 0;

	*out = NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL || (u->url = strdup(url)) == NULL)
		goto fail;
	r = PSM_ERR_USAGE;
	if (strncasecmp(url, "ldap://", 7) == 0) {
		scheme = "ldap";
		u->tls = PSM_DIRECTORY_STARTTLS_TRY;
		p = url + 7;
	} else if (strncasecmp(url, "ldaps://", 8) == 0) {
		scheme = "ldaps";
		u->tls = PSM_DIRECTORY_LDAPS;
		p = url + 8;
	} else {
		psm_error_set("directory URL %s: must start with ldap:// or ldaps://", url);
		goto fail;
	}
	for (q = url; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f || *q == ' ') {
			psm_error_set("directory URL %s: spaces and control characters must be "
			              "percent-encoded", url);
			goto fail;
		}
	/* host [":" port], the host an IP literal in brackets or a name */
	hend = p + strcspn(p, "/?");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(hend - p));

		if (rb == NULL || rb == p + 1) {
			psm_error_set("directory URL %s: an IPv6 address needs its closing ']'", url);
			goto fail;
		}
		if ((u->host = pct_decode(p + 1, (size_t)(rb - p - 1), &bad)) == NULL)
			goto host_fail;
		q = rb + 1;
		if (q != hend && *q != ':') {
			psm_error_set("directory URL %s: only ':PORT' may follow the ']'", url);
			goto fail;
		}
	} else {
		q = memchr(p, ':', (size_t)(hend - p));
		if (q == NULL)
			q = hend;
		if (q == p) {
			psm_error_set("directory URL %s: names no server (ldap://HOST[:PORT]/BASE-DN)",
			              url);
			goto fail;
		}
		if ((u->host = pct_decode(p, (size_t)(q - p), &bad)) == NULL)
			goto host_fail;
		if (strpbrk(u->host, "[]@") != NULL) {
			psm_error_set("directory URL %s: the host name does not parse", url);
			goto fail;
		}
	}
	if (q != hend) {                /* ":" port */
		char *end;

		q++;
		port = strtol(q, &end, 10);
		if (q == hend || end != hend || *q < '0' || *q > '9' || port < 1 || port > 65535) {
			psm_error_set("directory URL %s: the port must be a number from 1 to 65535", url);
			goto fail;
		}
	} else
		port = u->tls == PSM_DIRECTORY_LDAPS ? 636 : 389;
	u->port = (int)port;
	if (*hend != '/' || hend[1] == '\0' || hend[1] == '?') {
		psm_error_set("directory URL %s: needs a base DN to search under, as in "
		              "%s://host/dc=example,dc=org", url, scheme);
		goto fail;
	}
	/* dn ["?" attrs ["?" scope ["?" filter ["?" extensions]]]] */
	for (p = hend + 1; nfield < 5; nfield++) {
		q = strchr(p, '?');
		field[nfield] = p;
		flen[nfield] = q != NULL ? (size_t)(q - p) : strlen(p);
		if (q == NULL) {
			nfield++;
			break;
		}
		p = q + 1;
	}
	if (nfield == 5 && field[4] + flen[4] != url + strlen(url)) {
		psm_error_set("directory URL %s: too many '?' parts", url);
		goto fail;
	}
	if ((u->base = pct_decode(field[0], flen[0], &bad)) == NULL) {
		if (!bad)
			goto nomem;
		psm_error_set("directory URL %s: the base DN has a broken %%-escape or a control "
		              "character", url);
		goto fail;
	}
	if (psm_ldap_load() < 0)
		goto fail;
	{
		LDAPDN dn = NULL;

		if (u->base[0] == '\0' || ldap_str2dn(u->base, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
			ldap_dnfree(dn);
			psm_error_set("directory URL %s: '%s' is not a distinguished name", url, u->base);
			goto fail;
		}
		ldap_dnfree(dn);
	}
	if (nfield > 1 && flen[1] > 0) {
		psm_error_set("directory URL %s: leave the attributes empty (p11smime asks for "
		              "userCertificate itself)", url);
		goto fail;
	}
	if (nfield > 2 && flen[2] > 0) {
		if (flen[2] == 3 && strncasecmp(field[2], "sub", 3) == 0)
			u->scope = PSM_DIRECTORY_SCOPE_SUB;
		else if (flen[2] == 3 && strncasecmp(field[2], "one", 3) == 0)
			u->scope = PSM_DIRECTORY_SCOPE_ONE;
		else if (flen[2] == 4 && strncasecmp(field[2], "base", 4) == 0)
			u->scope = PSM_DIRECTORY_SCOPE_BASE;
		else {
			psm_error_set("directory URL %s: the scope must be base, one or sub", url);
			goto fail;
		}
	}
	if (nfield > 3 && flen[3] > 0) {
		psm_error_set("directory URL %s: leave the filter empty (p11smime searches for "
		              "(mail=ADDRESS))", url);
		goto fail;
	}
	if (nfield > 4 && (r = parse_extensions(u, field[4], flen[4])) < 0)
		goto fail;
	r = PSM_ERR_NOMEM;
	need = strlen(scheme) + strlen(u->host) + 16;
	if ((u->server = malloc(need)) == NULL)
		goto fail;
	hlen = strlen(u->host);
	if (memchr(u->host, ':', hlen) != NULL)
		snprintf(u->server, need, "%s://[%s]:%d", scheme, u->host, u->port);
	else
		snprintf(u->server, need, "%s://%s:%d", scheme, u->host, u->port);
	*out = u;
	return 0;
host_fail:
	if (!bad)
		goto nomem;
	psm_error_set("directory URL %s: the host has a broken %%-escape", url);
	r = PSM_ERR_USAGE;
	goto fail;
nomem:
	r = PSM_ERR_NOMEM;
fail:
	psm_directory_url_free(u);
	return r;
}

/* ---- the filter (RFC 4515) ---- */

int
psm_directory_filter(const char *addr, char **out)
{
	static const char prefix[] = "(mail=";
	size_t i, n = strlen(addr);
	char *f, *o;

	*out = NULL;
	if (n == 0 || strchr(addr, '@') == NULL) {
		psm_error_set("'%s' is not an e-mail address", addr);
		return PSM_ERR_USAGE;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)addr[i] < 0x20 || addr[i] == 0x7f) {
			psm_error_set("an e-mail address with a control character cannot be looked up");
			return PSM_ERR_USAGE;
		}
	if ((f = malloc(sizeof(prefix) + 3 * n + 1)) == NULL)
		return PSM_ERR_NOMEM;
	memcpy(f, prefix, sizeof(prefix) - 1);
	o = f + sizeof(prefix) - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];

		/* RFC 4515 section 3: valueencoding; '*', '(', ')' and '\'
		 * must be escaped, and escaping bytes beyond ASCII keeps the
		 * filter valid whatever the encoding of the address */
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c >= 0x80) {
			*o++ = '\\';
			*o++ = "0123456789abcdef"[c >> 4];
			*o++ = "0123456789abcdef"[c & 15];
		} else
			*o++ = (char)c;
	}
	*o++ = ')';
	*o = '\0';
	*out = f;
	return 0;
}

/* ---- the set of directories ---- */

int
psm_directories_new(const char *const *urls, size_t n, const psm_directory_params *params,
                    psm_directories **out)
{
	psm_directories *d = NULL;
	size_t i;
	int r = PSM_ERR_NOMEM;

	*out = NULL;
	if (params != NULL && (params->bind_dn != NULL) != (params->password != NULL)) {
		psm_error_set(params->bind_dn != NULL ?
		              "a directory bind DN needs a password source too" :
		              "a directory password needs a bind DN too");
		return PSM_ERR_USAGE;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL || (n > 0 && (d->dirs = calloc(n, sizeof(*d->dirs))) == NULL))
		goto fail;
	d->connect_timeout = PSM_DIRECTORY_CONNECT_TIMEOUT;
	d->search_timeout = PSM_DIRECTORY_SEARCH_TIMEOUT;
	for (i = 0; i < n; i++, d->n++)
		if ((r = psm_directory_url_parse(urls[i], &d->dirs[i].u)) < 0)
			goto fail;
	r = PSM_ERR_NOMEM;
	if (params != NULL) {
		if (params->connect_timeout > 0)
			d->connect_timeout = params->connect_timeout;
		if (params->search_timeout > 0)
			d->search_timeout = params->search_timeout;
		if (params->ca_file != NULL && (d->ca_file = strdup(params->ca_file)) == NULL)
			goto fail;
		if (params->bind_dn != NULL) {
			if ((d->bind_dn = strdup(params->bind_dn)) == NULL ||
			    (d->password = OPENSSL_secure_malloc(params->password_len + 1)) == NULL)
				goto fail;
			memcpy(d->password, params->password, params->password_len);
			d->password[params->password_len] = '\0';
			d->password_len = params->password_len;
		}
	}
	*out = d;
	d = NULL;                       /* transferred */
	r = 0;
fail:
	psm_directories_free(d);
	return r;
}

static void
dir_close(struct psm_dir *dir)
{
	if (dir->ld != NULL)
		ldap_unbind_ext_s(dir->ld, NULL, NULL);
	dir->ld = NULL;
}

void
psm_directories_free(psm_directories *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n; i++) {
		dir_close(&d->dirs[i]);
		psm_directory_url_free(d->dirs[i].u);
	}
	free(d->dirs);
	free(d->bind_dn);
	if (d->password != NULL)
		OPENSSL_secure_clear_free(d->password, d->password_len + 1);
	free(d->ca_file);
	free(d->names);
	free(d);
}

void
psm_directories_set_warn(psm_directories *d, psm_directory_warn_fn fn, void *userdata)
{
	d->warn = fn;
	d->warn_ud = userdata;
}

size_t
psm_directories_count(const psm_directories *d)
{
	return d != NULL ? d->n : 0;
}

const char *
psm_directories_url(const psm_directories *d, size_t i)
{
	return i < d->n ? d->dirs[i].u->url : NULL;
}

const char *
psm_directories_names(psm_directories *d)
{
	size_t i, len = 1;

	if (d == NULL || d->n == 0)
		return "";
	if (d->names != NULL)
		return d->names;
	for (i = 0; i < d->n; i++)
		len += strlen(d->dirs[i].u->url) + 2;
	if ((d->names = malloc(len)) == NULL)
		return "the directories";
	d->names[0] = '\0';
	for (i = 0; i < d->n; i++) {
		if (i > 0)
			strcat(d->names, ", ");
		strcat(d->names, d->dirs[i].u->url);
	}
	return d->names;
}

/* ---- talking to one directory ---- */

/* What went wrong, for a sentence: libldap's text for rc and the server's
 * (or TLS library's) diagnostic, printable ASCII only. */
static void
ldap_reason(LDAP *ld, int rc, char *buf, size_t cap)
{
	char *diag = NULL, clean[160];
	size_t i, k = 0;

	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	for (i = 0; diag != NULL && diag[i] != '\0' && k + 1 < sizeof(clean); i++)
		if ((unsigned char)diag[i] >= 0x20 && (unsigned char)diag[i] < 0x7f)
			clean[k++] = diag[i];
	clean[k] = '\0';
	ldap_memfree(diag);
	if (k > 0 && strcasecmp(clean, ldap_err2string(rc)) != 0 &&
	    strcmp(clean, "(unknown error code)") != 0)
		snprintf(buf, cap, "%s: %s", ldap_err2string(rc), clean);
	else
		snprintf(buf, cap, "%s", ldap_err2string(rc));
}

static int
set_options(psm_directories *d, struct psm_dir *dir, LDAP *ld)
{
	struct timeval conn = { d->connect_timeout, 0 }, op = { d->search_timeout, 0 };
	int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
	int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;

	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &conn) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12) != LDAP_OPT_SUCCESS) {
		psm_error_set("directory %s: cannot set up the LDAP library's options", dir->u->url);
		return PSM_ERR_INTERNAL;
	}
	if (d->ca_file != NULL &&
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, d->ca_file) != LDAP_OPT_SUCCESS) {
		psm_error_set("directory %s: cannot use %s for TLS", dir->u->url, d->ca_file);
		return PSM_ERR_USAGE;
	}
	/* a TLS context of this handle's own, from the options above */
	if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS) {
		psm_error_set("directory %s: cannot set up TLS%s%s", dir->u->url,
		              d->ca_file != NULL ? " with " : "", d->ca_file != NULL ? d->ca_file : "");
		return PSM_ERR_USAGE;
	}
	return 0;
}

/* Connect, secure and bind dir. */
static int
dir_open(psm_directories *d, struct psm_dir *dir)
{
	const psm_directory_url *u = dir->u;
	char why[256];
	LDAP *ld = NULL;
	int rc, r, tls = u->tls == PSM_DIRECTORY_LDAPS;

	if ((r = psm_ldap_load()) < 0)
		return r;
	if ((rc = ldap_initialize(&ld, u->server)) != LDAP_SUCCESS) {
		psm_error_set("directory %s: %s", u->url, ldap_err2string(rc));
		return PSM_ERR_IO;
	}
	if ((r = set_options(d, dir, ld)) < 0)
		goto fail;
	r = PSM_ERR_IO;
	if ((rc = ldap_connect(ld)) != LDAP_SUCCESS) {
		ldap_reason(ld, rc, why, sizeof(why));
		psm_error_set("directory %s: cannot connect to %s (%s)%s", u->url, u->server, why,
		              tls ? ": the server is down, or the TLS handshake failed (is its "
		              "certificate from a CA in --directory-ca or ldap.conf TLS_CACERT?)" : "");
		goto fail;
	}
	if (!tls) {
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc == LDAP_SUCCESS)
			tls = 1;
		else if (rc < 0 || u->tls == PSM_DIRECTORY_STARTTLS_MUST) {
			/* a local failure (the TLS handshake, the server's
			 * certificate, the connection): never fall back */
			ldap_reason(ld, rc, why, sizeof(why));
			psm_error_set("directory %s: StartTLS failed (%s): %s", u->url, why,
			              rc > 0 ? "the server does not offer it, and the URL says "
			              "!starttls" : "the TLS handshake failed (is the server's "
			              "certificate from a CA in --directory-ca or ldap.conf TLS_CACERT?)");
			goto fail;
		}                       /* the server said no: on in the clear */
	}
	if (d->bind_dn != NULL) {
		struct berval cred;

		if (!tls) {
			psm_error_set("directory %s: the server does not offer StartTLS, and the "
			              "password for %s is never sent unencrypted (use ldaps://)",
			              u->url, d->bind_dn);
			goto fail;
		}
		cred.bv_val = d->password;
		cred.bv_len = d->password_len;
		rc = ldap_sasl_bind_s(ld, d->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
		if (rc == LDAP_INVALID_CREDENTIALS) {
			psm_error_set("directory %s refused the bind as %s: wrong DN or password",
			              u->url, d->bind_dn);
			goto fail;
		}
		if (rc != LDAP_SUCCESS) {
			ldap_reason(ld, rc, why, sizeof(why));
			psm_error_set("directory %s refused the bind as %s (%s)", u->url, d->bind_dn,
			              why);
			goto fail;
		}
	}
	dir->ld = ld;
	return 0;
fail:
	ldap_unbind_ext_s(ld, NULL, NULL);
	return r;
}

/* 1 when cert carries addr. */
static int
carries(X509 *cert, const char *addr)
{
	psm_certinfo *ci = NULL;
	size_t i;
	int yes = 0;

	if (psm_certinfo_new(cert, &ci) < 0)
		return 0;
	for (i = 0; ci->emails != NULL && ci->emails[i] != NULL; i++)
		if (strcasecmp(ci->emails[i], addr) == 0)
			yes = 1;
	psm_certinfo_free(ci);
	return yes;
}

/* Add the certificates in values that carry addr to out (no duplicates). */
static int
take_values(struct berval **values, const char *addr, STACK_OF(X509) *out)
{
	size_t i;
	int k;

	for (i = 0; values != NULL && values[i] != NULL; i++) {
		const unsigned char *p = (const unsigned char *)values[i]->bv_val;
		X509 *x;

		if (sk_X509_num(out) >= PSM_DIRECTORY_MAX_CERTS)
			break;
		if ((x = d2i_X509(NULL, &p, (long)values[i]->bv_len)) == NULL) {
			ERR_clear_error();
			continue;       /* not a certificate: passed over */
		}
		for (k = 0; k < sk_X509_num(out); k++)
			if (X509_cmp(sk_X509_value(out, k), x) == 0)
				break;
		if (k < sk_X509_num(out) || !carries(x, addr)) {
			X509_free(x);
			continue;
		}
		if (!sk_X509_push(out, x)) {
			X509_free(x);
			return PSM_ERR_NOMEM;
		}
	}
	return 0;
}

static int
is_cert_attr(const char *name)
{
	return strncasecmp(name, "userCertificate", 15) == 0 && (name[15] == '\0' || name[15] == ';');
}

int
psm_directories_search(psm_directories *d, size_t i, const char *addr, STACK_OF(X509) **out)
{
	static char attr_binary[] = "userCertificate;binary", attr_plain[] = "userCertificate";
	static const int scopes[] = { LDAP_SCOPE_SUBTREE, LDAP_SCOPE_ONELEVEL, LDAP_SCOPE_BASE };
	char *attrs[] = { attr_binary, attr_plain, NULL };
	struct psm_dir *dir;
	struct timeval tv;
	STACK_OF(X509) *sk = NULL;
	LDAPMessage *res = NULL, *e;
	char *filter = NULL, why[256];
	int r, rc;

	*out = NULL;
	if (i >= d->n)
		return PSM_ERR_USAGE;
	dir = &d->dirs[i];
	if ((r = psm_directory_filter(addr, &filter)) < 0)
		return r;
	if (dir->failed) {
		psm_error_set("directory %s failed before: not asked again", dir->u->url);
		r = PSM_ERR_IO;
		goto out;
	}
	if (dir->ld == NULL && (r = dir_open(d, dir)) < 0) {
		dir->failed = 1;
		goto out;
	}
	r = PSM_ERR_NOMEM;
	if ((sk = sk_X509_new_null()) == NULL)
		goto out;
	tv.tv_sec = d->search_timeout;
	tv.tv_usec = 0;
	rc = ldap_search_ext_s(dir->ld, dir->u->base, scopes[dir->u->scope], filter, attrs, 0,
	                       NULL, NULL, &tv, PSM_DIRECTORY_MAX_CERTS, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		ldap_reason(dir->ld, rc, why, sizeof(why));
		psm_error_set("directory %s: the search for %s failed (%s)", dir->u->url, addr, why);
		dir_close(dir);
		dir->failed = 1;
		r = PSM_ERR_IO;
		goto out;
	}
	for (e = ldap_first_entry(dir->ld, res); e != NULL; e = ldap_next_entry(dir->ld, e)) {
		BerElement *ber = NULL;
		char *a;

		r = 0;
		for (a = ldap_first_attribute(dir->ld, e, &ber); r == 0 && a != NULL;
		     a = ldap_next_attribute(dir->ld, e, ber)) {
			if (is_cert_attr(a)) {
				struct berval **vals = ldap_get_values_len(dir->ld, e, a);

				r = take_values(vals, addr, sk);
				ldap_value_free_len(vals);
			}
			ldap_memfree(a);
		}
		ber_free(ber, 0);
		if (r < 0)
			goto out;
	}
	*out = sk;
	sk = NULL;                      /* transferred */
	r = 0;
out:
	ldap_msgfree(res);
	sk_X509_pop_free(sk, X509_free);
	free(filter);
	return r;
}

/* ---- asking them all, through the cache ---- */

static void
warn(psm_directories *d, struct psm_dir *dir, const char *sentence)
{
	if (dir != NULL) {
		if (dir->warned)
			return;
		dir->warned = 1;
	}
	if (d->warn != NULL)
		d->warn(d->warn_ud, sentence);
}

/* 1 when every directory of d is among sources. */
static int
covers_all(psm_directories *d, char **sources)
{
	size_t i, k;

	for (i = 0; i < d->n; i++) {
		for (k = 0; sources[k] != NULL; k++)
			if (strcmp(sources[k], d->dirs[i].u->url) == 0)
				break;
		if (sources[k] == NULL)
			return 0;
	}
	return 1;
}

int
psm_directories_find(psm_directories *d, psm_store *cache, const char *addr,
                     STACK_OF(X509) **out)
{
	STACK_OF(X509) *found = NULL, *sk = NULL;
	const char **answered = NULL;
	char **sources = NULL, *filter = NULL, line[1200];
	size_t i, nanswered = 0;
	int r, hit = 0, usable = 0, k;
	time_t now = time(NULL);

	*out = NULL;
	if ((r = psm_directory_filter(addr, &filter)) < 0)
		return r;
	free(filter);
	if (cache != NULL && d->n > 0 &&
	    (r = psm_store_dircache_get(cache, addr, now, &hit, &found, &sources)) < 0)
		return r;
	if (hit && (sk_X509_num(found) > 0 || covers_all(d, sources))) {
		psm_store_dircache_sources_free(sources);
		*out = found;
		return 0;
	}
	psm_store_dircache_sources_free(sources);
	sk_X509_pop_free(found, X509_free);
	r = PSM_ERR_NOMEM;
	if ((found = sk_X509_new_null()) == NULL ||
	    (d->n > 0 && (answered = calloc(d->n, sizeof(*answered))) == NULL))
		goto out;
	for (i = 0; i < d->n && sk_X509_num(found) == 0; i++) {
		if (d->dirs[i].failed)
			continue;
		if ((r = psm_directories_search(d, i, addr, &sk)) == PSM_ERR_NOMEM)
			goto out;
		if (r < 0) {
			snprintf(line, sizeof(line), "%s; looking on without it", psm_error_detail());
			warn(d, &d->dirs[i], line);
			continue;
		}
		answered[nanswered++] = d->dirs[i].u->url;
		while (sk_X509_num(sk) > 0) {
			X509 *x = sk_X509_shift(sk);

			if (!sk_X509_push(found, x)) {
				X509_free(x);
				r = PSM_ERR_NOMEM;
				goto out;
			}
		}
		sk_X509_free(sk);
		sk = NULL;
	}
	for (k = 0; k < sk_X509_num(found); k++)
		usable |= psm_recipient_usable(sk_X509_value(found, k));
	if (cache != NULL && nanswered > 0 &&
	    psm_store_dircache_put(cache, addr, now + (usable ? PSM_DIRECTORY_CACHE_TTL :
	                                               PSM_DIRECTORY_NEGATIVE_TTL),
	                           answered, nanswered, found) < 0) {
		snprintf(line, sizeof(line), "the directories' answer for %s is not cached: %s",
		         addr, psm_error_detail());
		warn(d, NULL, line);
	}
	psm_error_clear();
	*out = found;
	found = NULL;                   /* transferred */
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	sk_X509_pop_free(found, X509_free);
	free(answered);
	return r;
}
