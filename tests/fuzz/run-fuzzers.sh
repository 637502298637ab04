#!/bin/sh
# Build the libFuzzer targets with clang (-DSPARSECL_FUZZ=ON adds -fsanitize=fuzzer,address,undefined)
# and run each for SECONDS (default 20). New inputs go to a scratch corpus in the build folder,
# never into the checked-in seed corpus; crashes are written to <build>/fuzz-artifacts/.
# A target with a dictionary (tests/fuzz/<target>.dict: option names, JSON keys) gets it; fuzz_cli
# runs with its stdout/stderr closed (-close_fd_mask=3: every input prints a usage error, and the
# sanitizers' reports still reach libFuzzer's own stderr).
# Usage: tests/fuzz/run-fuzzers.sh [SECONDS]
# Environment: SPARSECL_FUZZ_BUILD (build folder, default build-fuzz at the repo root),
#              SPARSECL_FUZZ_SOURCE (CMake source folder, default the repo root), CC (default clang).
set -eu
seconds=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src=${SPARSECL_FUZZ_SOURCE:-$root}
build=${SPARSECL_FUZZ_BUILD:-$root/build-fuzz}
cc=${CC:-clang}
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DSPARSECL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets="fuzz_spec fuzz_npy fuzz_lut fuzz_tuning_db fuzz_cli"
# shellcheck disable=SC2086
cmake --build "$build" --target $targets -j"$(nproc 2>/dev/null || echo 2)"

mkdir -p "$build/fuzz-artifacts"
status=0
for target in $targets; do
    bin=$(find "$build" -type f -name "$target" -perm -u+x | head -n 1)
    if [ -z "$bin" ]; then echo "$target: not built" >&2; exit 1; fi
    work="$build/fuzz-corpus/$target"
    mkdir -p "$work"
    set --
    if [ -f "$here/$target.dict" ]; then set -- "$@" -dict="$here/$target.dict"; fi
    if [ "$target" = fuzz_cli ]; then set -- "$@" -close_fd_mask=3; fi
    echo "== $target for ${seconds}s"
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$target-" "$@" "$work" "$here/corpus/$target"; then
        echo "$target: FAILED (see $build/fuzz-artifacts/)" >&2
        status=1
    fi
done
exit $status
