#!/bin/bash
# Session 9, call 3: the tiles before a row's first partial block without the mask code (rows
# uploaded full blocks first), against the previous commit (old/, built into /tmp/b0): kernel
# alone (dense and causal: the causal diagonal is the last block of a row), then every pattern
# through plans alternating old / new, two rounds; the peers in the same call (Longformer's
# globals by arithmetic, BigBird also on 64-blocks); the suites on the GPU with the new code.
out=$1; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
(cd old && cmake -S . -B /tmp/b0 -DCMAKE_BUILD_TYPE=Release -DSPARSECL_MPI=OFF >/dev/null && cmake --build /tmp/b0 -j16 2>&1 | grep -E "error|warning")
E='new64|+wgmma @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='b64-pipe|+wgmma -DWG_PIPE=1 @D=64,BLOCK=64|;'
E+='d128b64|+wgmma -DWG_PIPE=1 @D=128,BLOCK=64|;'
E+='pp128|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,QREG=0|'
echo "== kernel alone, previous commit"
(cd old && BUILD=/tmp/b0 SWEEP=0 EXPERIMENTS="$E" timeout 200 scripts/gpu-mma-session $out/old exp | grep "^|\|error\|fail")
echo "== kernel alone, new"
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 200 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
grep -E "^===|Used [0-9]+ registers|spill" $out/ptxas.log | grep -v "Used 2[0-9] registers" | grep -v " 0 bytes spill" | sed 's/  */ /g' | head -30
echo "(at $((SECONDS - t0)) s)"
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # build d pattern
  r=$(timeout 60 $1/sparsecl bench --pattern "$3" --seq 16384 --heads 16 --dim $2 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBK", "-DHAS_MASKS", "-DWG_PIPE")))))')
  echo "bench ${1#/tmp/} d=$2 ${3:0:40}: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do
  for p in "${pats[@]}"; do bench /tmp/b0 64 "$p"; bench /tmp/b 64 "$p"; done
  for p in "${pats[@]:0:4}"; do bench /tmp/b0 128 "$p"; bench /tmp/b 128 "$p"; done
done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 240 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | cut -c1-120
timeout 120 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:0:4}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 timeout 120 ./test_mma_fwd > $out/wgmma-tests.log 2>&1; echo "wgmma suite exit $?"; grep -E "checks|worst|FAIL" $out/wgmma-tests.log | head -8)
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 150 ctest --test-dir /tmp/b -j 4 -R "^(forward|forward_mma|forward_mma_decomposed|backward)$" > $out/ctest-gpu.log 2>&1; tail -6 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
