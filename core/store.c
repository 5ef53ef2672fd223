/* p11smime: the user's certificate store (see store.h for the layout). */
#include "config.h"

#include "store.h"
#include "certinfo.h"
#include "chain.h"
#include "error.h"
#include "tmpfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

struct psm_store {
	char *home;
	char *certs;
	char *trusted;
};

static char *
join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s/%s", a, b);
	return s;
}

static int
mkdir_p(const char *path)
{
	char *copy = strdup(path), *p;
	int r = 0;

	if (copy == NULL)
		return PSM_ERR_NOMEM;
	for (p = copy + 1; r == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			psm_error_set("cannot create the folder %s: %s", copy, strerror(errno));
			r = PSM_ERR_IO;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return r;
}

int
psm_store_open(const char *home, psm_store **out)
{
	psm_store *st = NULL;
	const char *env;
	char buf[4096];
	int r = PSM_ERR_NOMEM;

	*out = NULL;
	if (home == NULL) {
		if ((env = getenv("P11SMIME_HOME")) != NULL && *env != '\0')
			home = env;
		else if ((env = getenv("XDG_DATA_HOME")) != NULL && *env == '/') {
			snprintf(buf, sizeof(buf), "%s/p11smime", env);
			home = buf;
		} else if ((env = getenv("HOME")) != NULL && *env == '/') {
			snprintf(buf, sizeof(buf), "%s/.local/share/p11smime", env);
			home = buf;
		} else {
			psm_error_set("no place for the certificate store: set P11SMIME_HOME");
			return PSM_ERR_USAGE;
		}
	}
	if ((st = calloc(1, sizeof(*st))) == NULL || (st->home = strdup(home)) == NULL ||
	    (st->certs = join(home, "certs")) == NULL || (st->trusted = join(home, "trusted")) == NULL)
		goto out;
	if ((r = mkdir_p(st->certs)) < 0 || (r = mkdir_p(st->trusted)) < 0)
		goto out;
	*out = st;
	st = NULL; /* transferred */
	r = 0;
out:
	psm_store_free(st);
	return r;
}

void
psm_store_free(psm_store *st)
{
	if (st == NULL)
		return;
	free(st->home);
	free(st->certs);
	free(st->trusted);
	free(st);
}

const char *
psm_store_path(const psm_store *st)
{
	return st->home;
}

/* Write bytes to dir/name atomically. */
static int
write_atomic(const char *dir, const char *name, const void *buf, size_t len)
{
	char dst[4096];

	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= sizeof(dst)) {
		psm_error_set("cannot write %s/%s: the name is too long", dir, name);
		return PSM_ERR_IO;
	}
	return psm_tmpfile_write_file(dst, 0600, buf, len);
}

/* Does dir/name hold exactly these len bytes already? */
static int
same_content(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096], have[8192];
	struct stat st;
	int fd, same = 0;

	if (len > sizeof(have) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len &&
	    read(fd, have, len) == (ssize_t)len)
		same = memcmp(have, buf, len) == 0;
	close(fd);
	return same;
}

/* write_atomic, unless the entry holds these bytes already: a signer seen
 * again costs no write and no fsync. */
static int
write_changed(const char *dir, const char *name, const void *buf, size_t len)
{
	return same_content(dir, name, buf, len) ? 0 : write_atomic(dir, name, buf, len);
}

static int
fingerprint(X509 *cert, char name[80])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	char *hex;

	if (!X509_digest(cert, EVP_sha256(), md, &len))
		return PSM_ERR_CRYPTO;
	if ((hex = psm_hex_encode(md, len)) == NULL)
		return PSM_ERR_NOMEM;
	snprintf(name, 80, "%s", hex);
	free(hex);
	return 0;
}

