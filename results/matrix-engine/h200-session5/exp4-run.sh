#!/bin/bash
# Session 5, call exp4 (run from the source root on the lent H200 after building into /tmp/b):
# kernel alone with Q by descriptor, the wgmma suite, plan bench with and without qreg=0, peers.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
BUILD=/tmp/b SWEEP=0 EXPERIMENTS='wgp|+wgmma -DWG_PIPE=1 @BLOCK=128|;ssp|+wgmma -DWG_PIPE=1 @QREG=0|;wg|+wgmma @D=128,BLOCK=128|;ss|+wgmma @QREG=0,BLOCK=128|' timeout 200 scripts/gpu-mma-session $out exp | grep "^|\|checks"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 timeout 120 ./test_mma_fwd > $out/ss-wgmma-tests.log 2>&1; echo "wgmma suite exit $?"; grep -E "checks|worst|FAIL" $out/ss-wgmma-tests.log | head -5)
for d in 64 128; do for p in dense causal; do for ov in "" "qreg=0"; do
  r=$(SPARSECL_FWD_PARAMS=$ov timeout 60 $cli bench --pattern "$p" --seq 16384 --heads 16 --dim $d --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block")))')
  echo "bench d=$d $p [${ov:-default}]: $r" | tee -a $out/ss-bench.txt
done; done; done
for d in 64 128; do timeout 150 python3 scripts/bench_peers.py --n 16384 --heads 16 --d $d --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask --patterns dense causal --md $out/ss-peers$d.md >/dev/null 2>&1; grep "^| [sf]" $out/ss-peers$d.md; done
