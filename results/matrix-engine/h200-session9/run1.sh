#!/bin/bash
# Session 9, call 1: P's row sums by the P V product (ROWSUM_MMA=1: a column of ones beside V, no
# FADD per score) against the shipped forms, kernel alone, and 64-row tiles over 128-key tiles at
# d = 64 (three work-groups per SM); the wgmma suite with the row sums on the GPU; FlexAttention's
# Longformer time with the globals captured as a tensor and by arithmetic (flex_longformer.py).
out=$1
mkdir -p $out
t0=$SECONDS
E='new64|+wgmma @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-rs|+wgmma -DROWSUM_MMA=1 @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-s1-rs|+wgmma -DROWSUM_MMA=1 @D=64,BLOCK=128,BK=128,QREG=0,STAGES=1|;'
E+='q64k128p|+wgmma -DWG_PIPE=1 @D=64,BLOCK=128,BQ=64,BK=128|;'
E+='q64k128p-rs|+wgmma -DWG_PIPE=1 -DROWSUM_MMA=1 @D=64,BLOCK=128,BQ=64,BK=128|;'
E+='q64k128p-q0-rs|+wgmma -DWG_PIPE=1 -DROWSUM_MMA=1 @D=64,BLOCK=128,BQ=64,BK=128,QREG=0|;'
E+='pp64-rs|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DROWSUM_MMA=1 @D=64,BLOCK=128,BK=128,WARPS=8,QREG=0|;'
E+='b64-pipe|+wgmma -DWG_PIPE=1 @D=64,BLOCK=64|;'
E+='b64-pipe-rs|+wgmma -DWG_PIPE=1 -DROWSUM_MMA=1 @D=64,BLOCK=64|;'
E+='pp128|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,QREG=0|;'
E+='pp128-rs|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DROWSUM_MMA=1 @D=128,BLOCK=128,QREG=0|;'
E+='d128b64|+wgmma -DWG_PIPE=1 @D=128,BLOCK=64|;'
E+='d128b64-rs|+wgmma -DWG_PIPE=1 -DROWSUM_MMA=1 @D=128,BLOCK=64|;'
E+='new64-again|+wgmma @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-rs-again|+wgmma -DROWSUM_MMA=1 @D=64,BLOCK=128,BK=128,QREG=0|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 300 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
grep -E "^===|Used [0-9]+ registers|spill" $out/ptxas.log | grep -v "Used 2[0-9] registers" | grep -v " 0 bytes spill" | head -60
echo "C7513/C7517: $(grep -c 'C7513\|C7517' $out/ptxas.log) (at $((SECONDS - t0)) s)"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 SCL_MMA_EXTRA_OPTS=-DROWSUM_MMA=1 timeout 150 ./test_mma_fwd > $out/wgmma-rowsum-tests.log 2>&1; echo "wgmma suite (ROWSUM_MMA=1) exit $?"; grep -E "checks|worst" $out/wgmma-rowsum-tests.log | head -4; grep -c FAIL $out/wgmma-rowsum-tests.log)
echo "(at $((SECONDS - t0)) s)"
timeout 240 python3 results/matrix-engine/h200-session9/flex_longformer.py > $out/flex-longformer.log 2>&1; grep -v "^\s*$" $out/flex-longformer.log | grep -v "^  File\|^    " | cut -c1-200 | head -40
echo "(at $((SECONDS - t0)) s)"
