#!/usr/bin/env python3
"""Plots of `sparsecl bench --suite` runs, from their bench.json files alone.

usage: python3 scripts/plot_bench.py results/<device-slug>/bench.json [more bench.json ...]
       python3 scripts/plot_bench.py --cross results/*/bench.json --out results/cross_device.png

Writes next to each bench.json:
  time_forward.png           forward time vs sequence length (log-log), one panel per pattern,
                             with the dense fused kernel and CLBlast of the same shape and dtype
  time_forward_backward.png  the same for forward + backward (no CLBlast: forward only)
  speedup_over_dense.png     dense fused time / pattern time (forward), one panel per shape
  fraction_of_peak.png       achieved fraction of the device's fp32 FMA peak (forward, and
                             forward + backward), every pattern
  memory.png                 device memory vs sequence length (log-log), with CLBlast's
--cross draws one figure across devices: forward time and % of each device's own peak vs N
for dense, causal, local and bigbird where the files share them (else their first 4 shared
patterns), float32, one colour per device, one line style per head dim (of a file with several
groups per head dim, the one with the largest B*H).

Markers are per storage type (f32 circle, f16 square, bf16 triangle); whiskers span the min and
max of the timed runs; legends sit below the panels, outside the data.
Exit status 3 when matplotlib is missing (the suite then keeps its tables only), 2 for bad input.
"""
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
except ImportError:
    sys.stderr.write("plot_bench: matplotlib not found (Debian: apt-get install python3-matplotlib)\n")
    sys.exit(3)

COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
          "tab:cyan", "tab:gray"]
MARKERS = {"f32": "o", "f16": "s", "bf16": "^"}
DTYPE_ORDER = {"f32": 0, "f16": 1, "bf16": 2}
KIND_STYLE = {"sparse": "-", "dense": "--", "clblast": ":"}
DIM_STYLE = ["-", "--", ":", "-."]
CROSS_PATTERNS = ["dense", "causal", "local", "bigbird"]  # the cross-device figure's panels, when present


def ran(p, which):
    t = p.get(which)
    return t is not None and t.get("ran")


def group_of(doc, p):
    """(B, H, H_kv, d) of a point; B and H from the settings in files that did not record them."""
    s = doc.get("settings", {})
    b, h = p.get("batch", s.get("batch")), p.get("heads", s.get("heads"))
    return (b, h, p.get("kv_heads", h), p["dim"])


def group_label(g):
    b, h, hk, d = g
    return "B=%s H=%s%s d=%s" % (b, h, "" if hk == h else " H_kv=%s" % hk, d)


def series(doc, kind, pattern, group, dtype, which, field="median_ms"):
    """Sorted (N, value, low, high) of one line; low/high are the min/max runs for times."""
    rows = []
    for p in doc["points"]:
        if p["kind"] != kind or group_of(doc, p) != group or p["dtype"] != dtype:
            continue
        if pattern is not None and p["pattern"] != pattern:
            continue
        if field in ("memory_bytes", "backward_memory_bytes"):
            if field in p and "skipped" not in p:
                v = p[field] / 2**20
                rows.append((p["seq"], v, v, v))
        elif ran(p, which):
            t = p[which]
            scale = 100.0 if field == "fraction_of_peak" else 1.0
            if field not in t:
                continue
            v = t[field] * scale
            lo, hi = (t.get("min_ms", v), t.get("max_ms", v)) if field == "median_ms" else (v, v)
            rows.append((p["seq"], v, lo, hi))
    rows.sort()
    return rows


def draw(ax, rows, color, marker, style, alpha=1.0):
    """A line with min/max whiskers."""
    if not rows:
        return
    x = [r[0] for r in rows]
    y = [r[1] for r in rows]
    err = [[max(0.0, r[1] - r[2]) for r in rows], [max(0.0, r[3] - r[1]) for r in rows]]
    ax.errorbar(x, y, yerr=err, color=color, marker=marker, linestyle=style, markersize=4, linewidth=1.2,
                capsize=2, elinewidth=0.8, alpha=alpha)


def combos(doc):
    seen = []
    for p in doc["points"]:
        c = (group_of(doc, p), p["dtype"])
        if p["kind"] == "sparse" and c not in seen:
            seen.append(c)
    return sorted(seen, key=lambda c: (DTYPE_ORDER.get(c[1], 9), c[0][3], c[0][0] * c[0][1]))


