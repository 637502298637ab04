#!/bin/bash
# Session 10, call 2: the decomposed plans' copy and merge kernels by 16-byte pieces (this tree)
# against HEAD (.gpu-src/old, built to /tmp/b-old), alternating, with --profile; the autotuner's
# entries of call 1 (call1/tuned-db.json as the user database) against the shipped database on the
# shapes they serve; the peers in the same call; the GPU suites that run the new paths.
out=$1; part=${2:-all}; cli=/tmp/b/sparsecl; old=/tmp/b-old/sparsecl
mkdir -p $out
t0=$SECONDS
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
tuned=/tmp/cache-tuned; mkdir -p $tuned/tuning; cp results/matrix-engine/h200-session10/call1/tuned-db.json $tuned/tuning/nvidia-h200.json
bench() { # tag cli cachedir d pattern
  r=$(SPARSECL_CACHE_DIR=$3 timeout 60 $2 bench --pattern "$5" --seq 16384 --heads 16 --dim $4 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBQ", "-DBK", "-DWG_PIPE", "-DMIN_GROUPS")))))')
  echo "bench $1 d=$4 ${5:0:40}: $r" | tee -a $out/bench.txt
}
prof() { # tag cli d pattern
  echo "== $1 d=$3 ${4:0:40}" >> $out/profile.txt
  SPARSECL_CACHE_DIR=/tmp/cache-$1 timeout 60 $2 bench --pattern "$4" --seq 16384 --heads 16 --dim $3 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --profile 2>&1 | grep -E "^ +[0-9] |span|sparse fused" >> $out/profile.txt
}
if [ $part != b ]; then
for p in "${pats[@]:3:1}" "${pats[@]:4:1}" "${pats[@]:6:1}"; do prof new $cli 64 "$p"; prof old $old 64 "$p"; done
prof new $cli 128 "${pats[3]}"; prof old $old 128 "${pats[3]}"
cat $out/profile.txt | sed 's/longformer(256, [0-9, ]*/longformer(256, 64 globals/'
echo "(at $((SECONDS - t0)) s)"
for rep in 1 2; do
  for p in "${pats[@]:3:2}" "${pats[@]:6:1}"; do bench new $cli /tmp/cache-new 64 "$p"; bench old $old /tmp/cache-old 64 "$p"; done
  bench new $cli /tmp/cache-new 128 "${pats[3]}"; bench old $old /tmp/cache-old 128 "${pats[3]}"
done
fi
[ $part = a ] && exit 0
for rep in 1 2; do
  for p in "${pats[@]:0:2}"; do bench shipped $cli /tmp/cache-new 64 "$p"; bench tuned $cli $tuned 64 "$p"; done
  for p in "${pats[@]:2:2}"; do bench shipped $cli /tmp/cache-new 128 "$p"; bench tuned $cli $tuned 128 "$p"; done
done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --flex-blocks 128 64 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 240 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]:0:2}" "${pats[@]:3:2}" "${pats[@]:6:1}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | sed 's/longformer(256, [0-9, ]*)/longformer(256, 64 globals)/'
timeout 120 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:2:2}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
SPARSECL_CACHE_DIR=/tmp/cache-new SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 200 ctest --test-dir /tmp/b -j 4 -R "^(forward_decomposed|forward_mma|forward_mma_decomposed|backward_decomposed)$" > $out/ctest-gpu.log 2>&1; tail -8 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
