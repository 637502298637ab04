#!/bin/bash
# Session 10, call 4 (part a, then b in a second call on the warm machine): a: the mma autotuner on
# the dense benchmark problem itself (d=64 block 128 bf16, N=16384 H=16, 100 s) and the sparsity
# block of each sparse pattern at d=64 bf16 (tune --block-only, blocks 32/64/128, with today's
# parameters), both into a copy of the shipped database (kept as call4/tuned-db.json); b: every
# pattern through plans with that database, the peers in the same call, the GPU plan suites.
out=$1; part=$2; cli=/tmp/b/sparsecl
mkdir -p $out
t0=$SECONDS
export SPARSECL_CACHE_DIR=/tmp/cache4
db=$SPARSECL_CACHE_DIR/tuning/nvidia-h200.json
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
if [ $part = a ]; then
  mkdir -p $(dirname $db); cp results/tuning/nvidia-h200.json $db
  echo "== tune d=64 block=128 bf16 on dense 16384 x 16" | tee -a $out/tune.txt
  timeout 150 $cli tune --device nvidia --variant mma --dtype bf16 --dim 64 --block 128 --pattern dense --seq 16384 --heads 16 --budget 100s --out $db >> $out/tune.txt 2>&1
  grep -E "winner|kept|written|vs the built-in|valid of|error|stays" $out/tune.txt | tail -3
  echo "(at $((SECONDS - t0)) s)"
  for p in "${pats[@]:2}"; do
    echo "-- block d=64 bf16 ${p:0:40}" | tee -a $out/blocks.txt
    timeout 90 $cli tune --device nvidia --variant mma --block-only --block 32,64,128 --pattern "$p" --dim 64 --dtype bf16 --seq 16384 --heads 16 --out $db 2>&1 | grep -vE "round [0-9]|^tune |re-timing" | head -8 >> $out/blocks.txt
    tail -3 $out/blocks.txt
  done
  cp $db $out/tuned-db.json
  echo "(at $((SECONDS - t0)) s)"
  exit 0
fi
[ -f $db ] && echo "database: part a's ($db)" || echo "database: the shipped one (part a's is not on this machine)"
bench() { # d pattern
  r=$(timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBQ", "-DBK", "-DWG_PIPE", "-DMIN_GROUPS", "-DHAS_MASKS")))))')
  echo "bench d=$1 ${2:0:40}: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do
  for p in "${pats[@]}"; do bench 64 "$p"; done
  for p in "${pats[@]:0:4}"; do bench 128 "$p"; done
done
echo "(at $((SECONDS - t0)) s)"
pb="--n 16384 --heads 16 --block 128 --flex-blocks 128 64 --pattern-block 64 --reps 10 --dtypes bf16 --flex-dtypes bf16 --no-sdpa-mask"
timeout 300 python3 scripts/bench_peers.py $pb --d 64 --patterns "${pats[@]}" --json $out/peers64.json --md $out/peers64.md >$out/peers64.log 2>&1; grep "^| [sf]" $out/peers64.md | sed 's/longformer(256, [0-9, ]*)/longformer(256, 64 globals)/'
timeout 180 python3 scripts/bench_peers.py $pb --d 128 --patterns "${pats[@]:0:4}" --json $out/peers128.json --md $out/peers128.md >$out/peers128.log 2>&1; grep "^| [sf]" $out/peers128.md
echo "(at $((SECONDS - t0)) s)"
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia timeout 200 ctest --test-dir /tmp/b -j 4 -R "^(forward|forward_mma|forward_mma_decomposed|backward|runtime|autotune)$" > $out/ctest-gpu.log 2>&1; tail -9 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
