#!/bin/bash
# Session 9, call 2: kernels built without mask code where the layout has no partial block
# (HAS_MASKS=0: dense at N a multiple of the block, BigBird), kernel alone against the same forms
# with it, dense only (the causal rows of a HAS_MASKS=0 build are not valid); a few more d = 64
# variants (S in two 64-key wgmmas, denormals as zero, one K/V buffer); then FlexAttention's cost
# of captured tensors in its mask_mod (flex_masks.py).
out=$1
mkdir -p $out
t0=$SECONDS
E='new64|+wgmma @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-nm|+wgmma -DHAS_MASKS=0 @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-wgns64|+wgmma -DWGN_S=64 @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-daz|+wgmma -cl-denorms-are-zero @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-nm-s1|+wgmma -DHAS_MASKS=0 @D=64,BLOCK=128,BK=128,QREG=0,STAGES=1|;'
E+='pp128|+wgmma -DWG_PIPE=1 -DWG_PP=1 @D=128,BLOCK=128,QREG=0|;'
E+='pp128-nm|+wgmma -DWG_PIPE=1 -DWG_PP=1 -DHAS_MASKS=0 @D=128,BLOCK=128,QREG=0|;'
E+='b64-pipe|+wgmma -DWG_PIPE=1 @D=64,BLOCK=64|;'
E+='b64-pipe-nm|+wgmma -DWG_PIPE=1 -DHAS_MASKS=0 @D=64,BLOCK=64|;'
E+='d128b64|+wgmma -DWG_PIPE=1 @D=128,BLOCK=64|;'
E+='d128b64-nm|+wgmma -DWG_PIPE=1 -DHAS_MASKS=0 @D=128,BLOCK=64|;'
E+='new64-nm-again|+wgmma -DHAS_MASKS=0 @D=64,BLOCK=128,BK=128,QREG=0|;'
E+='new64-again|+wgmma @D=64,BLOCK=128,BK=128,QREG=0|'
BUILD=/tmp/b SWEEP=0 EXPERIMENTS="$E" timeout 300 scripts/gpu-mma-session $out exp | grep "^|\|error\|fail"
grep -E "^===|Used [0-9]+ registers|spill" $out/ptxas.log | grep -v "Used 2[0-9] registers" | grep -v " 0 bytes spill" | sed 's/  */ /g' | head -60
echo "C7513/C7517: $(grep -c 'C7513\|C7517' $out/ptxas.log) (at $((SECONDS - t0)) s)"
timeout 300 python3 results/matrix-engine/h200-session9/flex_masks.py > $out/flex-masks.log 2>&1; grep -v "^\s*$" $out/flex-masks.log | grep -v "^  File\|^    \|Warning\|warn(" | cut -c1-200 | head -40
echo "(at $((SECONDS - t0)) s)"
