#!/bin/bash
# Session 9, call 6: the code as committed (64-row tiles at d = 64 with .minnctapersm 4, plan
# parameter min_groups), through plans against min_groups=0 (alternating, two rounds), every pattern;
# the peers in the same call (FlexAttention on 128- and 64-blocks, the faster counts); the suites.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
bench() { # d pattern [params]
  r=$(SPARSECL_FWD_PARAMS=$3 timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBK", "-DHAS_MASKS", "-DWG_PIPE", "-DMIN_GROUPS")))))')
  echo "bench d=$1 ${2:0:40} [${3:-default}]: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do
  for p in "${pats[@]:0:2}"; do bench 64 "$p"; done
  for p in "${pats[@]:2}"; do bench 64 "$p"; bench 64 "$p" min_groups=0; done
  for p in "${pats[@]:0:4}"; do bench 128 "$p"; done
done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --flex-blocks 128 64 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 300 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | sed 's/longformer(256, [0-9, ]*)/longformer(256, 64 globals)/'
timeout 180 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:0:4}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 150 ctest --test-dir /tmp/b -j 4 -R "^(forward|forward_mma|forward_mma_decomposed|backward|runtime)$" > $out/ctest-gpu.log 2>&1; tail -8 $out/ctest-gpu.log
(cd /tmp/b/tests && SPARSECL_DEVICE=nvidia SPARSECL_FWD_VARIANT=mma ./test_forward --variant mma 2>&1 | grep -E "N=128/128 d=64 b=64|N=512/512|checks|cases ran")
echo "(at $((SECONDS - t0)) s)"
