#!/bin/bash
# Session 9, call 7: min_groups = 4 left out where the layout has no partial block (BigBird): the
# plans' options and times of the shipped code, once each, and the plan suites on the GPU.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
for p in "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)" "dense"; do
  r=$(timeout 60 $cli bench --pattern "$p" --seq 16384 --heads 16 --dim 64 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBK", "-DHAS_MASKS", "-DWG_PIPE", "-DMIN_GROUPS")))))')
  echo "bench d=64 ${p:0:40}: $r" | tee -a $out/bench.txt
done
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 120 ctest --test-dir /tmp/b -j 4 -R "^(forward|forward_mma|forward_mma_decomposed|autotune)$" > $out/ctest-gpu.log 2>&1; tail -7 $out/ctest-gpu.log
