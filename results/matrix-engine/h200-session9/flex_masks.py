#!/usr/bin/env python3
"""FlexAttention's cost of reading a captured tensor in its mask_mod (session 9, call 2).
1. scripts/bench_peers.py's Longformer predicate (arithmetic for a progression or a few ranges, else
   a captured tensor) checked element by element against the captured-tensor form, three specs.
2. Timed as bench_peers times (device time): BigBird with its block layout captured as bool (as
   bench_peers) and as int32; Longformer as bench_peers builds it now; each also with the same
   BlockMask and no mask_mod on its partial blocks (noop: a lower bound for the time, wrong output).
   Also BigBird with a BlockMask of 64 x 64 blocks (the pattern's own block: every block full).
Usage: python3 flex_masks.py [--n 16384 --heads 16 --d 64]"""
import argparse, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts"))
import torch
import torch._dynamo
from bench_peers import make_pattern, time_fn, bigbird_layout

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=16384)
ap.add_argument("--heads", type=int, default=16)
ap.add_argument("--d", type=int, default=64)
ap.add_argument("--reps", type=int, default=10)
a = ap.parse_args()
torch._dynamo.config.recompile_limit = 1000
torch._dynamo.config.cache_size_limit = 1000
from torch.nn.attention.flex_attention import create_block_mask, flex_attention, BlockMask, noop_mask
flex = torch.compile(flex_attention, dynamic=False)
n, dev = a.n, "cuda"
i = torch.arange(n, device=dev)[:, None]
j = torch.arange(n, device=dev)[None, :]

# 1. the Longformer predicate's three forms against the captured-tensor reference
glob = ", ".join(str(97 + k * (n // 64)) for k in range(64))
for spec, gl in ((f"longformer(256, {glob})", [(97 + k * (n // 64),) * 2 for k in range(64)]),
                 ("longformer(64, 0-31, 1000-1010, 5000)", [(0, 31), (1000, 1010), (5000, 5000)]),
                 ("longformer(64, " + ", ".join(str(x) for x in (3, 50, 51, 700, 9000, 9001, 12000, 13, 88, 4000)) + ")",
                  [(x, x) for x in (3, 50, 51, 700, 9000, 9001, 12000, 13, 88, 4000)])):
    w = int(spec.split("(")[1].split(",")[0])
    g = torch.zeros(n, dtype=torch.bool, device=dev)
    for lo, hi in gl:
        g[lo:hi + 1] = True
    ref = ((i - j).abs() <= w) | g[i][:, :1] | g[j][:1, :]
    _, elem = make_pattern(spec, n, n, 64, dev)
    print(f"{spec[:48]}: bench_peers' predicate equals the tensor form: {bool((elem(i, j) == ref).all().item())}", flush=True)
    del ref

g = torch.Generator(device=dev).manual_seed(0)
q, k, v = (torch.randn(1, a.heads, n, a.d, device=dev, dtype=torch.bfloat16, generator=g) for _ in range(3))

def run(tag, bm):
    t0 = time.time()
    try:
        ms = time_fn(lambda: flex(q, k, v, block_mask=bm), a.reps)
        o = flex(q, k, v, block_mask=bm).float()
        print(f"| flex | {tag} | {ms:.3f} ms | sparsity {bm.sparsity():.2f}% | ({time.time() - t0:.1f} s)", flush=True)
        return o
    except Exception as e:
        print(f"| flex | {tag} | error: {str(e).splitlines()[0][:200]} |", flush=True)

def noop(bm):
    return BlockMask.from_kv_blocks(bm.kv_num_blocks, bm.kv_indices, bm.full_kv_num_blocks, bm.full_kv_indices,
                                    BLOCK_SIZE=bm.BLOCK_SIZE, mask_mod=noop_mask)

# 2. BigBird(3, 2, 3, 7) at pattern block 64
lay = bigbird_layout(n // 64, n // 64, 3, 2, 3, 7).to(dev)
lay_i = lay.to(torch.int32)
mm_bool = lambda b, h, qi, ki: lay[qi // 64, ki // 64]
mm_int = lambda b, h, qi, ki: lay_i[qi // 64, ki // 64] != 0
bm = create_block_mask(mm_bool, None, None, n, n, device=dev, BLOCK_SIZE=128)
o_bool = run("bigbird, layout bool (bench_peers)", bm)
o_int = run("bigbird, layout int32", create_block_mask(mm_int, None, None, n, n, device=dev, BLOCK_SIZE=128))
run("bigbird, same BlockMask, noop on partial blocks (lower bound)", noop(bm))
o64 = run("bigbird, BlockMask of 64 x 64 blocks", create_block_mask(mm_bool, None, None, n, n, device=dev, BLOCK_SIZE=64))
for tag, o in (("int32", o_int), ("64 x 64", o64)):
    if o is not None and o_bool is not None:
        print(f"max |O(bigbird {tag}) - O(bool)| = {(o - o_bool).abs().max().item():.3g}")
# Longformer as bench_peers builds it now, and its lower bound
mm_l, _ = make_pattern(f"longformer(256, {glob})", n, n, 64, dev)
bm = create_block_mask(mm_l, None, None, n, n, device=dev, BLOCK_SIZE=128)
run("longformer, bench_peers (arithmetic)", bm)
run("longformer, same BlockMask, noop on partial blocks (lower bound)", noop(bm))
