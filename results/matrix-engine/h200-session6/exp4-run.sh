#!/bin/bash
# Session 6, call exp4 (run from the source root on the lent H200 after building into /tmp/b; the
# EXP2_POLY option it builds with was reverted after it, README.md): part of
# P's exponentials on the FMA units (EXP2_POLY=n: every n-th n8 tile of S, kernels/attn_fwd_mma.cl
# exp2_fma) against all on MUFU, kernel alone, shipped tiles; then the wgmma suite with EXP2_POLY=2.
out=$1; export SPARSECL_CACHE_DIR=/tmp/cache
E='d64|+wgmma -DWG_PIPE=1 @D=64|;'
E+='d64poly8|+wgmma -DWG_PIPE=1 -DEXP2_POLY=8 @D=64|;'
E+='d64poly4|+wgmma -DWG_PIPE=1 -DEXP2_POLY=4 @D=64|;'
E+='d64poly2|+wgmma -DWG_PIPE=1 -DEXP2_POLY=2 @D=64|;'
E+='d128pp|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,QREG=0|;'
E+='d128pppoly4|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DEXP2_POLY=4 @D=128,BLOCK=128,QREG=0|;'
E+='d128pppoly2|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DEXP2_POLY=2 @D=128,BLOCK=128,QREG=0|;'
E+='d64pppoly4|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DEXP2_POLY=4 @D=64,BLOCK=128,WARPS=8,BK=128|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 300 scripts/gpu-mma-session $out exp | grep "^|\|checks\|error\|fail"
echo "C7513 count: $(grep -c C7513 $out/ptxas.log)"
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=off SCL_MMA_WGMMA=1 SCL_MMA_EXTRA_OPTS=-DEXP2_POLY=2 timeout 200 ./test_mma_fwd > $out/poly-wgmma-tests.log 2>&1; echo "wgmma suite, EXP2_POLY=2: exit $?"; grep -E "checks|worst|FAIL" $out/poly-wgmma-tests.log | head -8)
