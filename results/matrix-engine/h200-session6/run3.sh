#!/bin/bash
# Session 6, call 3 (run from the source root on the lent H200 after building into /tmp/b), with
# wg_pp=1 the default at d = 128 with 128-row tiles: the plan suites and the wgmma suite (--full),
# then `sparsecl bench --block auto` with the old default (wg_pipe=0 wg_pp=0) side by side, then
# the torch peers on the same shapes and masks, then one kernel experiment.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
BUILD=/tmp/b timeout 300 scripts/gpu-mma-session $out tests 2>&1 | grep -E "tests passed|checks|worst|FAIL|Failed|exit" | head -20
bench() { # d pattern dtype [params]
  r=$(SPARSECL_FWD_PARAMS=$4 timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype $3 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block")))')
  echo "bench d=$1 $2 $3 [${4:-default}]: $r" | tee -a $out/bench.txt
}
for p in dense causal "local(256)" "causal & strided(128)"; do bench 128 "$p" bf16; done
bench 128 dense f16
for p in dense causal; do bench 128 "$p" bf16 "wg_pipe=0,wg_pp=0"; done
for p in dense causal "local(256)"; do bench 64 "$p" bf16; done
timeout 200 python3 scripts/bench_peers.py --n 16384 --heads 16 --d 128 --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask --patterns dense causal "local(256)" "causal & strided(128)" --json $out/peers128.json --md $out/peers128.md >/dev/null 2>&1; grep "^| [sf]" $out/peers128.md
timeout 150 python3 scripts/bench_peers.py --n 16384 --heads 16 --d 64 --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask --patterns dense causal "local(256)" --json $out/peers64.json --md $out/peers64.md >/dev/null 2>&1; grep "^| [sf]" $out/peers64.md
BUILD=/tmp/b SWEEP=0 EXPERIMENTS='pp128k64ss|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,BK=64,QREG=0|;pp128ss|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,QREG=0|' timeout 120 scripts/gpu-mma-session $out exp | grep "^| pp"
echo "C7513 count: $(grep -c C7513 $out/ptxas.log)"