/* cert as <fingerprint>.pem in dir; fp gets the fingerprint. */
static int
write_pem(const char *dir, X509 *cert, char fp[80])
{
	char name[96];
	BIO *mem = BIO_new(BIO_s_mem());
	char *pem;
	long n;
	int r;

	if (mem == NULL)
		return PSM_ERR_NOMEM;
	if ((r = fingerprint(cert, fp)) < 0 || !PEM_write_bio_X509(mem, cert)) {
		BIO_free(mem);
		return r < 0 ? r : PSM_ERR_CRYPTO;
	}
	n = BIO_get_mem_data(mem, &pem);
	snprintf(name, sizeof(name), "%s.pem", fp);
	r = write_changed(dir, name, pem, (size_t)n);
	BIO_free(mem);
	return r;
}

int
psm_store_remember(psm_store *st, X509 *cert, const unsigned char *caps, size_t caps_len)
{
	char fp[80], name[96];
	int r;

	if ((r = write_pem(st->certs, cert, fp)) == 0 && caps != NULL && caps_len > 0) {
		snprintf(name, sizeof(name), "%s.caps", fp);
		r = write_changed(st->certs, name, caps, caps_len);
	}
	return r;
}

int
psm_store_remember_signer(psm_store *st, X509 *signer, const unsigned char *caps,
                          size_t caps_len, STACK_OF(X509) *cas)
{
	int i, r;

	if ((r = psm_store_remember(st, signer, caps, caps_len)) < 0)
		return r;
	for (i = 0; i < sk_X509_num(cas); i++)
		if ((r = psm_store_remember(st, sk_X509_value(cas, i), NULL, 0)) < 0)
			return r;
	return 0;
}

int
psm_store_add_trusted(psm_store *st, X509_STORE *anchors, int *skipped)
{
	DIR *d = opendir(st->trusted);
	struct dirent *de;
	int bad = 0;

	if (skipped != NULL)
		*skipped = 0;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		size_t len = strlen(de->d_name);
		X509 *x = NULL;
		FILE *f;

		if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".pem") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", st->trusted, de->d_name);
		if ((f = fopen(path, "r")) != NULL) {
			x = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (x == NULL || !X509_STORE_add_cert(anchors, x))
			bad++;
		X509_free(x);
	}
	closedir(d);
	ERR_clear_error();
	if (skipped != NULL)
		*skipped = bad;
	return 0;
}

int
psm_anchors_load(psm_store *st, const char *const *files, size_t n, int use_system,
                 X509_STORE **out)
{
	X509_STORE *store = X509_STORE_new();
	size_t i;
	int r = PSM_ERR_NOMEM;

	*out = NULL;
	if (store == NULL)
		return PSM_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		STACK_OF(X509) *certs = NULL;
		int k;

		if ((r = psm_chain_load_pem(files[i], &certs)) < 0) {
			sk_X509_pop_free(certs, X509_free);
			if (r != PSM_ERR_IO)   /* else the detail says why it cannot be read */
				psm_error_set("--anchors %s: no certificate could be read from it "
				              "(PEM expected)", files[i]);
			goto fail;
		}
		for (k = 0; k < sk_X509_num(certs); k++)
			X509_STORE_add_cert(store, sk_X509_value(certs, k));
		sk_X509_pop_free(certs, X509_free);
		ERR_clear_error();
	}
	if (st != NULL)
		psm_store_add_trusted(st, store, NULL);
	if (use_system) {
		/* the system store (what p11-kit's trust module also serves),
		 * through its hashed folder: looked up by subject when needed,
		 * instead of parsing the whole bundle on every run */
		X509_LOOKUP *dir = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
		const char *path = getenv(X509_get_default_cert_dir_env());

		if (dir == NULL || !X509_LOOKUP_add_dir(dir, path != NULL ? path
		                                        : X509_get_default_cert_dir(),
		                                        X509_FILETYPE_PEM))
			ERR_clear_error();
	}
	*out = store;
	return 0;
fail:
	X509_STORE_free(store);
	return r;
}

/* Call fn for each readable certificate in dir (its file name too);
 * damaged entries are counted in *skipped and passed over. */
