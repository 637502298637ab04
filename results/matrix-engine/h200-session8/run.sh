#!/bin/bash
# Session 8, call 1 (run from the source root on the lent H200 after building into /tmp/b):
# 256-row query tiles at d = 64 (two warpgroups of two m64 tiles each, with and without turns)
# against the shipped forms, kernel alone; then every pattern through plans (--block auto) and
# the torch peers on the same shapes and masks, timed with the GPU queue pre-filled (the default
# of scripts/bench_peers.py now) and, for comparison, without (--no-prefill: earlier sessions).
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
E='ref64|+wgmma -DWG_PIPE=1 @D=64,BLOCK=128|;'
E+='q256|+wgmma -DWG_PIPE=1 @D=64,BLOCK=256,BQ=256,WARPS=8|;'
E+='q256pp|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=64,BLOCK=256,BQ=256,WARPS=8|;'
E+='q256pp-qd|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=64,BLOCK=256,BQ=256,WARPS=8,QREG=0|;'
E+='ref128|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,QREG=0|;'
E+='q256pp-128|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=256,BQ=256,WARPS=8,BK=64,QREG=0|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 240 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
echo "C7513/C7517: $(grep -c 'C7513\|C7517' $out/ptxas.log); spills: $(grep -c '[1-9][0-9]* bytes spill' $out/ptxas.log) (at $((SECONDS - t0)) s)"
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # d pattern
  r=$(timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block")))')
  echo "bench d=$1 ${2:0:40}: $r" | tee -a $out/bench.txt
}
for p in "${pats[@]}"; do bench 64 "$p"; done
for p in "${pats[@]:0:4}"; do bench 128 "$p"; done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 200 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md
echo "(at $((SECONDS - t0)) s)"
timeout 120 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:0:4}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
timeout 120 python3 scripts/bench_peers.py $pb --d 64 --no-prefill --patterns "${pats[@]}" --json $out/peers64-noprefill.json --md $out/peers64-noprefill.md >$out/peers64-noprefill.log 2>&1; grep "^| [sf]" $out/peers64-noprefill.md
echo "(at $((SECONDS - t0)) s)"
