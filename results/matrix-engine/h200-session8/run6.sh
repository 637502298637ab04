#!/bin/bash
# Session 8, call 6: plan-level A/B of the remaining choices (SPARSECL_FWD_PARAMS, alternating, two
# rounds): d = 64 128-row tiles with one K/V buffer each (stages=1, FlashAttention-2's order) or two;
# 64-row tiles (blocks of 64: the sparse patterns) not pipelined (wg_pipe=0; at d = 128 with Q by
# descriptor) or pipelined; the d = 128 turns with the per-tile mask reads restored; then the
# peers, same call, and the kernel suites on the GPU.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # d pattern [params]
  r=$(SPARSECL_FWD_PARAMS=$3 timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s params %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBK", "-DQREG", "-DWG_PIPE", "-DSTAGES")))))')
  echo "bench d=$1 ${2:0:40} [${3:-default}]: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do
  for p in dense causal; do bench 64 $p; bench 64 $p stages=1; done
  for p in "${pats[@]:2}"; do bench 64 "$p"; bench 64 "$p" wg_pipe=0; done
  for p in "${pats[@]:2:2}"; do bench 128 "$p"; bench 128 "$p" wg_pipe=0,qreg=0; done
  for p in dense causal; do bench 128 $p; done
done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 200 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | cut -c1-120
timeout 120 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:0:4}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 timeout 120 ./test_mma_fwd > $out/wgmma-tests.log 2>&1; echo "wgmma suite exit $?"; grep -E "checks|worst|FAIL" $out/wgmma-tests.log | head -8)
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 100 ctest --test-dir /tmp/b -j 4 -R "^(forward_mma|forward_mma_decomposed)$" > $out/ctest-gpu.log 2>&1; tail -4 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
