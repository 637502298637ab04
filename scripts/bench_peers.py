#!/usr/bin/env python3
"""Times the PyTorch peers of sparsecl's forward on the same shapes and element masks.

Peers: torch SDPA (bf16/f16; fp32 with TF32 off) and FlexAttention (torch.compile(flex_attention),
BlockMask from the same element predicate). Masks follow patterns/README.md exactly (i = query,
j = key, 0-based):
  dense                 always
  causal                j <= i
  local(w)              |i - j| <= w
  strided(l)            |i - j| <= l or (i - j) mod l == 0        (Child et al. 2019)
  causal & strided(l)   j <= i and ((i - j) <= l or (i - j) mod l == 0)
  fixed(l, c)           floor(i/l) == floor(j/l) or j mod l >= l - c   (Child et al. 2019)
  causal & fixed(l, c)  j <= i and the above
  longformer(w, G)      |i - j| <= w or i in G or j in G          (Beltagy et al. 2020)
  bigbird(win, g, r, s) block level (block b): |R - C| <= win // 2 or R < g or C < g or C in rand(R),
                        rand(R) drawn exactly as patterns/bind.c does (Floyd + splitmix64)  (Zaheer et al. 2020)
TFLOP/s = 4 * d * (allowed (query, key) pairs) * B * H / time: 2 flops per pair for S = QK^T and 2
for O = PV; masked work is not counted (the same count as tests/mma/test_mma_fwd.c).
Time: the median of CUDA-event spans with the GPU kept busy ahead of each call (PREFILL_CYCLES), so
that it is the device's time for the call, like sparsecl's profiling-event spans.

Example (lent H200):
  python3 scripts/bench_peers.py --n 16384 --heads 16 --d 64 128 \
      --patterns dense causal 'local(256)' 'causal & strided(128)' --json peers.json --md peers.md
"""
import argparse
import json
import math
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

MASK64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def uniform_below(state, bound):
    threshold = ((1 << 64) - bound) % bound
    while True:
        state, x = splitmix64(state)
        if x >= threshold:
            return state, x % bound


def bigbird_layout(nb_q, nb_k, window, glob, randoms, seed):
    """Block layout [nb_q][nb_k] of bigbird(window, glob, randoms, seed), as patterns/bind.c."""
    half = window // 2
    lay = torch.zeros(nb_q, nb_k, dtype=torch.bool)
    r_idx = torch.arange(nb_q)[:, None]
    c_idx = torch.arange(nb_k)[None, :]
    lay |= (r_idx - c_idx).abs() <= half
    lay |= r_idx < glob
    lay |= c_idx < glob
    k_max = min(randoms, nb_k)
    for r in range(nb_q):
        if k_max == 0 or r < glob:
            continue
        lo = glob
        wl, wh = max(r - half, lo), min(r + half, nb_k - 1)
        wlen = wh - wl + 1 if wh >= wl else 0
        avail = nb_k - lo - wlen if lo < nb_k else 0
        if avail <= 0:
            continue
        k = min(k_max, avail)
        state = (seed ^ ((0x9E3779B97F4A7C15 * (r + 1)) & MASK64)) & MASK64
        taken, chosen = set(), []
        for jj in range(avail - k, avail):
            state, t = uniform_below(state, jj + 1)
            if t in taken:
                t = jj
            taken.add(t)
            chosen.append(t)
        for t in sorted(chosen):
            c = lo + t
            if wlen > 0 and c >= wl:
                c += wlen
            lay[r, c] = True
    return lay


def parse_ints(s):
    return [int(x) for x in re.findall(r"\d+", s)]


def parse_ranges(parts):
    out = []
    for p in parts:
        p = p.strip().replace("global=", "")
        if "-" in p:
            a, b = p.split("-")
            out.append((int(a), int(b)))
        elif p:
            out.append((int(p), int(p)))
    return out


def global_predicate(ranges, n, device):
    """x -> "token x is global" for Longformer's global ranges, by arithmetic where the tokens are an
    arithmetic progression or a few ranges: FlexAttention evaluates a mask_mod that reads a captured
    tensor much more slowly (results/matrix-engine/h200-session9: 100.9 ms against 3.16 ms for the
    same mask at N = 16384, 64 scattered globals), which would make the comparison unfair to it."""
    ranges = sorted((a, b) for a, b in ranges if a <= b)
    points = [a for a, b in ranges if a == b]
    if len(points) == len(ranges) >= 3 and len({b - a for a, b in zip(points, points[1:])}) == 1:
        first, last, step = points[0], points[-1], points[1] - points[0]
        return lambda x: (x >= first) & (x <= last) & (torch.remainder(x - first, step) == 0)
    if len(ranges) <= 8:
        def in_ranges(x):
            m = torch.zeros_like(x, dtype=torch.bool)
            for a, b in ranges:
                m = m | ((x >= a) & (x <= b))
            return m
        return in_ranges
    g = torch.zeros(n, dtype=torch.bool, device=device)
    for a, b in ranges:
        g[a:b + 1] = True
    return lambda x: g[x]


