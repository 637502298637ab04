#!/bin/bash
# Session 12, call 3: split rows (host/src/plan_split.c) as the plan chooses them against none
# (SPARSECL_SPLIT_ROWS=0, same binary), alternating, two rounds, with --profile; the GPU suites that
# run the changed kernel; the peers of the patterns it splits, in the same call.
out=$1; cli=/tmp/b/sparsecl
mkdir -p $out
t0=$SECONDS
export SPARSECL_CACHE_DIR=/tmp/cache
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 300 ctest --test-dir /tmp/b -j 4 -R "^(forward|forward_decomposed|forward_mma|forward_mma_decomposed|forward_mma_split|forward_mma_split_decomposed|mma_forward)$" > $out/ctest-gpu.log 2>&1; tail -10 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
bench() { # tag split d pattern
  r=$(SPARSECL_SPLIT_ROWS=$2 timeout 60 $cli bench --pattern "$4" --seq 16384 --heads 16 --dim $3 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s%s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " SPLIT" if "-DSPLIT=1" in d.get("kernel_options", "") else ""))')
  echo "bench $1 d=$3 ${4:0:40}: $r" | tee -a $out/bench.txt
}
prof() { # tag split d pattern
  echo "== $1 d=$3 ${4:0:40}" >> $out/profile.txt
  SPARSECL_SPLIT_ROWS=$2 timeout 60 $cli bench --pattern "$4" --seq 16384 --heads 16 --dim $3 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --profile 2>&1 | grep -E "^ +[0-9] |span|sparse fused" >> $out/profile.txt
}
for p in "${pats[@]:5:2}"; do prof split "" 64 "$p"; prof none 0 64 "$p"; done
sed 's/longformer(256, [0-9, ]*/longformer(256, 64 globals/' $out/profile.txt
echo "(at $((SECONDS - t0)) s)"
for rep in 1 2; do
  for p in "${pats[@]}"; do bench split "" 64 "$p"; bench none 0 64 "$p"; done
  for p in "${pats[@]:0:5}"; do bench split "" 128 "$p"; bench none 0 128 "$p"; done
done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --flex-blocks 128 64 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 150 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]:5:2}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | sed 's/longformer(256, [0-9, ]*)/longformer(256, 64 globals)/'
echo "(at $((SECONDS - t0)) s)"