def groups(doc):
    out = []
    for g, _ in combos(doc):
        if g not in out:
            out.append(g)
    return sorted(out, key=lambda g: (g[3], g[0] * g[1], g[2]))


def patterns(points):
    out = []
    for p in points:
        if p["kind"] == "sparse" and p["pattern"] not in out:
            out.append(p["pattern"])
    return out


def grid(n, w=4.6, h=3.5, cols=3):
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for i in range(n, rows * cols):
        axes[i // cols][i % cols].axis("off")
    return fig, [axes[i // cols][i % cols] for i in range(n)]


def title(doc, what):
    d = doc["device"]
    s = doc.get("settings", {})
    shape = "B=%s H=%s, " % (s.get("batch"), s.get("heads")) if s.get("batch") else ""
    return "%s: %s\n(suite %s v%s, %sblock %s, %s)" % (
        d["name"], what, doc["suite"], doc["suite_version"], shape, s.get("block"), doc.get("date", "")[:10])


def finish(fig, handles, path, suptitle, ncol=4):
    """Suptitle, one legend below the panels (outside the data), save."""
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    if handles:
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(ncol, len(handles)),
                   fontsize=8, frameon=False)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def proxy(label, color="black", marker=None, style="-"):
    return Line2D([], [], color=color, marker=marker, linestyle=style, markersize=5, label=label)


def style_legend(doc, color_of, with_clblast):
    """Colours are shapes, markers storage types, line styles what ran."""
    hs = [proxy(group_label(g), color_of[g], None, "-") for g in groups(doc)]
    dts = sorted({c[1] for c in combos(doc)}, key=lambda d: DTYPE_ORDER.get(d, 9))
    hs += [proxy(d, "black", MARKERS.get(d, "x"), "none") for d in dts]
    hs += [proxy("pattern (sparse fused)", style=KIND_STYLE["sparse"]),
           proxy("dense fused", style=KIND_STYLE["dense"])]
    if with_clblast:
        hs.append(proxy("dense CLBlast (f32)", style=KIND_STYLE["clblast"]))
    hs.append(Line2D([], [], color="black", marker="|", linestyle="none", markersize=8,
                     label="whiskers: min-max of the runs"))
    return hs


def log_axes(ax, ylabel, logy=True):
    ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("sequence length N")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def time_plot(doc, which, path, with_clblast):
    pts = doc["points"]
    pats = [p for p in patterns(pts) if p != "dense"] or patterns(pts)
    if not any(ran(p, which) for p in pts):
        return False
    color_of = {g: COLORS[i % len(COLORS)] for i, g in enumerate(groups(doc))}
    fig, axes = grid(len(pats))
    for ax, pat in zip(axes, pats):
        for g, dtype in combos(doc):
            col, mk = color_of[g], MARKERS.get(dtype, "x")
            draw(ax, series(doc, "sparse", pat, g, dtype, which), col, mk, KIND_STYLE["sparse"])
            if pat != "dense":
                draw(ax, series(doc, "sparse", "dense", g, dtype, which), col, mk, KIND_STYLE["dense"], 0.55)
            if with_clblast and dtype == "f32":
                draw(ax, series(doc, "clblast", None, g, dtype, which), col, mk, KIND_STYLE["clblast"], 0.55)
        log_axes(ax, "time (ms)")
        ax.set_title(pat, fontsize=10)
    what = "forward + backward time" if which == "forward_backward" else "forward time"
    finish(fig, style_legend(doc, color_of, with_clblast), path, title(doc, what))
    return True


def speedup_plot(doc, path):
    """Dense fused forward time over each pattern's, per shape: how much the sparsity buys."""
    pts = doc["points"]
    pats = [p for p in patterns(pts) if p != "dense"]
    gs = groups(doc)
    if not pats or not any(ran(p, "forward") for p in pts):
        return False
    color_of = {p: COLORS[i % len(COLORS)] for i, p in enumerate(pats)}
    fig, axes = grid(len(gs), 4.8, 3.6)
    dts = set()
    for ax, g in zip(axes, gs):
        for dtype in sorted({c[1] for c in combos(doc) if c[0] == g}, key=lambda d: DTYPE_ORDER.get(d, 9)):
            dense = {r[0]: r[1] for r in series(doc, "sparse", "dense", g, dtype, "forward")}
            for pat in pats:
                rows = [(n, dense[n] / v, dense[n] / v, dense[n] / v)
                        for n, v, _, _ in series(doc, "sparse", pat, g, dtype, "forward") if n in dense and v > 0]
                draw(ax, rows, color_of[pat], MARKERS.get(dtype, "x"), "-")
                dts.add(dtype) if rows else None
        ax.axhline(1.0, color="black", linewidth=0.8)
        log_axes(ax, "speed-up over dense fused (x)")
        ax.set_title(group_label(g), fontsize=9)
    hs = [proxy(p, color_of[p], None, "-") for p in pats]
    hs += [proxy(d, "black", MARKERS.get(d, "x"), "none") for d in sorted(dts, key=lambda d: DTYPE_ORDER.get(d, 9))]
    hs.append(proxy("1x: as fast as dense", "black", None, "-"))
    finish(fig, hs, path, title(doc, "forward speed-up over the dense fused kernel (same shape and dtype)"), 5)
    return True


def peak_plot(doc, path):
    pts = doc["points"]
    if not doc.get("peak", {}).get("fma_gflops"):
        return False
    cs = combos(doc)
    whichs = [w for w in ("forward", "forward_backward") if any(ran(p, w) for p in pts)]
    pats = patterns(pts)
    color_of = {p: COLORS[i % len(COLORS)] for i, p in enumerate(pats)}
    panels = [(which, g, dtype) for which in whichs for g, dtype in cs]
    fig, axes = grid(len(panels), 4.2, 3.4, cols=4)
    clblast = False
    for ax, (which, g, dtype) in zip(axes, panels):
        for pat in pats:
            draw(ax, series(doc, "sparse", pat, g, dtype, which, "fraction_of_peak"), color_of[pat],
                 MARKERS.get(dtype, "x"), "-")
        if which == "forward" and dtype == "f32":
            rows = series(doc, "clblast", None, g, dtype, which, "fraction_of_peak")
            clblast |= bool(rows)
            draw(ax, rows, "black", MARKERS["f32"], ":")
        log_axes(ax, "% of fp32 FMA peak", logy=False)
        ax.set_ylim(bottom=0)
        ax.set_title("%s, %s %s" % (which.replace("_", "+"), group_label(g), dtype), fontsize=8)
    hs = [proxy(p if p != "dense" else "dense fused", color_of[p]) for p in pats]
    if clblast:
        hs.append(proxy("dense CLBlast", "black", None, ":"))
    hs += [proxy(d, "black", MARKERS.get(d, "x"), "none") for d in sorted({c[1] for c in cs}, key=DTYPE_ORDER.get)]
    finish(fig, hs, path, title(doc, "effective GFLOP/s as %% of %.0f GFLOP/s" % doc["peak"]["fma_gflops"]), 6)
    return True


def memory_plot(doc, path):
    pts = doc["points"]
    cs = combos(doc)
    pats = patterns(pts)
    color_of = {p: COLORS[i % len(COLORS)] for i, p in enumerate(pats)}
    fig, axes = grid(len(cs), 4.2, 3.5, cols=4)
    extra = {}
    for ax, (g, dtype) in zip(axes, cs):
        mk = MARKERS.get(dtype, "x")
        for pat in pats:
            draw(ax, series(doc, "sparse", pat, g, dtype, None, "memory_bytes"), color_of[pat], mk, "-")
        rows = series(doc, "sparse", "dense", g, dtype, None, "backward_memory_bytes")
        if rows:
            extra["fwd+bwd (any pattern)"] = ("grey", "--")
            draw(ax, rows, "grey", mk, "--")
        if dtype == "f32":
            rows = series(doc, "clblast", None, g, dtype, None, "memory_bytes")
            if rows:
                extra["CLBlast (needed)"] = ("black", ":")
                draw(ax, rows, "black", mk, ":")
        gm = doc["device"].get("global_mem_bytes")
        if gm:
            extra["device memory"] = ("black", "-.")
            ax.axhline(gm / 2**20, color="black", linestyle="-.", lw=0.9)
        log_axes(ax, "device memory (MiB)")
        ax.set_title("%s %s" % (group_label(g), dtype), fontsize=8)
    hs = [proxy("%s fwd" % p, color_of[p]) for p in pats]
    hs += [proxy(k, c, None, s) for k, (c, s) in extra.items()]
    hs += [proxy(d, "black", MARKERS.get(d, "x"), "none") for d in sorted({c[1] for c in cs}, key=DTYPE_ORDER.get)]
    finish(fig, hs, path, title(doc, "device memory"), 6)
    return True


def widest(doc):
    """Per head dim, the group with the most heads in all (B*H): one line per device and d."""
    best = {}
    for g in groups(doc):
        if g[3] not in best or g[0] * g[1] > best[g[3]][0] * best[g[3]][1]:
            best[g[3]] = g
    return [best[d] for d in sorted(best)]


def cross_plot(docs, path):
    """Forward time and % of own peak vs N, every device, the patterns all files share (float32)."""
    if not docs:
        return False
    pats = [p for p in patterns(docs[0]["points"]) if all(p in patterns(d["points"]) for d in docs)]
    if not pats:
        return False
    pats = [p for p in CROSS_PATTERNS if p in pats] or pats[:4]
    dims = sorted({p["dim"] for d in docs for p in d["points"] if p["dtype"] == "f32"})
    fig, axes = plt.subplots(2, len(pats), figsize=(4.2 * len(pats), 6.8), squeeze=False)
    used = set()
    for di, doc in enumerate(docs):
        col = COLORS[di % len(COLORS)]
        for g in widest(doc):
            used.add(group_label(g))
            style = DIM_STYLE[dims.index(g[3]) % len(DIM_STYLE)] if g[3] in dims else "-"
            for pi, pat in enumerate(pats):
                draw(axes[0][pi], series(doc, "sparse", pat, g, "f32", "forward"), col, MARKERS["f32"], style)
                draw(axes[1][pi], series(doc, "sparse", pat, g, "f32", "forward", "fraction_of_peak"), col,
                     MARKERS["f32"], style)
    for pi, pat in enumerate(pats):
        log_axes(axes[0][pi], "forward time (ms)")
        axes[0][pi].set_title(pat if pat != "dense" else "dense (fused)", fontsize=10)
        log_axes(axes[1][pi], "% of the device's own peak", logy=False)
        axes[1][pi].set_ylim(bottom=0)
    hs = [proxy("%s (%s)" % (d["device"]["name"], d["device"].get("type", "")), COLORS[i % len(COLORS)])
          for i, d in enumerate(docs)]
    hs += [proxy("d=%s" % d, "black", None, DIM_STYLE[i % len(DIM_STYLE)]) for i, d in enumerate(dims)]
    what = "sparsecl across devices: float32 forward (%s; whiskers min-max)" % ", ".join(sorted(used))
    finish(fig, hs, path, what, 3)
    return True


def load(jpath):
    with open(jpath) as f:
        doc = json.load(f)
    if doc.get("format") != "sparsecl-bench":
        raise ValueError("not a sparsecl-bench file")
    return doc


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    cross = argv[1] == "--cross"
    args = argv[2:] if cross else argv[1:]
    out_path = None
    if cross:
        if "--out" not in args or args.index("--out") + 1 >= len(args):
            sys.stderr.write("plot_bench: --cross needs --out FILE.png\n")
            return 2
        i = args.index("--out")
        out_path = args[i + 1]
        args = args[:i] + args[i + 2:]
    rc, docs = 0, []
    for jpath in args:
        try:
            doc = load(jpath)
        except (OSError, ValueError) as e:
            sys.stderr.write("plot_bench: %s: %s\n" % (jpath, e))
            rc = 2
            continue
        if cross:
            docs.append(doc)
            continue
        out = os.path.dirname(os.path.abspath(jpath))
        made = []
        for name, fn in (("time_forward.png", lambda p: time_plot(doc, "forward", p, True)),
                         ("time_forward_backward.png", lambda p: time_plot(doc, "forward_backward", p, False)),
                         ("speedup_over_dense.png", lambda p: speedup_plot(doc, p)),
                         ("fraction_of_peak.png", lambda p: peak_plot(doc, p)),
                         ("memory.png", lambda p: memory_plot(doc, p))):
            if fn(os.path.join(out, name)):
                made.append(name)
        print("plot_bench: %s: %s" % (out, ", ".join(made) if made else "nothing to plot"))
    if cross:
        if not args:
            sys.stderr.write("plot_bench: --cross needs bench.json files\n")
            return 2
        if cross_plot(docs, out_path):
            print("plot_bench: %s (%d devices)" % (out_path, len(docs)))
        else:
            print("plot_bench: %s: nothing to plot (no pattern the files share)" % out_path)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
