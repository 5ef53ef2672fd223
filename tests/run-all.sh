#!/bin/bash
# The whole test suite, from a fresh clone on Debian 12 (as root it
# installs the packages it needs): autogen, then two builds, each with
# `make check` — strict (-Werror) and AddressSanitizer+UBSan — and
# `make distcheck`. Ends with one line "N passed, N failed[, N skipped]".
#
# Usage: tests/run-all.sh [--no-asan] [--no-distcheck]
set -uo pipefail
# the compiler's and make's messages this script greps for, in English
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 4
top=$PWD
asan=1
distcheck=1
for a in "$@"; do
	case $a in
	--no-asan) asan=0 ;;
	--no-distcheck) distcheck=0 ;;
	*) echo "usage: tests/run-all.sh [--no-asan] [--no-distcheck]" >&2; exit 2 ;;
	esac
done

bash tests/setup-debian.sh || exit 4
./autogen.sh >/dev/null 2>&1 || { echo "autogen.sh failed" >&2; ./autogen.sh; exit 4; }

# the shared corpus of other programs' messages sits beside the clone
[ -d "$top/../shared/corpus" ] && export P11SMIME_CORPUS="$top/../shared/corpus"

pass=0 fail=0 skip=0
jobs=$(nproc 2>/dev/null || echo 2)

count() { # test-suite.log
	local log=$1 n
	[ -f "$log" ] || { fail=$((fail + 1)); return; }
	n=$(sed -n 's/^# PASS: *//p' "$log"); pass=$((pass + ${n:-0}))
	n=$(sed -n 's/^# XFAIL: *//p' "$log"); pass=$((pass + ${n:-0}))
	n=$(sed -n 's/^# SKIP: *//p' "$log"); skip=$((skip + ${n:-0}))
	for k in FAIL XPASS ERROR; do
		n=$(sed -n "s/^# $k: *//p" "$log"); fail=$((fail + ${n:-0}))
	done
}

variant() { # name configure-args...
	local name=$1 dir=$top/_build-$1
	shift
	echo "=== $name build: configure $*"
	rm -rf "$dir"
	mkdir -p "$dir"
	if ! (cd "$dir" && ../configure "$@" >configure.out 2>&1); then
		tail -30 "$dir/configure.out"; fail=$((fail + 1)); return
	fi
	if ! (cd "$dir" && make -j"$jobs" >make.out 2>&1); then
		grep -E 'error|warning' "$dir/make.out" | head -40; fail=$((fail + 1)); return
	fi
	(cd "$dir" && make -j"$jobs" check >check.out 2>&1)
	grep -E '^(PASS|FAIL|ERROR|SKIP|XPASS|XFAIL):' "$dir/check.out" | grep -v '^PASS' || true
	grep -E '^# (TOTAL|PASS|FAIL|ERROR|SKIP):' "$dir/check.out" | sed "s/^/[$name] /"
	if grep -qE '^# (FAIL|ERROR): *[1-9]' "$dir/check.out"; then
		for l in "$dir"/tests/unit/*.log "$dir"/tests/integration/*.log; do
			grep -qE '^(not ok|Bail out)' "$l" 2>/dev/null && { echo "--- $l"; grep -vE '^ok ' "$l" | head -60; }
		done
	fi
	count "$dir/test-suite.log"
}

variant strict --enable-strict
[ $asan = 1 ] && variant asan --enable-strict --enable-asan

if [ $distcheck = 1 ]; then
	echo "=== make distcheck"
	# distcheck installs into $TMPDIR/am-dc-PID, which libtool cannot do
	# when the caller's TMPDIR has a space in it: a folder of the build's own
	mkdir -p "$top/_build-strict/tmp"
	if (cd "$top/_build-strict" && TMPDIR=$top/_build-strict/tmp make -j"$jobs" distcheck >distcheck.out 2>&1); then
		pass=$((pass + 1)); echo "distcheck: ok"
	else
		fail=$((fail + 1)); echo "distcheck: FAILED"; tail -40 "$top/_build-strict/distcheck.out"
	fi
fi

if [ $skip -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail -eq 0 ] && [ $pass -gt 0 ]
