#!/bin/bash
# Session 10, call 1: where the time of each pattern goes (sparsecl bench --profile: every kernel of
# one forward), then the mma autotuner on the bf16 classes (d 64, 128 x block 64, 128; min_groups is
# in its space now) into a copy of the shipped database.
out=$1; cli=/tmp/b/sparsecl; export SPARSECL_CACHE_DIR=/tmp/cache
mkdir -p $out
t0=$SECONDS
globals=$(awk 'BEGIN { s = ""; for (k = 0; k < 64; k++) s = s (k ? ", " : "") (97 + k * 256); print s }')
pats=("dense" "causal" "local(256)" "causal & strided(128)" "causal & fixed(128, 16)" "bigbird(3, 2, 3, 7)" "longformer(256, $globals)")
prof() { # d pattern
  echo "== profile d=$1 ${2:0:40}" >> $out/profile.txt
  timeout 60 $cli bench --pattern "$2" --seq 16384 --heads 16 --dim $1 --block auto --dtype bf16 --reps 10 --no-peak --no-baselines --profile 2>&1 | grep -vE "^(device|shape|pattern|kernel|         from|plan     created|memory)" | sed 's/longformer(256, [0-9, ]*)/longformer(256, 64 globals)/' >> $out/profile.txt
}
for p in "${pats[@]}"; do prof 64 "$p"; done
for p in "${pats[@]:2:2}"; do prof 128 "$p"; done
grep -E "^==|^ +[0-9] |span|sparse fused" $out/profile.txt
echo "(at $((SECONDS - t0)) s)"
db=$SPARSECL_CACHE_DIR/tuning/nvidia-h200.json; mkdir -p $(dirname $db); cp results/tuning/nvidia-h200.json $db
for d in 64 128; do for b in 64 128; do
  echo "== tune d=$d block=$b bf16" | tee -a $out/tune.txt
  timeout 150 $cli tune --device nvidia --variant mma --dtype bf16 --dim $d --block $b --budget 25s --out $db >> $out/tune.txt 2>&1
  grep -E "winner|kept|written|vs the built-in|valid of|error|stays" $out/tune.txt | tail -4
done; done
cp $db $out/tuned-db.json
echo "(at $((SECONDS - t0)) s)"
