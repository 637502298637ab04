#!/usr/bin/env python3
"""Why is FlexAttention's Longformer (w = 256, 64 globals at 97 + 256 k) 39x its own dense time?
The same mask three ways, timed as scripts/bench_peers.py times (device time, queue pre-filled),
outputs compared: (a) bench_peers' mask_mod (a captured boolean tensor of the globals, g[i] | g[j]);
(b) the globals by arithmetic (no captured tensor); (c) (a)'s BlockMask built with _compile=True.
Prints each BlockMask's sparsity and its partial/full block counts, dynamo's recompiles and graph
breaks. Usage: python3 flex_longformer.py [--n 16384 --heads 16 --d 64]"""
import argparse, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts"))
import torch
import torch._dynamo
from bench_peers import make_pattern, time_fn

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=16384)
ap.add_argument("--heads", type=int, default=16)
ap.add_argument("--d", type=int, default=64)
ap.add_argument("--reps", type=int, default=10)
a = ap.parse_args()
torch._dynamo.config.recompile_limit = 1000
torch._dynamo.config.cache_size_limit = 1000
torch._logging.set_logs(recompiles=True, graph_breaks=True)
from torch.nn.attention.flex_attention import create_block_mask, flex_attention
flex = torch.compile(flex_attention, dynamic=False)
n, dev = a.n, "cuda"
G0, GS, GN, W = 97, n // 64, 64, 256
spec = "longformer(256, " + ", ".join(str(G0 + k * GS) for k in range(GN)) + ")"
mm_a, elem = make_pattern(spec, n, n, 64, dev)

def is_g(x):
    return (x >= G0) & (torch.remainder(x - G0, GS) == 0) & (x < G0 + GN * GS)

def mm_b(b, h, i, j):
    return ((i - j).abs() <= W) | is_g(i) | is_g(j)

def stats(bm, tag):
    kv = bm.kv_num_blocks.sum().item()
    full = bm.full_kv_num_blocks.sum().item() if bm.full_kv_num_blocks is not None else 0
    print(f"{tag}: sparsity {bm.sparsity():.2f}%, partial blocks {kv}, full blocks {full}", flush=True)

g = torch.Generator(device=dev).manual_seed(0)
q, k, v = (torch.randn(1, a.heads, n, a.d, device=dev, dtype=torch.bfloat16, generator=g) for _ in range(3))
i = torch.arange(n, device=dev)[:, None]
j = torch.arange(n, device=dev)[None, :]
same = bool((elem(i, j) == mm_b(0, 0, i, j)).all().item())
print(f"{spec[:40]}...: the two mask_mods agree on every element: {same}", flush=True)
out = {}
for tag, mm, comp in (("a captured tensor", mm_a, False), ("b arithmetic", mm_b, False), ("c captured, _compile", mm_a, True)):
    t0 = time.time()
    bm = create_block_mask(mm, None, None, n, n, device=dev, BLOCK_SIZE=128, _compile=comp)
    stats(bm, tag)
    ms = time_fn(lambda: flex(q, k, v, block_mask=bm), a.reps)
    out[tag] = flex(q, k, v, block_mask=bm).float()
    print(f"| flex | {tag} | {ms:.3f} ms | ({time.time() - t0:.1f} s)", flush=True)
ref = out["b arithmetic"]
for tag, o in out.items():
    print(f"max |O({tag}) - O(b)| = {(o - ref).abs().max().item():.3g}")
