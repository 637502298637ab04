#!/bin/bash
# Session 12, one call: decomposed plans whose components read the caller's Q (and K/V where each key block is loaded by few query tiles) through their maps
# inside the mma kernel and merge into O/LSE in its epilogue ("direct"), against the previous form
# (gathered Q, K/V copies, merge kernel: SPARSECL_DECOMP_COPY=1, same binary) and against the previous
# commit (.gpu-src/old, built to /tmp/b-old), alternating, with --profile; the peers in the same call;
# the GPU suites that run the changed kernel. Part a: suites and sparsecl; part b: the peers of part a;
# part c (call 2): every pattern through plans, two rounds, beside the peers (the table of README.md).
# Call 1 ran "all" (a and b), call 2 ran "a c" (run.sh OUT a; run.sh OUT c).
out=$1; part=${2:-all}; cli=/tmp/b/sparsecl; old=/tmp/b-old/sparsecl
mkdir -p $out
t0=$SECONDS
export SPARSECL_CACHE_DIR=/tmp/cache
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # tag cli copy d pattern
  r=$(SPARSECL_DECOMP_COPY=$3 timeout 60 $2 bench --pattern "$5" --seq 16384 --heads 16 --dim $4 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block")))')
  echo "bench $1 d=$4 ${5:0:40}: $r" | tee -a $out/bench.txt
}
prof() { # tag cli copy d pattern
  echo "== $1 d=$4 ${5:0:40}" >> $out/profile.txt
  SPARSECL_DECOMP_COPY=$3 timeout 60 $2 bench --pattern "$5" --seq 16384 --heads 16 --dim $4 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --profile 2>&1 | grep -E "^ +[0-9] |span|sparse fused" >> $out/profile.txt
}
if [ $part = a ] || [ $part = all ]; then
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 240 ctest --test-dir /tmp/b -j 4 -R "^(forward|forward_decomposed|forward_mma|forward_mma_decomposed|backward_decomposed|mma_forward)$" > $out/ctest-gpu.log 2>&1; tail -9 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
for p in "${pats[@]:3:2}" "${pats[@]:6:1}"; do prof direct $cli "" 64 "$p"; prof copy $cli 1 64 "$p"; done
prof direct $cli "" 128 "${pats[4]}"; prof copy $cli 1 128 "${pats[4]}"
sed 's/longformer(256, [0-9, ]*/longformer(256, 64 globals/' $out/profile.txt
echo "(at $((SECONDS - t0)) s)"
for rep in 1 2; do
  for p in "${pats[@]:3:2}" "${pats[@]:6:1}"; do bench direct $cli "" 64 "$p"; bench copy $cli 1 64 "$p"; bench old $old "" 64 "$p"; done
  for p in "${pats[@]:3:2}"; do bench direct $cli "" 128 "$p"; bench copy $cli 1 128 "$p"; bench old $old "" 128 "$p"; done
  for p in "${pats[@]:0:2}"; do bench new $cli "" 64 "$p"; bench old $old "" 64 "$p"; done
done
echo "(at $((SECONDS - t0)) s)"
fi
[ $part = a ] && exit 0
if [ $part = c ]; then
  table() { # d pattern
    r=$(timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block")))')
    echo "table d=$1 ${2:0:40}: $r" | tee -a $out/table.txt
  }
  for rep in 1 2; do
    for p in "${pats[@]}"; do table 64 "$p"; done
    for p in "${pats[@]:0:5}"; do table 128 "$p"; done
  done
  echo "(at $((SECONDS - t0)) s)"
  pb="--n 16384 --heads 16 --block 128 --flex-blocks 128 64 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
  timeout 240 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | sed 's/longformer(256, [0-9, ]*)/longformer(256, 64 globals)/'
  timeout 180 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:0:5}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
  echo "(at $((SECONDS - t0)) s)"
  exit 0
fi
pb="--n 16384 --heads 16 --block 128 --flex-blocks 128 64 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 200 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]:0:2}" "${pats[@]:3:2}" "${pats[@]:6:1}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | sed 's/longformer(256, [0-9, ]*)/longformer(256, 64 globals)/'
timeout 120 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:3:2}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
