#!/bin/sh
# CLI test for `sparsecl pattern`: exit codes, error lines with columns, and the export files.
# Usage: cli_pattern.sh SPARSECL_BINARY WORK_DIR
set -u
bin=$1
work=$2
mkdir -p "$work"
fails=0
checks=0

expect() { # expect CODE NEEDLE -- ARGS...: run, check the exit code and that NEEDLE is in stdout+stderr
    code=$1
    needle=$2
    shift 3
    out=$("$bin" pattern "$@" 2>&1)
    rc=$?
    checks=$((checks + 1))
    if [ "$rc" -ne "$code" ]; then
        echo "FAIL: sparsecl pattern $*: exit $rc, expected $code"
        echo "$out" | sed 's/^/    /'
        fails=$((fails + 1))
    elif ! printf '%s' "$out" | grep -qF -- "$needle"; then
        echo "FAIL: sparsecl pattern $*: output lacks '$needle'"
        echo "$out" | sed 's/^/    /'
        fails=$((fails + 1))
    fi
}

expect 0 "usage: sparsecl pattern" -- --help
expect 0 "unique masks    1" -- causal --seq 1024 --block 64
expect 0 '"unique_masks":' -- "causal & strided(128)" --seq 4096 --block 64 --json
expect 0 "unique layouts  2" -- "heads(0-1: causal; 2-3: local(8))" --seq 300 --kv-seq 200 --block 16 --heads 4
expect 2 "sparsecl pattern: error: column 10: strided() takes 1 argument, got 2" -- "causal & strided(128, 4)" --seq 64
expect 2 "column 1: unknown pattern 'foo'" -- foo --seq 64
expect 2 "column 7: local() argument w must be non-negative" -- "local(-1)" --seq 64
expect 2 "column 9: strided() stride l must be at least 1" -- "strided(0)" --seq 64
expect 2 "must not exceed" -- "fixed(4, 5)" --seq 64
expect 2 "seed is missing" -- "bigbird(3, 1, 2)" --seq 64
expect 2 "does not cover head 2" -- "heads(0-1: causal)" --seq 64 --heads 4
expect 2 "cannot open" -- "layout($work/missing.npy)" --seq 64
expect 2 "--seq N is required" -- causal
expect 2 "missing SPEC" -- --seq 64
expect 2 "power of two" -- causal --seq 64 --block 48
expect 2 "above the 256 MiB limit" -- causal --seq 100000 --mask-out "$work/m.npy"
expect 2 "unknown option" -- causal --seq 64 --frobnicate
# --explain: the decomposition chosen by the cost model, and the forced / turned-off ones.
expect 0 "2 permuted local" -- "causal & strided(128)" --seq 16384 --block 64 --explain
expect 0 "after: all components" -- "causal & fixed(128, 16)" --seq 8192 --explain
expect 0 "2 gathered rows" -- "longformer(64, 5, 900, 1700)" --seq 4096 --explain
expect 0 '"decomposed":	true' -- "causal & strided(64)" --seq 4096 --explain --json
expect 0 "execution       block LUT" -- "causal & strided(64)" --seq 4096 --explain --decompose off
expect 0 "the block LUT is exact" -- "causal & local(100)" --seq 4096 --explain --decompose force
expect 2 "--decompose: expected auto, off or force" -- causal --seq 64 --explain --decompose maybe
expect 0 "pattern         causal | global(0-3)" -- "causal|global(0-3)" --seq 200 --kv-seq 100 --block 16 --heads 2 \
    --layout-out "$work/l.npy" --mask-out "$work/m.npy" --lut-out "$work/p.lut" --lut-json "$work/p.json" --png "$work/p.png"
for f in l.npy m.npy p.lut p.json p.png; do
    checks=$((checks + 1))
    if [ ! -s "$work/$f" ]; then
        echo "FAIL: $work/$f was not written"
        fails=$((fails + 1))
    fi
done
# A layout written by --layout-out has classes 0/1/2; non-zero = attend, so it reads back as a
# layout() of the same geometry.
expect 0 "pattern         layout(" -- "layout($work/l.npy)" --seq 200 --kv-seq 100 --block 16 --heads 2
expect 2 "does not match" -- "layout($work/l.npy)" --seq 500 --block 16 --heads 2

echo "cli_pattern: $checks checks, $fails failures"
[ "$fails" -eq 0 ]
