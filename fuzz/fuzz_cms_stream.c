/* libFuzzer harness: the streaming SignedData walker (core/cms_stream.c)
 * on arbitrary bytes, pulled in chunks whose size comes from the input. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>

#include "cms_stream.h"

#include "fuzz_pull.h"

static int
sink(void *ud, const void *buf, size_t len)
{
	size_t *total = ud;

	(void)buf;
	*total += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s;
	unsigned char *der = NULL;
	size_t der_len = 0, total = 0;

	if (size < 1)
		return 0;
	s.p = data + 1;
	s.len = size - 1;
	s.pos = 0;
	s.chunk = (size_t)(data[0] % 64) + 1;
	if (psm_cms_detach_stream(pull, &s, sink, &total, &der, &der_len) == 0) {
		/* what we rebuild must be something OpenSSL can at least try */
		const unsigned char *q = der;
		CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)der_len);

		CMS_ContentInfo_free(cms);
	}
	free(der);
	return 0;
}