static int
each_cert(const char *dir, int (*fn)(void *ud, X509 *x, const char *file), void *ud,
          int *skipped)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (skipped != NULL)
		*skipped = 0;
	if (d == NULL)
		return 0;
	while (r == 0 && (de = readdir(d)) != NULL) {
		char path[4096];
		size_t len = strlen(de->d_name);
		X509 *x = NULL;
		FILE *f;

		if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".pem") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((f = fopen(path, "r")) != NULL) {
			x = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (x == NULL) {
			if (skipped != NULL)
				(*skipped)++;
			continue;
		}
		r = fn(ud, x, path);
		X509_free(x);
	}
	closedir(d);
	ERR_clear_error();
	return r;
}

struct find_email {
	const char *email;
	STACK_OF(X509) *out;
};

static int
find_email_cb(void *ud, X509 *x, const char *file)
{
	struct find_email *fe = ud;
	psm_certinfo *ci = NULL;
	size_t i;
	int match = 0;

	(void)file;
	if (psm_certinfo_new(x, &ci) < 0)
		return 0;
	for (i = 0; ci->emails != NULL && ci->emails[i] != NULL; i++)
		if (strcasecmp(ci->emails[i], fe->email) == 0)
			match = 1;
	psm_certinfo_free(ci);
	if (!match)
		return 0;
	if (!X509_up_ref(x))
		return PSM_ERR_NOMEM;
	if (!sk_X509_push(fe->out, x)) {
		X509_free(x);
		return PSM_ERR_NOMEM;
	}
	return 0;
}

int
psm_store_find_email(psm_store *st, const char *email, STACK_OF(X509) **out)
{
	struct find_email fe = { email, sk_X509_new_null() };
	int r;

	*out = NULL;
	if (fe.out == NULL)
		return PSM_ERR_NOMEM;
	if ((r = each_cert(st->certs, find_email_cb, &fe, NULL)) < 0) {
		sk_X509_pop_free(fe.out, X509_free);
		return r;
	}
	*out = fe.out;
	return 0;
}

