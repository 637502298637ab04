#!/bin/bash
# Session 8, call 4: partial-block masks read as whole 32-bit words per row (one load per 4 n8
# tiles, when the key tile is a multiple of 32) against the per-n8-tile loads of f7c3a4d: two builds
# (/tmp/b0 the old kernel, /tmp/b the new), every pattern through plans, alternating; then 128-key
# tiles at d = 64 (FlexAttention's tile there) kernel alone, and the wgmma suite on the new build.
out=$1; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # build d pattern
  r=$(timeout 60 $1/sparsecl bench --pattern "$3" --seq 16384 --heads 16 --dim $2 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block")))')
  echo "bench $(basename $1) d=$2 ${3:0:40}: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do
  for p in "${pats[@]}"; do bench /tmp/b0 64 "$p"; bench /tmp/b 64 "$p"; done
  for p in "${pats[@]:0:4}"; do bench /tmp/b0 128 "$p"; bench /tmp/b 128 "$p"; done
done
echo "(at $((SECONDS - t0)) s)"
E='ref64|+wgmma -DWG_PIPE=1 @D=64,BLOCK=128|;'
E+='bk128|+wgmma @D=64,BLOCK=128,BK=128|;'
E+='bk128q0|+wgmma @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='bk128pq0|+wgmma -DWG_PIPE=1 @D=64,BLOCK=128,BK=128,QREG=0|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 150 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
grep -E "^===|Used [0-9]+ registers, used [0-9]+ barriers, [0-9]+ bytes smem|spill" $out/ptxas.log | grep -v "Used 2[0-9] registers" | head -30
echo "(at $((SECONDS - t0)) s)"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 timeout 120 ./test_mma_fwd > $out/wgmma-tests.log 2>&1; echo "wgmma suite exit $?"; grep -E "checks|worst|FAIL" $out/wgmma-tests.log | head -8)
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 100 ctest --test-dir /tmp/b -j 4 -R "^(forward_mma|forward_mma_decomposed)$" > $out/ctest-gpu.log 2>&1; tail -4 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
