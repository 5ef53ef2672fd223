/* libFuzzer harness: the streaming EnvelopedData / AuthEnvelopedData
 * walker (core/cms_stream.c) on arbitrary bytes, pulled in chunks whose
 * size comes from the input's first byte. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>

#include "cms_stream.h"
#include "error.h"

#include "fuzz_pull.h"

struct seen {
	int headers;
	int auth;
	size_t content;
};

static int
on_header(void *ud, const unsigned char *der, size_t der_len, int auth)
{
	struct seen *w = ud;
	const unsigned char *q = der;
	CMS_ContentInfo *cms;

	if (w->headers++ != 0 || w->content != 0 || der_len < 8 || (auth != 0 && auth != 1))
		abort();
	w->auth = auth;
	/* what we rebuild must be something OpenSSL can at least try */
	cms = d2i_CMS_ContentInfo(NULL, &q, (long)der_len);
	if (cms != NULL)
		(void)CMS_get0_RecipientInfos(cms);
	CMS_ContentInfo_free(cms);
	return 0;
}

static int
sink(void *ud, const void *buf, size_t len)
{
	struct seen *w = ud;

	(void)buf;
	if (w->headers != 1)
		abort();
	w->content += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s;
	struct seen w;
	unsigned char mac[16];
	size_t mac_len = sizeof(mac);
	int r;

	if (size < 1)
		return 0;
	s.p = data + 1;
	s.len = size - 1;
	s.pos = 0;
	s.chunk = (size_t)(data[0] % 64) + 1;
	memset(&w, 0, sizeof(w));
	psm_error_clear();
	r = psm_cms_envelope_stream(pull, &s, on_header, &w, sink, &w, mac, &mac_len);
	if (r == 0 && (w.headers != 1 || (w.auth ? mac_len < 1 || mac_len > 16 : mac_len != 0)))
		abort();
	if (r < 0 && (r != PSM_ERR_MALFORMED || mac_len != 0 || psm_error_detail()[0] == '\0'))
		abort();
	return 0;
}
