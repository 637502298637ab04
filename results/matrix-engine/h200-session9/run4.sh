#!/bin/bash
# Session 9, call 4: the code as committed (the mask-free loop at d <= 64 only), every pattern
# through plans (two rounds), the peers in the same call with FlexAttention on 128- and 64-blocks
# (its time: the faster; outputs compared), the kernel suites on the GPU.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # d pattern
  r=$(timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBK", "-DHAS_MASKS", "-DWG_PIPE")))))')
  echo "bench d=$1 ${2:0:40}: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do
  for p in "${pats[@]}"; do bench 64 "$p"; done
  for p in "${pats[@]:0:4}"; do bench 128 "$p"; done
done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --flex-blocks 128 64 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 300 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | sed 's/longformer(256, [0-9, ]*)/longformer(256, 64 globals)/'
timeout 180 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:0:4}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 timeout 120 ./test_mma_fwd > $out/wgmma-tests.log 2>&1; echo "wgmma suite exit $?"; grep -E "checks|worst|FAIL" $out/wgmma-tests.log | head -8)
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 150 ctest --test-dir /tmp/b -j 4 -R "^(forward|forward_mma|forward_mma_decomposed|backward)$" > $out/ctest-gpu.log 2>&1; tail -6 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