def make_pattern(spec, n_q, n_k, block, device):
    """Returns (mask_mod for FlexAttention or None for dense, element-mask function (i, j) -> bool tensor)."""
    terms = [t.strip() for t in spec.split("&")]
    preds = []
    for t in terms:
        name = t.split("(")[0].strip()
        args = t[t.find("(") + 1:t.rfind(")")] if "(" in t else ""
        if name == "dense":
            continue
        if name == "causal":
            preds.append(lambda i, j: j <= i)
        elif name == "local":
            (w,) = parse_ints(args)
            preds.append(lambda i, j, w=w: (i - j).abs() <= w)
        elif name == "strided":
            (l,) = parse_ints(args)
            preds.append(lambda i, j, l=l: ((i - j).abs() <= l) | (torch.remainder(i - j, l) == 0))
        elif name == "fixed":
            l, c = parse_ints(args)
            preds.append(lambda i, j, l=l, c=c: (torch.div(i, l, rounding_mode="floor") == torch.div(j, l, rounding_mode="floor"))
                         | (torch.remainder(j, l) >= l - c))
        elif name == "longformer":
            parts = args.split(",")
            w = int(parts[0])
            in_g = global_predicate(parse_ranges(parts[1:]), max(n_q, n_k), device)
            preds.append(lambda i, j, w=w, in_g=in_g: ((i - j).abs() <= w) | in_g(i) | in_g(j))
        elif name == "bigbird":
            win, glob, rnd, seed = parse_ints(args)
            lay = bigbird_layout(-(-n_q // block), -(-n_k // block), win, glob, rnd, seed).to(device)
            preds.append(lambda i, j, lay=lay: lay[torch.div(i, block, rounding_mode="floor"),
                                                   torch.div(j, block, rounding_mode="floor")])
        else:
            raise SystemExit(f"bench_peers: pattern '{t}' is not supported here")
    if not preds:
        return None, None

    def elem(i, j):
        m = preds[0](i, j)
        for p in preds[1:]:
            m = m & p(i, j)
        return m

    def mask_mod(b, h, q_idx, kv_idx):
        return elem(q_idx, kv_idx)

    return mask_mod, elem


# GPU cycles of torch.cuda._sleep queued ahead of each timed call (about 2.5 ms on an H200): the call's
# host-side work (Python, dynamo's guards, the launch) then runs while the GPU is still busy, so the
# two events bracket the device's own time for the call, as sparsecl's OpenCL profiling events do
# (first kernel's start to last kernel's end). Without it a short kernel's time includes the host's
# launch latency (tens of microseconds for a compiled FlexAttention call): --no-prefill shows that.
PREFILL_CYCLES = 5_000_000


def time_fn(fn, reps, warmup=3, prefill=True):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        if prefill:
            torch.cuda._sleep(PREFILL_CYCLES)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--n-k", type=int, default=0, help="key length (default: --n)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--d", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--patterns", nargs="+", default=["dense", "causal", "local(256)", "causal & strided(128)"])
    ap.add_argument("--dtypes", nargs="+", default=["bf16", "f16", "fp32"])
    ap.add_argument("--flex-dtypes", nargs="+", default=["bf16"], help="dtypes FlexAttention is timed in")
    ap.add_argument("--fp32-patterns", nargs="*", default=["dense", "causal"],
                    help="fp32 SDPA (TF32 off) is slow: only these patterns")
    ap.add_argument("--block", type=int, default=128, help="FlexAttention BLOCK_SIZE")
    ap.add_argument("--flex-blocks", type=int, nargs="*", default=[],
                    help="time FlexAttention with each of these BLOCK_SIZEs (below 128 with kernel tiles of "
                         "that size); its time for a pattern is then the fastest (default: --block only)")
    ap.add_argument("--pattern-block", type=int, default=0,
                    help="the sparsecl layout block that block-level patterns (bigbird) are defined in "
                         "(default: --block)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--no-prefill", action="store_true",
                    help="time without the GPU queue filled ahead of each call (the host's launch latency "
                         "then counts: for comparison with earlier figures only)")
    ap.add_argument("--no-sdpa-mask", action="store_true", help="skip SDPA with a dense boolean mask")
    ap.add_argument("--json", default="")
    ap.add_argument("--md", default="")
    args = ap.parse_args()

    import torch._dynamo
    torch._dynamo.config.recompile_limit = 1000
    torch._dynamo.config.cache_size_limit = 1000
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    dev = "cuda"
    n_q, n_k = args.n, args.n_k or args.n
    rows = []
    print(f"# peers on {torch.cuda.get_device_name()} (torch {torch.__version__}), B={args.batch} H={args.heads} "
          f"N={n_q}/{n_k}", flush=True)
    for spec in args.patterns:
        mask_mod, elem = make_pattern(spec, n_q, n_k, args.pattern_block or args.block, dev)
        if elem is None:
            allowed = n_q * n_k
            dense_mask = None
        else:
            i = torch.arange(n_q, device=dev)[:, None]
            j = torch.arange(n_k, device=dev)[None, :]
            dense_mask = elem(i, j)
            allowed = int(dense_mask.sum().item())
        # One BlockMask per FlexAttention block size (--flex-blocks): smaller blocks than the default
        # get kernel tiles of that size (BLOCK_M = BLOCK_N), fewer masked elements, and for BigBird
        # on 64-blocks no partial block at all (its 128-blocks read the captured layout in the
        # mask_mod: results/matrix-engine/h200-session9).
        # dense (no mask_mod): one run, no BlockMask
        flex_blocks = (args.flex_blocks or [args.block]) if mask_mod is not None else [args.block]
        bms = {}
        if mask_mod is not None:
            for fb in flex_blocks:
                bms[fb] = create_block_mask(mask_mod, None, None, n_q, n_k, device=dev, BLOCK_SIZE=fb)
        density = allowed / (n_q * n_k)
        for d in args.d:
            for dt in args.dtypes:
                torch_dt = {"bf16": torch.bfloat16, "f16": torch.float16, "fp32": torch.float32}[dt]
                g = torch.Generator(device=dev).manual_seed(0)
                q = torch.randn(args.batch, args.heads, n_q, d, device=dev, dtype=torch_dt, generator=g)
                k = torch.randn(args.batch, args.heads, n_k, d, device=dev, dtype=torch_dt, generator=g)
                v = torch.randn(args.batch, args.heads, n_k, d, device=dev, dtype=torch_dt, generator=g)
                flops = 4.0 * d * allowed * args.batch * args.heads
                runs = []
                if dt != "fp32" or spec in args.fp32_patterns:
                    if spec.strip() == "dense":
                        runs.append(("sdpa", lambda: F.scaled_dot_product_attention(q, k, v)))
                    elif spec.strip() == "causal" and n_q == n_k:
                        runs.append(("sdpa", lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)))
                    elif not args.no_sdpa_mask:
                        runs.append(("sdpa(mask)", lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=dense_mask)))
                if dt in args.flex_dtypes:
                    for fb in flex_blocks:
                        bm = bms.get(fb)
                        opts = {"BLOCK_M": fb, "BLOCK_N": fb} if fb < 128 else None
                        runs.append(("flex" if fb == args.block else f"flex(block {fb})",
                                     lambda bm=bm, opts=opts: flex(q, k, v, block_mask=bm, kernel_options=opts)))
                first_out = None  # the first run's output: every other run of the case is compared with it
                for name, fn in runs:
                    try:
                        t0 = time.time()
                        ms = time_fn(fn, args.reps, prefill=not args.no_prefill)
                        tf = flops / (ms * 1e-3) / 1e12
                        out = fn().float()
                        diff = None if first_out is None else (out - first_out).abs().max().item()
                        if first_out is None:
                            first_out = out
                        rows.append({"peer": name, "pattern": spec, "dtype": dt, "n_q": n_q, "n_k": n_k, "d": d,
                                     "heads": args.heads, "batch": args.batch, "density": density,
                                     "median_ms": ms, "tflops": tf, "prefill": not args.no_prefill,
                                     "max_diff_vs_first": diff})
                        print(f"| {name} | {spec} | {dt} | {d} | {density:.4f} | {ms:.3f} | {tf:.1f} |"
                              f"  ({time.time() - t0:.1f} s{'' if diff is None else f', max |O - O({runs[0][0]})| {diff:.3g}'})",
                              flush=True)
                    except Exception as e:  # a peer that cannot run a case is reported, not fatal
                        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
                        rows.append({"peer": name, "pattern": spec, "dtype": dt, "d": d, "error": msg})
                        print(f"| {name} | {spec} | {dt} | {d} | {density:.4f} | error: {msg} | |", flush=True)
                    torch.cuda.empty_cache()
                first_out = out = None
                del q, k, v
        del dense_mask, bms
        torch.cuda.empty_cache()

    md = ["| peer | pattern | dtype | d | density | median ms | TFLOP/s | max abs diff to the case's first run |",
          "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            md.append(f"| {r['peer']} | {r['pattern']} | {r['dtype']} | {r['d']} | | error: {r['error']} | | |")
        else:
            diff = r.get("max_diff_vs_first")
            md.append(f"| {r['peer']} | {r['pattern']} | {r['dtype']} | {r['d']} | {r['density']:.4f} | "
                      f"{r['median_ms']:.3f} | {r['tflops']:.1f} | {'' if diff is None else f'{diff:.3g}'} |")
    print("\n".join(md))
    if args.md:
        with open(args.md, "w") as f:
            f.write("\n".join(md) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
