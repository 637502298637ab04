#!/bin/sh
# `sparsecl attend/bench --distributed` under mpirun: outputs equal the single-device attend's,
# for both exchange plans and 2 or 3 ranks; one failing rank fails every rank (timeouts catch
# hangs). Usage: test_cli_mpi.sh SPARSECL NPY_TOOL "MPIRUN -np" "MPI FLAGS"
set -u
BIN=$1 TOOL=$2 MPIRUN=$3 FLAGS=$4
DIR=$(mktemp -d) && trap 'rm -rf "$DIR"' EXIT
cd "$DIR" || exit 1
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
run() { timeout 300 $MPIRUN "$@"; }

$TOOL gen q.npy 1 2 4 150 16 && $TOOL gen k.npy 2 2 2 150 16 && $TOOL gen v.npy 3 2 2 150 16 &&
  $TOOL gen do.npy 4 2 4 150 16 || exit 1
SPEC="causal & local(20)"
"$BIN" attend --q q.npy --k k.npy --v v.npy --pattern "$SPEC" --block 16 --out o.npy --lse l.npy --dout do.npy \
  --dq dq.npy --dk dk.npy --dv dv.npy || { echo "FAIL single-device attend"; exit 1; }
for np in 2 3; do
  for ex in heads kv; do
    if run $np $FLAGS "$BIN" attend --distributed --exchange $ex --q q.npy --k k.npy --v v.npy --pattern "$SPEC" \
      --block 16 --out o2.npy --lse l2.npy --dout do.npy --dq dq2.npy --dk dk2.npy --dv dv2.npy 2> err.txt; then
      good=1
      for t in o l dq dk dv; do $TOOL cmp ${t}2.npy $t.npy || good=0; done
      [ $good = 1 ] && ok "attend --distributed -np $np --exchange $ex" || bad "attend -np $np $ex: outputs differ"
    else
      bad "attend --distributed -np $np --exchange $ex: $(cat err.txt)"
    fi
  done
done

# Bad input read by rank 0: every rank exits with status 2, one message.
run 2 $FLAGS "$BIN" attend --distributed --q missing.npy --k k.npy --v v.npy --pattern causal --block 16 2> err.txt
rc=$?
[ $rc = 2 ] && grep -q "rank 0: --q missing.npy" err.txt && ok "missing input: exit 2: $(head -1 err.txt)" ||
  bad "missing input: exit $rc: $(cat err.txt)"
# A device that only rank 1 cannot find: every rank fails, none hangs, the message names rank 1.
run 1 $FLAGS "$BIN" attend --distributed --q q.npy --k k.npy --v v.npy --pattern causal --block 16 --out x.npy : \
  -np 1 env SPARSECL_DEVICE=no-such-device "$BIN" attend --distributed --q q.npy --k k.npy --v v.npy --pattern causal \
  --block 16 --out x.npy 2> err.txt
rc=$?
[ $rc != 0 ] && [ $rc != 124 ] && grep -q "rank 1:" err.txt && ok "bad device on rank 1: exit $rc: $(grep 'rank 1' err.txt | head -1)" ||
  bad "bad device on rank 1: exit $rc: $(cat err.txt)"
[ ! -e x.npy ] && ok "no output written after the failure" || bad "output written despite the failure"
# A bad SPARSECL_MPI_OVERLAP: exit 2 and one message, though the cost model picks the head all-to-all.
SPARSECL_MPI_OVERLAP=maybe run 2 $FLAGS "$BIN" bench --distributed --plan-only --pattern "causal & strided(16)" \
  --seq 256 --block 16 --heads 2 --dim 16 > e.txt 2>&1
rc=$?
[ $rc = 2 ] && grep -q "error: rank 0: SPARSECL_MPI_OVERLAP=maybe: expected on or off" e.txt &&
  ok "bad SPARSECL_MPI_OVERLAP: exit 2: $(grep error e.txt | head -1)" || bad "bad SPARSECL_MPI_OVERLAP: exit $rc: $(cat e.txt)"
# BigBird (absolute positions: the pattern-aware plan's absolute frame) equals the single device.
"$BIN" attend --q q.npy --k k.npy --v v.npy --pattern "bigbird(3,1,1,1)" --block 16 --out ob.npy 2>/dev/null
run 3 $FLAGS "$BIN" attend --distributed --exchange kv --q q.npy --k k.npy --v v.npy --pattern "bigbird(3,1,1,1)" \
  --block 16 --out ob2.npy 2> err.txt && $TOOL cmp ob2.npy ob.npy && ok "bigbird --exchange kv -np 3 equals attend" ||
  bad "bigbird --exchange kv: $(cat err.txt)"

# bench: the planner's figures, and a short timed run against one rank.
run 2 $FLAGS "$BIN" bench --distributed --pattern "local(64)" --seq 1024 --block 32 --heads 2 --dim 16 --reps 1 > b.txt 2>&1
rc=$?
[ $rc = 0 ] && grep -q "kv needed" b.txt && grep -q "one rank" b.txt && ok "bench --distributed" ||
  bad "bench --distributed: exit $rc: $(cat b.txt)"
run 4 $FLAGS "$BIN" bench --distributed --plan-only --pattern "local(256)" --seq 65536 --block 64 --heads 16 --dim 64 > p.txt 2>&1
rc=$?
[ $rc = 0 ] && grep -q "plan: kv" p.txt && ok "bench --plan-only local(256) N=65536 P=4 picks kv" ||
  bad "bench --plan-only: exit $rc: $(cat p.txt)"
echo "mpi_cli: $pass passed, $fail failed"
[ $fail = 0 ]
