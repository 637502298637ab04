#!/bin/sh
# Issue 17 ("Trust"): inputs that used to crash, hang or give silent garbage, each with its
# reproducing command and the behaviour the CLI must have now.
# Usage: cli_trust.sh SPARSECL_BINARY WORK_DIR
set -u
bin=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
fails=0
checks=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

expect() { # expect CODE NEEDLE ARGS...: exit CODE and NEEDLE in stdout+stderr
    code=$1
    needle=$2
    shift 2
    out=$("$bin" "$@" 2>&1)
    rc=$?
    checks=$((checks + 1))
    if [ "$rc" -ne "$code" ] || ! printf '%s' "$out" | grep -qF -- "$needle"; then
        fail "sparsecl $(printf '%.200s' "$*"): exit $rc, expected $code and '$needle' in:"
        printf '%.2000s\n' "$out" | sed 's/^/    /'
    fi
}

# mk_npy FILE DESCR SHAPE [DATA_BYTES]: a version 1.0 .npy header (shape as Python writes it, e.g.
# "1, 2, 256, 64") and DATA_BYTES zero bytes (default: none).
mk_npy() {
    dict="{'descr': '$2', 'fortran_order': False, 'shape': ($3), }"
    len=$((${#dict} + 1))
    pad=$(((64 - (10 + len) % 64) % 64))
    len=$((len + pad))
    printf '\223NUMPY\001\000' >"$1"
    printf "\\$(printf '%03o' $((len % 256)))\\$(printf '%03o' $((len / 256)))" >>"$1"
    printf '%s%*s\n' "$dict" "$pad" "" >>"$1"
    if [ "${4:-0}" -gt 0 ]; then head -c "$4" /dev/zero >>"$1"; fi
}

# ---- 2. Long operator chains: a clear error, never a stack overflow.
chain() { awk -v s="$1" -v n="$2" -v t="$3" 'BEGIN { o = ""; for (i = 0; i < n; i++) o = o s; print o t }'; }
expect 2 "nested too deeply" pattern "$(chain 'local(3) | ' 1500 dense)" --seq 256 --explain
expect 2 "nested too deeply" pattern "$(chain 'causal & ' 1500 dense)" --seq 256 --explain
expect 2 "nested too deeply" pattern "$(chain 'heads(0: ' 300 dense)" --seq 256
expect 0 "execution" pattern "$(chain 'causal & ' 150 'strided(16)')" --seq 256 --explain
expect 0 "execution" pattern "$(chain 'local(3) | ' 150 dense)" --seq 256 --explain --decompose force

# Small valid inputs: Q, K, V [1, 2, 64, 64] float32 zeros.
mk_npy q.npy '<f4' '1, 2, 64, 64' 32768

# ---- 8. A device selector that matches nothing is bad input (exit 2) in every command that uses
# a device, from --device or from SPARSECL_DEVICE alike.
for cmd in info devices peak; do
    SPARSECL_DEVICE=no-such-device expect 2 "SPARSECL_DEVICE: device selector 'no-such-device' matches no device" $cmd
done
expect 2 "--device: device selector 'no-such-device' matches no device" peak --device no-such-device
expect 2 "--device: device selector 'no-such-device' matches no device" info --device no-such-device
expect 0 '"tuning_device"' info --device 0 --json
expect 2 "matches no device" attend --q q.npy --k q.npy --v q.npy --pattern causal --block 64 --device no-such-device
SPARSECL_DEVICE=no-such-device expect 2 "matches no device" attend --q q.npy --k q.npy --v q.npy --pattern causal --block 64
expect 2 "device index 999 out of range" peak --device 999
SPARSECL_DEVICE=no-such-device expect 2 "matches no device" bench --pattern causal --seq 64 --block 16 --heads 1 --dim 64
expect 2 "matches no device" bench --suite quick --device no-such-device --out "$PWD/suite-out"
expect 2 "matches no device" tune --device no-such-device --budget 1
mkdir -p empty-results
expect 2 "holds no <device>/bench.json" report empty-results

# ---- 5. --scale 0 (or any non-positive value) is refused, never replaced by 1/sqrt(d).
for s in 0 -0 -1 0.0 1e-300 nan inf; do
    expect 2 "--scale" attend --q q.npy --k q.npy --v q.npy --pattern causal --block 64 --scale "$s"
done
expect 2 "--scale must be a positive number, got '0'" attend --q q.npy --k q.npy --v q.npy --pattern causal --block 64 --scale 0
expect 0 "density" attend --q q.npy --k q.npy --v q.npy --pattern causal --block 64 --scale 0.125

# ---- 3. Outputs: regular files are replaced atomically, a symlink is followed (its target is
# replaced, the link stays), character devices and FIFOs are written through, a write error is an
# error (exit 1) and leaves nothing half-written.
run_ok="attend --q q.npy --k q.npy --v q.npy --pattern causal --block 64"
is_npy() { # is_npy FILE: starts with the .npy magic
    checks=$((checks + 1))
    [ "$(head -c 6 "$1" | tail -c 5)" = "NUMPY" ] || fail "$1 does not hold a .npy file"
}
expect 0 "wrote /dev/null" $run_ok --out /dev/null --lse /dev/null
checks=$((checks + 1))
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
if [ -e /dev/full ]; then
    expect 1 "No space left on device" $run_ok --out /dev/full
    checks=$((checks + 1))
    [ -c /dev/full ] || fail "/dev/full is no longer a character device"
fi
echo old >target.npy
ln -sf target.npy link.npy
expect 0 "wrote link.npy" $run_ok --out link.npy
checks=$((checks + 1))
[ -L link.npy ] || fail "link.npy was replaced instead of followed"
is_npy target.npy
ln -sf missing/nothing.npy dangling.npy
expect 1 "symbolic link to nothing" $run_ok --out dangling.npy
mkdir -p adir
expect 1 "it is a directory" $run_ok --out adir
if mkfifo fifo.npy 2>/dev/null; then
    cat fifo.npy >from_fifo.npy &
    reader=$!
    expect 0 "wrote fifo.npy" $run_ok --out fifo.npy
    # If sparsecl never opened the FIFO, the reader still waits: let it go.
    kill -0 $reader 2>/dev/null && timeout 5 sh -c ': >fifo.npy'
    wait $reader
    checks=$((checks + 1))
    [ -p fifo.npy ] || fail "fifo.npy is no longer a FIFO"
    is_npy from_fifo.npy
fi
# A failed write keeps the old file: a read-only directory makes the temp file impossible.
if [ "$(id -u)" != 0 ]; then
    mkdir -p ro && echo keep >ro/o.npy && chmod a-w ro
    expect 1 "cannot" $run_ok --out ro/o.npy
    checks=$((checks + 1))
    [ "$(cat ro/o.npy)" = keep ] || fail "ro/o.npy was lost"
    chmod u+w ro
fi
checks=$((checks + 1))
ls ./*.tmp.* >/dev/null 2>&1 && fail "temp files left behind: $(ls ./*.tmp.*)"

# ---- 1. N_k = 0: refused (exit 2), never run as N_k = N_q (seq_k = 0 means N_q in scl_shape).
mk_npy q256.npy '<f4' '1, 2, 256, 64' 131072
mk_npy k0.npy '<f4' '1, 2, 0, 64'
expect 2 "--k k0.npy: dimension 2 (N) is 0: attention needs at least one key" \
    attend --q q256.npy --k k0.npy --v k0.npy --pattern causal --block 64 --out o.npy --lse l.npy
checks=$((checks + 1))
[ -e o.npy ] && fail "o.npy was written for N_k = 0"
expect 2 "--q k0.npy: dimension 2 (N) is 0: attention needs at least one query" \
    attend --q k0.npy --k q256.npy --v q256.npy --pattern causal --block 64
mk_npy b0.npy '<f4' '0, 2, 256, 64'
expect 2 "dimension 0 (B) is 0" attend --q q256.npy --k b0.npy --v b0.npy --pattern causal --block 64

# ---- 4. Inputs: the header is read and checked first; nothing is read (or allocated) from a
# file before its shape has been checked against the others and against the device.
# mk_sparse FILE DESCR SHAPE BYTES: a valid header over BYTES of data that take no disk space.
mk_sparse() {
    mk_npy "$1" "$2" "$3"
    truncate -s $(($(wc -c <"$1") + $4)) "$1"
}
# limited SECONDS KIB ARGS...: sparsecl under a time limit and a virtual-memory limit (0: none;
# also none for a sanitizer build, which cannot start under one).
vm_limit_works=0
(ulimit -v 300000 && exec "$bin" --version) >/dev/null 2>&1 && vm_limit_works=1
limited() {
    secs=$1
    kib=$2
    shift 2
    if [ "$kib" -gt 0 ] && [ "$vm_limit_works" = 1 ]; then
        (ulimit -v "$kib" && exec timeout "$secs" "$bin" "$@")
    else
        timeout "$secs" "$bin" "$@"
    fi
}
expect_limited() { # expect_limited CODE NEEDLE SECONDS KIB ARGS...
    code=$1
    needle=$2
    secs=$3
    kib=$4
    shift 4
    out=$(limited "$secs" "$kib" "$@" 2>&1)
    rc=$?
    checks=$((checks + 1))
    if [ "$rc" -ne "$code" ] || ! printf '%s' "$out" | grep -qF -- "$needle"; then
        fail "sparsecl $* (${secs}s, ${kib} KiB): exit $rc, expected $code and '$needle' in:"
        printf '%.2000s\n' "$out" | sed 's/^/    /'
    fi
}
kv="--k q.npy --v q.npy --pattern causal --block 64"
expect_limited 2 "--q /dev/zero: not a .npy file (bad magic)" 20 0 attend --q /dev/zero $kv
if truncate -s 1G big_bad_magic.npy 2>/dev/null; then
    expect_limited 2 "not a .npy file (bad magic)" 20 300000 attend --q big_bad_magic.npy $kv
fi
# Q [1, 8, 2^21, 64] float32 = 4 GiB (sparse); K/V with 3 heads: found from the headers alone.
if mk_sparse q4g.npy '<f4' '1, 8, 2097152, 64' 4294967296 2>/dev/null; then
    mk_npy k3.npy '<f4' '1, 3, 64, 64' 49152
    expect_limited 2 "Q heads (8) must be a multiple of K/V heads (3)" 20 300000 \
        attend --q q4g.npy --k k3.npy --v k3.npy --pattern causal --block 64
    # A header that announces more than the file holds is refused before anything is read.
    mk_npy short.npy '<f4' '1, 8, 2097152, 64' 4096
    expect_limited 2 "truncated .npy data" 20 300000 attend --q short.npy $kv
fi
# 2^31 rows over a sparse file (512 GiB announced): refused against the device, not read.
if mk_sparse q2g.npy '<f4' '1, 1, 2147483648, 64' 549755813888 2>/dev/null; then
    mk_npy k1.npy '<f4' '1, 1, 64, 64' 16384
    expect_limited 2 "more than the largest buffer" 60 0 attend --q q2g.npy --k k1.npy --v k1.npy --pattern causal --block 64
fi
# A layout() file is checked against the geometry from its header: 10^6 x 10^6 blocks (1 TB,
# sparse) for a 4 x 4 geometry are refused without reading them.
if mk_sparse huge_layout.npy '|u1' '1000000, 1000000' 1000000000000 2>/dev/null; then
    expect_limited 2 "does not match" 20 300000 pattern "layout($work/huge_layout.npy)" --seq 256 --block 64
fi
# block: x [1, 2^24, 64] (4 GiB, sparse) against weights for D = 32 is refused from the headers.
mkdir -p w
for n in ln1_g ln1_b b_o ln2_g ln2_b b_2; do mk_npy w/$n.npy '<f4' '32,' 128; done
mk_npy w/w_qkv.npy '<f4' '32, 96' 12288
mk_npy w/b_qkv.npy '<f4' '96,' 384
mk_npy w/w_o.npy '<f4' '32, 32' 4096
mk_npy w/w_1.npy '<f4' '32, 64' 8192
mk_npy w/b_1.npy '<f4' '64,' 256
mk_npy w/w_2.npy '<f4' '64, 32' 8192
if mk_sparse x4g.npy '<f4' '1, 16777216, 64' 4294967296 2>/dev/null; then
    expect_limited 2 "weight w/ln1_g.npy has shape [32], expected [64]" 20 300000 \
        block --x x4g.npy --weights w --heads 2 --pattern causal --block 64
fi
mk_npy x.npy '<f4' '1, 64, 32' 8192
expect 0 "block: B=1 N=64 D=32" block --x x.npy --weights w --heads 2 --pattern causal --block 16 --out y.npy
rm -f q4g.npy q2g.npy big_bad_magic.npy huge_layout.npy x4g.npy
# Pipes are read for exactly the size the header announces.
if mkfifo qfifo 2>/dev/null; then
    cat q.npy >qfifo &
    writer=$!
    expect 0 "density" attend --q qfifo $kv
    kill -0 $writer 2>/dev/null && timeout 5 cat qfifo >/dev/null
    wait $writer
    head -c 1000 q.npy >qfifo &
    writer=$!
    expect 2 "truncated .npy data" attend --q qfifo $kv
    kill -0 $writer 2>/dev/null && timeout 5 cat qfifo >/dev/null
    wait $writer
fi
expect 2 "it is a directory" attend --q adir $kv

# ---- CLI consistency: attend --layout and --json, which files it wrote, a warning when it writes
# nothing; -V and version like --version.
mk_npy bnhd.npy '<f4' '1, 1024, 4, 64' 1048576
expect 0 "note: Q has more heads (1024) than queries (4)" attend --q bnhd.npy --k bnhd.npy --v bnhd.npy --pattern causal --block 64
expect 0 "H=4 H_kv=4 N_q=1024 N_k=1024 d=64 float32 [B, N, H, d]" \
    attend --q bnhd.npy --k bnhd.npy --v bnhd.npy --pattern causal --block 64 --layout bnhd --out ob.npy
checks=$((checks + 1))
[ "$(head -c 128 ob.npy | tr -d '\000' | grep -o "'shape': ([0-9, ]*)")" = "'shape': (1, 1024, 4, 64)" ] ||
    fail "ob.npy does not have Q's [B, N, H, d] shape"
expect 2 "--layout expects bhnd or bnhd, got 'nhd'" $run_ok --layout nhd
expect 0 "warning: no --out, --lse, --dq, --dk or --dv given: nothing was written" $run_ok
expect 0 '"wrote":' $run_ok --json --out o2.npy --lse l2.npy
expect 0 '"l2.npy"' $run_ok --json --out o2.npy --lse l2.npy
expect 0 "wrote o2.npy, l2.npy" $run_ok --out o2.npy --lse l2.npy
expect 0 "gradients written: dq.npy, dv.npy" $run_ok --dout q.npy --dq dq.npy --dv dv.npy
version=$("$bin" --version)
for v in -V version; do
    expect 0 "$version" $v
done

echo "cli_trust: $checks checks, $fails failures"
[ "$fails" -eq 0 ]
