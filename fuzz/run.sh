#!/bin/bash
# Run one harness on its seeds without touching them: libFuzzer writes the
# inputs it finds into the first corpus folder it is given, so that is
# fuzz/corpus-run/HARNESS (not tracked); the seeds in fuzz/corpus/ are read
# only. Crashes and leaks go to fuzz/corpus-run/HARNESS-artifacts/.
#   fuzz/run.sh fuzz_cms_stream -runs=2000000
#   fuzz/run.sh fuzz_inspect -max_total_time=600 -print_final_stats=1
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: fuzz/run.sh HARNESS [libFuzzer options]" >&2; exit 2; }
h=$1
shift
case $h in
fuzz_cms_stream) seeds=cms ;;
fuzz_cms_envstream) seeds=cms-env ;;
fuzz_mime_reader | fuzz_mime_header) seeds=mime ;;
fuzz_inspect) seeds=inspect ;;
fuzz_caps) seeds=caps ;;
*) echo "fuzz/run.sh: unknown harness '$h'" >&2; exit 2 ;;
esac
[ -x "$top/fuzz/out/$h" ] || { echo "fuzz/run.sh: build it first: fuzz/build.sh" >&2; exit 2; }
work=$top/fuzz/corpus-run/$h
mkdir -p "$work" "$work-artifacts"
exec "$top/fuzz/out/$h" -artifact_prefix="$work-artifacts/" "$@" "$work" "$top/fuzz/corpus/$seeds"
