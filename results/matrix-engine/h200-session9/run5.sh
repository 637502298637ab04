#!/bin/bash
# Session 9, call 5: 64-row tiles (blocks of 64: the sparse patterns) with four work-groups per SM
# (PTX .maxnreg 128 / .minnctapersm 4) and not pipelined, kernel alone; through plans, the sparse
# patterns with 64-row tiles not pipelined (wg_pipe=0) against the default, alternating, two rounds
# (session 8 measured this before the mask-free builds and loop).
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
E='b64-pipe|+wgmma -DWG_PIPE=1 @D=64,BLOCK=64|;'
E+='b64-pipe-r128|+wgmma -DWG_PIPE=1 @D=64,BLOCK=64|maxnreg=128;'
E+='b64-pipe-c4|+wgmma -DWG_PIPE=1 @D=64,BLOCK=64|minctas=4;'
E+='b64-np|+wgmma @D=64,BLOCK=64|;'
E+='b64-np-c4|+wgmma @D=64,BLOCK=64|minctas=4;'
E+='b64-pipe-again|+wgmma -DWG_PIPE=1 @D=64,BLOCK=64|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 200 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
grep -E "^===|Used [0-9]+ registers|spill" $out/ptxas.log | grep -v "Used 2[0-9] registers" | grep -v " 0 bytes spill" | sed 's/  */ /g' | head -30
echo "(at $((SECONDS - t0)) s)"
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # d pattern [params]
  r=$(SPARSECL_FWD_PARAMS=$3 timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBK", "-DQREG", "-DHAS_MASKS", "-DWG_PIPE")))))')
  echo "bench d=$1 ${2:0:40} [${3:-default}]: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do
  for p in "${pats[@]}"; do bench 64 "$p"; bench 64 "$p" wg_pipe=0; done
  for p in "${pats[@]:0:2}"; do bench 128 "$p"; bench 128 "$p" wg_pipe=0,qreg=0; done
done
echo "(at $((SECONDS - t0)) s)"
