#!/bin/bash
# The installed library as a packager and a second program see it: the
# pkg-config file names only packages that exist (libp11 is not used) and
# gives flags to build and link with libp11smime.
. "$top_srcdir/tests/integration/lib.sh"
plan 4
export PKG_CONFIG_PATH=$top_builddir
run_cmd pkg-config --print-errors --exists p11smime
check "pkg-config finds p11smime.pc and every package it requires" rc_is 0
check "...and libp11 is not among them" sh -c "! grep -q libp11 '$top_builddir/p11smime.pc'"
run_cmd pkg-config --cflags --libs p11smime
check "pkg-config --cflags --libs p11smime: -lp11smime and the headers' folder" \
	sh -c "[ $RC -eq 0 ] && grep -q -- '-lp11smime' '$TMP/out' && grep -q -- '-I.*/p11smime' '$TMP/out'"
run_cmd pkg-config --static --libs p11smime
check "...--static adds what it links: libcrypto and p11-kit" \
	sh -c "[ $RC -eq 0 ] && grep -q -- '-lcrypto' '$TMP/out' && grep -q -- '-lp11-kit' '$TMP/out'"
done_testing
