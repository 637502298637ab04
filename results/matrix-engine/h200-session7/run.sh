#!/bin/bash
# Session 7, one call (run from the source root on the lent H200 after building into /tmp/b):
# the wait for P V kept behind the softmax (WG_KEEP, wg_keep) and O's rescale skipped where no row
# max moved (WG_LAZY, wg_lazy), kernel alone against the session-6 forms (WG_KEEP=0), then through
# plans side by side (SPARSECL_FWD_PARAMS), the torch peers on the same shapes and masks, and the
# kernel suite in its wgmma forms and the plan suite on the GPU.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
E='k0-64|+wgmma -DWG_PIPE=1 -DWG_KEEP=0 @D=64|;'
E+='k1-64|+wgmma -DWG_PIPE=1 -DWG_KEEP=1 @D=64|;'
E+='k0l-64|+wgmma -DWG_PIPE=1 -DWG_KEEP=0 -DWG_LAZY=1 @D=64|;'
E+='k1l-64|+wgmma -DWG_PIPE=1 -DWG_KEEP=1 -DWG_LAZY=1 @D=64|;'
E+='k0-128b64|+wgmma -DWG_PIPE=1 -DWG_KEEP=0 @D=128,BLOCK=64|;'
E+='k1l-128b64|+wgmma -DWG_PIPE=1 -DWG_KEEP=1 -DWG_LAZY=1 @D=128,BLOCK=64|;'
E+='k0l-128b64ss|+wgmma -DWG_PIPE=1 -DWG_KEEP=0 -DWG_LAZY=1 @D=128,BLOCK=64,QREG=0|;'
E+='k1l-128b64ss|+wgmma -DWG_PIPE=1 -DWG_KEEP=1 -DWG_LAZY=1 @D=128,BLOCK=64,QREG=0|;'
E+='pp-k0|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DWG_KEEP=0 @D=128,BLOCK=128,QREG=0|;'
E+='pp-k1|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DWG_KEEP=1 @D=128,BLOCK=128,QREG=0|;'
E+='pp-k1l|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DWG_KEEP=1 -DWG_LAZY=1 @D=128,BLOCK=128,QREG=0|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 200 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
echo "C7513/C7517: $(grep -c 'C7513\|C7517' $out/ptxas.log) (at $((SECONDS - t0)) s)"
bench() { # d pattern dtype [params]
  r=$(SPARSECL_FWD_PARAMS=$4 timeout 40 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype $3 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block")))')
  echo "bench d=$1 $2 $3 [${4:-default}]: $r" | tee -a $out/bench.txt
}
for p in dense causal "local(256)"; do for prm in wg_keep=0 "" wg_lazy=1; do bench 64 "$p" bf16 "$prm"; done; done
for p in dense causal; do for prm in wg_keep=0 "" wg_lazy=1; do bench 128 "$p" bf16 "$prm"; done; done
for prm in wg_keep=0 "" wg_lazy=1 "qreg=0,wg_lazy=1"; do bench 128 "local(256)" bf16 "$prm"; done
echo "(at $((SECONDS - t0)) s)"
timeout 130 python3 scripts/bench_peers.py --n 16384 --heads 16 --d 64 --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask --patterns dense causal "local(256)" --json $out/peers64.json --md $out/peers64.md >/dev/null 2>&1; grep "^| [sf]" $out/peers64.md
for prm in wg_keep=0 ""; do bench 64 dense bf16 "$prm"; done
echo "(at $((SECONDS - t0)) s)"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 timeout 110 ./test_mma_fwd > $out/wgmma-tests.log 2>&1; echo "wgmma suite exit $?"; grep -E "checks|worst|FAIL" $out/wgmma-tests.log | head -8)
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 100 ctest --test-dir /tmp/b -j 4 -R "^(forward_mma|forward_mma_decomposed)$" > $out/ctest-gpu.log 2>&1; tail -4 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
timeout 100 python3 scripts/bench_peers.py --n 16384 --heads 16 --d 128 --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask --patterns dense "local(256)" --json $out/peers128.json --md $out/peers128.md >/dev/null 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
