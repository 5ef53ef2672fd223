#!/bin/bash
# Build the libFuzzer harnesses with clang (ASan + UBSan), into fuzz/out/.
#   fuzz/build.sh && fuzz/run.sh fuzz_cms_stream -runs=2000000
#   (fuzz/run.sh keeps the inputs libFuzzer finds out of fuzz/corpus/)
# Needs clang and libclang-rt-*-dev (Debian: clang-14 libclang-rt-14-dev).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/fuzz/out
mkdir -p "$out"
version=$(sed -n 's/^AC_INIT(\[p11smime\], *\[\([^]]*\)\].*/\1/p' "$top/configure.ac")
printf '#define _GNU_SOURCE 1\n#define PACKAGE_NAME "p11smime"\n#define PACKAGE_VERSION "%s"\n' \
	"${version:-0}" >"$out/config.h"
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$out -I$top/core -I$top/tokens"
LIBS="$(pkg-config --libs openssl)"
build() { # name sources...
	local name=$1
	shift
	clang $CFLAGS -o "$out/$name" "$@" $LIBS
	echo "built $out/$name"
}
for n in fuzz_cms_stream fuzz_cms_envstream; do
	build "$n" "$top/fuzz/$n.c" "$top/core/cms_stream.c" "$top/core/error.c"
done
for h in "$top"/fuzz/fuzz_mime_*.c; do
	[ -e "$h" ] || continue
	n=$(basename "$h" .c)
	build "$n" "$h" "$top/core/mime_header.c" "$top/core/mime_reader.c" "$top/core/error.c"
done
# the message paths that need no key (inspect) and the small parsers
# (SMIMECapabilities, settings): core/ but csr.c (it reads PINs), no tokens/
core_all=$(ls "$top"/core/*.c | grep -v '/csr\.c$')
for n in fuzz_inspect fuzz_caps; do
	build "$n" -DPSM_LDAP_SONAME='"libldap-2.5.so.0"' "$top/fuzz/$n.c" $core_all -ldl
done
