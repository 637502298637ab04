#!/bin/sh
# Interrupted tuning: kill `sparsecl tune` with SIGKILL once it has measured a few points, then
# `--resume`: every point already in the database is reused (nothing measured is lost), the point
# being measured at the kill becomes a rejection, and the run completes.
# Usage: tune_kill.sh SPARSECL_BINARY WORK_DIR
set -u
bin=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
export SPARSECL_CACHE_DIR="$work/cache" SPARSECL_SHIPPED_TUNING=off
db="$work/db.json"
args="tune --dim 32 --block 32 --seq 128 --heads 1 --reps 1 --strategy exhaustive --family cpu --out $db"
"$bin" $args --budget 60 >"$work/first.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 1200 ]; do
    n=$(grep -c '"median_ms"' "$db" 2>/dev/null || true)
    [ "${n:-0}" -ge 3 ] && break
    sleep 0.1
    i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
measured=$(grep -c '"median_ms"' "$db" 2>/dev/null || true)
if [ "${measured:-0}" -lt 3 ]; then
    echo "FAIL: the first run measured ${measured:-0} points before the kill"; cat "$work/first.log"; exit 1
fi
"$bin" $args --budget 2 --resume --json >"$work/resume.json" 2>"$work/resume.err" || {
    echo "FAIL: resume failed"; cat "$work/resume.err"; exit 1; }
reused=$(sed -n 's/.*"reused":[[:space:]]*\([0-9]*\).*/\1/p' "$work/resume.json" | head -n 1)
timed=$(sed -n 's/.*"timed":[[:space:]]*\([0-9]*\).*/\1/p' "$work/resume.json" | head -n 1)
after=$(grep -c '"median_ms"' "$db" || true)
echo "killed after $measured measured points; resume reused $reused, timed $timed more; database now holds $after timed results"
[ "${reused:-0}" -ge "$measured" ] || { echo "FAIL: resume reused $reused < $measured measured before the kill"; exit 1; }
[ "${timed:-0}" -eq 2 ] || { echo "FAIL: resume timed $timed points, expected 2"; exit 1; }
echo "tune_kill: 3 checks, 0 failed"
