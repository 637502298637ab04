#!/bin/bash
# Session 8, call 5: the new d = 64 default for 128-row tiles (128-key tiles, not pipelined, Q by
# descriptor) and the mask read as words (not in the two-warpgroup form), kernel alone against the
# old forms and more forms of 64-row tiles; through plans alternating with the old form
# (SPARSECL_FWD_PARAMS); every pattern through plans and the peers, same call; the kernel suites.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
E='old64|+wgmma -DWG_PIPE=1 @D=64,BLOCK=128,BK=64|;'
E+='new64|+wgmma @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-s1|+wgmma @D=64,BLOCK=128,BK=128,QREG=0,STAGES=1|;'
E+='b64-pipe|+wgmma -DWG_PIPE=1 @D=64,BLOCK=64|;'
E+='b64-q0|+wgmma @D=64,BLOCK=64,QREG=0|;'
E+='b64-q1|+wgmma @D=64,BLOCK=64|;'
E+='d128b64-pipe|+wgmma -DWG_PIPE=1 @D=128,BLOCK=64|;'
E+='d128b64-q0|+wgmma @D=128,BLOCK=64,QREG=0|;'
E+='pp128|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,QREG=0|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 200 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
grep -E "^===|Used [0-9]+ registers, used [0-9]+ barriers, [0-9]+ bytes smem|spill" $out/ptxas.log | grep -v "Used 2[0-9] registers" | grep -v "^ptxas *\. *0 bytes stack" | head -40
echo "(at $((SECONDS - t0)) s)"
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # d pattern [params]
  r=$(SPARSECL_FWD_PARAMS=$3 timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s params %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBK", "-DQREG", "-DWG_PIPE")))))')
  echo "bench d=$1 ${2:0:40} [${3:-default}]: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do for p in dense causal; do bench 64 $p; bench 64 $p "bk=64,qreg=1,wg_pipe=1"; done; done
for p in "${pats[@]}"; do bench 64 "$p"; done
for p in "${pats[@]:0:4}"; do bench 128 "$p"; done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 200 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | cut -c1-120
timeout 120 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:0:4}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
for p in dense causal; do bench 64 $p; done
echo "(at $((SECONDS - t0)) s)"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 timeout 120 ./test_mma_fwd > $out/wgmma-tests.log 2>&1; echo "wgmma suite exit $?"; grep -E "checks|worst|FAIL" $out/wgmma-tests.log | head -8)
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 100 ctest --test-dir /tmp/b -j 4 -R "^(forward_mma|forward_mma_decomposed)$" > $out/ctest-gpu.log 2>&1; tail -4 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
