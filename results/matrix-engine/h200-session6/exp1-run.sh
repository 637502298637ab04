#!/bin/bash
# Session 6, call exp1 (run from the source root on the lent H200 after building into /tmp/b):
# the two-warpgroup turns (WG_PP=1) against the shipped forms, kernel alone, then its correctness
# in the wgmma suite.
out=$1; export SPARSECL_CACHE_DIR=/tmp/cache
E='wgss128|+wgmma @D=128,BLOCK=128,QREG=0|;'
E+='pp128ss|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,QREG=0|;'
E+='pp128|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128|;'
E+='wgp64|+wgmma -DWG_PIPE=1 @D=64,BLOCK=128|;'
E+='pp64k128|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=64,BLOCK=128,WARPS=8,BK=128|;'
E+='pp64k64|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=64,BLOCK=128,WARPS=8,BK=64|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 300 scripts/gpu-mma-session $out exp | grep "^|\|checks\|error\|fail"
grep -E "^===|Used|spill" $out/ptxas.log | grep -v "Used 25 reg" | head -40
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 SCL_MMA_VERBOSE=1 timeout 200 ./test_mma_fwd > $out/pp-wgmma-tests.log 2>&1; echo "wgmma suite exit $?"; grep -E "checks|worst|FAIL" $out/pp-wgmma-tests.log | head -8; grep -c "WG_PP" $out/pp-wgmma-tests.log)
