#!/bin/bash
# Session 10, call 3: (1) dense/causal d=64 with the shipped database (call 1's entries) and single
# overrides of its d=64 block-128 entry (min_groups, qreg, stages), alternating; (2) BigBird with the
# query tiles in launch order (kernels with REVERSE 0 through SPARSECL_KERNEL_DIR) against reversed;
# (3) the mma autotuner on the f16 classes; (4) the GPU plan suites with the shipped database.
out=$1; cli=/tmp/b/sparsecl
mkdir -p $out
t0=$SECONDS
export SPARSECL_CACHE_DIR=/tmp/cache3
bench() { # tag d pattern [params] [kernel dir]
  r=$(SPARSECL_KERNEL_DIR=$5 SPARSECL_FWD_PARAMS=$4 timeout 60 $cli bench --pattern "$3" --seq 16384 --heads 16 --dim $2 --block auto --dtype ${DT:-bf16} --reps 10 --no-peak --no-baselines --json 2>>$out/err.txt | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["sparse"]; print("%.3f ms %.1f TFLOP/s block %s %s" % (s["median_ms"], s["gflops"]/1e3, d.get("block"), " ".join(o for o in d.get("kernel_options", "").split() if o.startswith(("-DBQ", "-DBK", "-DWG_PIPE", "-DMIN_GROUPS", "-DQREG", "-DSTAGES")))))')
  echo "bench ${DT:-bf16} $1 d=$2 ${3:0:40} [${4:-shipped}]: $r" | tee -a $out/bench.txt
}
for rep in 1 2; do
  for o in "" min_groups=2 min_groups=3 qreg=1 stages=1; do bench $rep 64 dense "$o"; done
  bench $rep 64 causal; bench $rep 64 causal min_groups=2
done
echo "(at $((SECONDS - t0)) s)"
k0=/tmp/kernels-rev0; rm -rf $k0; cp -r kernels $k0; sed -i 's/^#define REVERSE 1 /#define REVERSE 0 /' $k0/attn_fwd_mma.cl; grep -c "define REVERSE 0" $k0/attn_fwd_mma.cl
for rep in 1 2; do
  bench $rep 64 "bigbird(3, 2, 3, 7)"; bench "$rep REVERSE=0" 64 "bigbird(3, 2, 3, 7)" "" $k0
  bench $rep 64 causal; bench "$rep REVERSE=0" 64 causal "" $k0
done
echo "(at $((SECONDS - t0)) s)"
db=$SPARSECL_CACHE_DIR/tuning/nvidia-h200.json; mkdir -p $(dirname $db); cp results/tuning/nvidia-h200.json $db
for c in "64 128" "128 64" "64 64" "128 128"; do set -- $c
  echo "== tune d=$1 block=$2 f16" | tee -a $out/tune.txt
  timeout 100 $cli tune --device nvidia --variant mma --dtype f16 --dim $1 --block $2 --budget 25s --out $db >> $out/tune.txt 2>&1
  grep -E "winner|kept|written|vs the built-in|valid of|error|stays" $out/tune.txt | tail -3
done
cp $db $out/tuned-db.json
echo "(at $((SECONDS - t0)) s)"
for rep in 1 2; do SPARSECL_CACHE_DIR=/tmp/cache-s DT=f16 bench f16-shipped 64 dense; DT=f16 bench f16-tuned 64 dense; SPARSECL_CACHE_DIR=/tmp/cache-s DT=f16 bench f16-shipped 128 "local(256)"; DT=f16 bench f16-tuned 128 "local(256)"; done
SPARSECL_TEST_DEVICE=nvidia SPARSECL_DEVICE=nvidia SPARSECL_CACHE_DIR=/tmp/cache-t timeout 200 ctest --test-dir /tmp/b -j 4 -R "^(forward|forward_mma|forward_mma_decomposed|backward|runtime)$" > $out/ctest-gpu.log 2>&1; tail -9 $out/ctest-gpu.log
echo "(at $((SECONDS - t0)) s)"