int
psm_store_caps(psm_store *st, X509 *cert, unsigned char **caps, size_t *len)
{
	char fp[80], path[4096];
	unsigned char buf[8192];
	size_t n;
	FILE *f;
	int r;

	*caps = NULL;
	*len = 0;
	if ((r = fingerprint(cert, fp)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s.caps", st->certs, fp);
	if ((f = fopen(path, "rb")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0 || n == sizeof(buf))
		return 0;       /* empty or damaged: as if unknown */
	if ((*caps = malloc(n)) == NULL)
		return PSM_ERR_NOMEM;
	memcpy(*caps, buf, n);
	*len = n;
	return 0;
}

struct list_all {
	STACK_OF(X509) *out;
};

static int
list_cb(void *ud, X509 *x, const char *file)
{
	struct list_all *la = ud;

	(void)file;
	if (!X509_up_ref(x))
		return PSM_ERR_NOMEM;
	if (!sk_X509_push(la->out, x)) {
		X509_free(x);
		return PSM_ERR_NOMEM;
	}
	return 0;
}

int
psm_store_list(psm_store *st, int trusted, STACK_OF(X509) **out, int *skipped)
{
	struct list_all la = { sk_X509_new_null() };
	int r;

	*out = NULL;
	if (la.out == NULL)
		return PSM_ERR_NOMEM;
	if ((r = each_cert(trusted ? st->trusted : st->certs, list_cb, &la, skipped)) < 0) {
		sk_X509_pop_free(la.out, X509_free);
		return r;
	}
	*out = la.out;
	return 0;
}

int
psm_store_forget(psm_store *st, X509 *cert)
{
	char fp[80], path[4096];
	int r, gone = 0;

	if ((r = fingerprint(cert, fp)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s.pem", st->certs, fp);
	gone |= unlink(path) == 0;
	snprintf(path, sizeof(path), "%s/%s.caps", st->certs, fp);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s.pem", st->trusted, fp);
	gone |= unlink(path) == 0;
	if (!gone) {
		psm_error_set("that certificate is not in the store; 'p11smime certs list' shows "
		              "what is");
		return PSM_ERR_NOT_FOUND;
	}
	return 0;
}

int
psm_store_fingerprint(X509 *cert, char out[80])
{
	return fingerprint(cert, out);
}

int
psm_store_trust(psm_store *st, X509 *cert)
{
	char fp[80];

	return write_pem(st->trusted, cert, fp);
}

int
psm_store_untrust(psm_store *st, X509 *cert)
{
	char fp[80], path[4096];
	int r;

	if ((r = fingerprint(cert, fp)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s.pem", st->trusted, fp);
	if (unlink(path) < 0) {
		psm_error_set("that certificate is not trusted in the store; 'p11smime certs list "
		              "--trusted' shows what is");
		return PSM_ERR_NOT_FOUND;
	}
	return 0;
}

/* ---- directory answers (see store.h and directory.h) ---- */

#define DIRCACHE_MAGIC "p11smime-directory-cache 1"
#define DIRCACHE_MAX_FILE (1024 * 1024)
#define DIRCACHE_MAX_SOURCES 16
#define DIRCACHE_MAX_CERTS 128

/* The entry's path: directory/<sha256(lower-cased addr)>. */
static int
dircache_name(psm_store *st, const char *addr, char **dir, char name[80])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char *lower = strdup(addr), *hex, *p;
	int ok;

	*dir = NULL;
	if (lower == NULL)
		return PSM_ERR_NOMEM;
	for (p = lower; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	ok = EVP_Digest(lower, strlen(lower), md, &len, EVP_sha256(), NULL);
	free(lower);
	if (!ok)
		return psm_error_from_openssl(PSM_ERR_CRYPTO, "hashing an address");
	if ((hex = psm_hex_encode(md, len)) == NULL || (*dir = join(st->home, "directory")) == NULL) {
		free(hex);
		return PSM_ERR_NOMEM;
	}
	snprintf(name, 80, "%s", hex);
	free(hex);
	return 0;
}

void
psm_store_dircache_sources_free(char **sources)
{
	size_t i;

	for (i = 0; sources != NULL && sources[i] != NULL; i++)
		free(sources[i]);
	free(sources);
}

/* Parse an entry (NUL-terminated text) into certs and sources; 0 when it
 * is for addr and fresh at now, 1 when it is not (stale, someone else's,
 * damaged). */
static int
dircache_parse(char *text, const char *addr, time_t now, STACK_OF(X509) *certs,
               char **sources)
{
	char *line = text, *nl, *pem = NULL;
	size_t ns = 0;
	int have_addr = 0, have_expiry = 0;
	BIO *b;
	X509 *x;

	if ((nl = strchr(line, '\n')) == NULL)
		return 1;
	*nl = '\0';
	if (strcmp(line, DIRCACHE_MAGIC) != 0)
		return 1;
	for (line = nl + 1; *line != '\0'; line = nl + 1) {
		if (strncmp(line, "-----BEGIN", 10) == 0) {
			pem = line;
			break;
		}
		if ((nl = strchr(line, '\n')) == NULL)
			return 1;
		*nl = '\0';
		if (strncmp(line, "address ", 8) == 0) {
			if (strcasecmp(line + 8, addr) != 0)
				return 1;
			have_addr = 1;
		} else if (strncmp(line, "expires ", 8) == 0) {
			char *end;
			long long t = strtoll(line + 8, &end, 10);

			if (*end != '\0' || t <= (long long)now)
				return 1;
			have_expiry = 1;
		} else if (strncmp(line, "source ", 7) == 0) {
			if (ns == DIRCACHE_MAX_SOURCES)
				return 1;
			if ((sources[ns] = strdup(line + 7)) == NULL)
				return PSM_ERR_NOMEM;
			ns++;
		}                       /* anything else: a later version's, ignored */
	}
	if (!have_addr || !have_expiry)
		return 1;
	if (pem == NULL)
		return 0;
	if ((b = BIO_new_mem_buf(pem, -1)) == NULL)
		return PSM_ERR_NOMEM;
	while (sk_X509_num(certs) < DIRCACHE_MAX_CERTS &&
	       (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			BIO_free(b);
			return PSM_ERR_NOMEM;
		}
	}
	BIO_free(b);
	ERR_clear_error();
	return sk_X509_num(certs) > 0 ? 0 : 1;  /* PEM that does not parse: damaged */
}

int
psm_store_dircache_get(psm_store *st, const char *addr, time_t now, int *hit,
                       STACK_OF(X509) **certs, char ***sources)
{
	STACK_OF(X509) *sk = NULL;
	char **src = NULL, *dir = NULL, *text = NULL, name[80], path[4096];
	size_t n = 0;
	FILE *f = NULL;
	int r;

	*hit = 0;
	*certs = NULL;
	*sources = NULL;
	if ((r = dircache_name(st, addr, &dir, name)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = 0;
	if ((f = fopen(path, "r")) == NULL)
		goto out;               /* nothing cached */
	r = PSM_ERR_NOMEM;
	if ((text = malloc(DIRCACHE_MAX_FILE + 1)) == NULL ||
	    (src = calloc(DIRCACHE_MAX_SOURCES + 1, sizeof(*src))) == NULL ||
	    (sk = sk_X509_new_null()) == NULL)
		goto out;
	n = fread(text, 1, DIRCACHE_MAX_FILE + 1, f);
	r = 0;
	if (n == 0 || n > DIRCACHE_MAX_FILE || memchr(text, '\0', n) != NULL)
		goto out;               /* empty, too big or damaged: as if missing */
	text[n] = '\0';
	if ((r = dircache_parse(text, addr, now, sk, src)) != 0) {
		r = r < 0 ? r : 0;
		goto out;
	}
	*hit = 1;
	*certs = sk;
	*sources = src;
	sk = NULL;                      /* transferred */
	src = NULL;
out:
	if (f != NULL)
		fclose(f);
	free(text);
	free(dir);
	sk_X509_pop_free(sk, X509_free);
	psm_store_dircache_sources_free(src);
	return r;
}

int
psm_store_dircache_put(psm_store *st, const char *addr, time_t expires,
                       const char *const *sources, size_t nsources, STACK_OF(X509) *certs)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *dir = NULL, *data, name[80];
	size_t i;
	long len;
	int r = PSM_ERR_NOMEM;

	if (mem == NULL)
		return PSM_ERR_NOMEM;
	if (strpbrk(addr, "\r\n") != NULL) {
		psm_error_set("an address with a line break cannot be cached");
		r = PSM_ERR_USAGE;
		goto out;
	}
	if ((r = dircache_name(st, addr, &dir, name)) < 0 || (r = mkdir_p(dir)) < 0)
		goto out;
	r = PSM_ERR_NOMEM;
	if (BIO_printf(mem, "%s\naddress %s\nexpires %lld\n", DIRCACHE_MAGIC, addr,
	               (long long)expires) <= 0)
		goto out;
	for (i = 0; i < nsources && i < DIRCACHE_MAX_SOURCES; i++)
		if (strpbrk(sources[i], "\r\n") == NULL && BIO_printf(mem, "source %s\n", sources[i]) <= 0)
			goto out;
	for (i = 0; certs != NULL && i < (size_t)sk_X509_num(certs) && i < DIRCACHE_MAX_CERTS; i++)
		if (!PEM_write_bio_X509(mem, sk_X509_value(certs, (int)i)))
			goto out;
	len = BIO_get_mem_data(mem, &data);
	if (len > DIRCACHE_MAX_FILE) {
		psm_error_set("the directory's answer for %s is too big to cache", addr);
		r = PSM_ERR_IO;
		goto out;
	}
	r = write_atomic(dir, name, data, (size_t)len);
out:
	BIO_free(mem);
	free(dir);
	return r;
}
