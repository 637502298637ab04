#!/bin/bash
# Session 8, call 2: the pipelined wgmma loop with two P arrays taking turns (WG_PING=1, the loop
# unrolled by two) against the shipped copy (WG_PING=0), kernel alone, at the shipped tiles and
# with 32-key tiles / Q by descriptor (fewer registers); then the wgmma kernel suite with WG_PING=1.
out=$1
mkdir -p $out
t0=$SECONDS
E=''
for f in "64|BLOCK=128" "64|BLOCK=64" "128|BLOCK=128,QREG=0" "128|BLOCK=64"; do
  d=${f%%|*} prm=${f#*|} pp=""; [ "$prm" = "BLOCK=128,QREG=0" ] && pp=" -DWG_PP=1"
  E+="ping0-d$d-${prm//[=,]/}|+wgmma -DWG_PIPE=1$pp -DWG_PING=0 @D=$d,$prm|;"
  E+="ping1-d$d-${prm//[=,]/}|+wgmma -DWG_PIPE=1$pp -DWG_PING=1 @D=$d,$prm|;"
done
E+='ping1-d64-q0|+wgmma -DWG_PIPE=1 -DWG_PING=1 @D=64,BLOCK=128,QREG=0|;'
E+='ping1-d64-bk32|+wgmma -DWG_PIPE=1 -DWG_PING=1 @D=64,BLOCK=128,BK=32|;'
E+='ping1-d64-bk32q0|+wgmma -DWG_PIPE=1 -DWG_PING=1 @D=64,BLOCK=128,BK=32,QREG=0|;'
E+='ping0-d64-bk32|+wgmma -DWG_PIPE=1 -DWG_PING=0 @D=64,BLOCK=128,BK=32|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 300 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
echo "C7513/C7517: $(grep -c 'C7513\|C7517' $out/ptxas.log) (at $((SECONDS - t0)) s)"
grep -E "^===|Used [0-9]+ registers, used [0-9]+ barriers, [0-9]+ bytes smem|spill" $out/ptxas.log | grep -v "Used 2[0-9] registers" | grep -v "0 bytes spill stores" | head -60
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 SCL_MMA_EXTRA_OPTS=-DWG_PING=1 timeout 150 ./test_mma_fwd > $out/wgmma-ping-tests.log 2>&1; echo "wgmma suite (WG_PING=1) exit $?"; grep -E "checks|worst|FAIL" $out/wgmma-ping-tests.log | head -8)
echo "(at $((SECONDS - t0)) s)"
