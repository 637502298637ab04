#!/usr/bin/env python3
"""Plots of a `sparsecl bench --suite` run, from its bench.json alone.

usage: python3 scripts/plot_bench.py results/<device-slug>/bench.json [more bench.json ...]

Writes next to each bench.json:
  time_forward.png           forward time vs sequence length (log-log), one panel per pattern,
                             with the dense fused kernel and CLBlast of the same d / dtype
  time_forward_backward.png  the same for forward + backward (no CLBlast: forward only)
  fraction_of_peak.png       achieved fraction of the device's fp32 FMA peak (forward, and
                             forward + backward), every pattern
  memory.png                 device memory vs sequence length (log-log), with CLBlast's
Exit status 3 when matplotlib is missing (the suite then keeps its tables only), 2 for bad input.
"""
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.stderr.write("plot_bench: matplotlib not found (Debian: apt-get install python3-matplotlib)\n")
    sys.exit(3)

COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]


def ran(p, which):
    t = p.get(which)
    return t is not None and t.get("ran")


def series(points, kind, pattern, dim, dtype, which, field="median_ms"):
    xs, ys = [], []
    for p in points:
        if p["kind"] != kind or p["dim"] != dim or p["dtype"] != dtype:
            continue
        if pattern is not None and p["pattern"] != pattern:
            continue
        if field in ("memory_bytes", "backward_memory_bytes"):
            if field in p and "skipped" not in p:
                xs.append(p["seq"])
                ys.append(p[field] / 2**20)
        elif ran(p, which):
            xs.append(p["seq"])
            ys.append(p[which][field] * (100.0 if field == "fraction_of_peak" else 1.0))
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    return [xs[i] for i in order], [ys[i] for i in order]


def combos(points):
    seen = []
    for p in points:
        c = (p["dim"], p["dtype"])
        if p["kind"] == "sparse" and c not in seen:
            seen.append(c)
    return sorted(seen, key=lambda c: (c[1] != "f32", c[0]))


def patterns(points):
    out = []
    for p in points:
        if p["kind"] == "sparse" and p["pattern"] not in out:
            out.append(p["pattern"])
    return out


def grid(n):
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    for i in range(n, rows * cols):
        axes[i // cols][i % cols].axis("off")
    return fig, [axes[i // cols][i % cols] for i in range(n)]


def title(doc, what):
    d = doc["device"]
    s = doc.get("settings", {})
    return "%s: %s  (suite %s v%s, B=%s H=%s block %s, %s)" % (
        d["name"], what, doc["suite"], doc["suite_version"], s.get("batch"), s.get("heads"), s.get("block"),
        doc.get("date", "")[:10])


def time_plot(doc, which, path, with_clblast):
    pts = doc["points"]
    pats = [p for p in patterns(pts) if p != "dense"] or patterns(pts)
    cs = combos(pts)
    if not any(ran(p, which) for p in pts):
        return False
    fig, axes = grid(len(pats))
    for ax, pat in zip(axes, pats):
        for ci, (dim, dtype) in enumerate(cs):
            col = COLORS[ci % len(COLORS)]
            x, y = series(pts, "sparse", pat, dim, dtype, which)
            if x:
                ax.plot(x, y, "o-", color=col, label="%s d=%d %s" % (pat, dim, dtype))
            x, y = series(pts, "sparse", "dense", dim, dtype, which)
            if x and pat != "dense":
                ax.plot(x, y, "s--", color=col, alpha=0.6, label="dense fused d=%d %s" % (dim, dtype))
            if with_clblast and dtype == "f32":
                x, y = series(pts, "clblast", None, dim, dtype, which)
                if x:
                    ax.plot(x, y, "^:", color=col, alpha=0.6, label="CLBlast d=%d" % dim)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(pat)
        ax.set_xlabel("sequence length N")
        ax.set_ylabel("time (ms)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(title(doc, "forward + backward time" if which == "forward_backward" else "forward time"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def peak_plot(doc, path):
    pts = doc["points"]
    if not doc.get("peak", {}).get("fma_gflops"):
        return False
    cs = combos(pts)
    whichs = [w for w in ("forward", "forward_backward") if any(ran(p, w) for p in pts)]
    fig, axes = plt.subplots(len(whichs), len(cs), figsize=(4.6 * len(cs), 3.8 * len(whichs)), squeeze=False)
    for wi, which in enumerate(whichs):
        for ci, (dim, dtype) in enumerate(cs):
            ax = axes[wi][ci]
            for pi, pat in enumerate(patterns(pts)):
                x, y = series(pts, "sparse", pat, dim, dtype, which, "fraction_of_peak")
                if x:
                    ax.plot(x, y, "o-", color=COLORS[pi % len(COLORS)], label=pat if pat != "dense" else "dense fused")
            if which == "forward" and dtype == "f32":
                x, y = series(pts, "clblast", None, dim, dtype, which, "fraction_of_peak")
                if x:
                    ax.plot(x, y, "^:", color="black", label="CLBlast")
            ax.set_xscale("log", base=2)
            ax.set_ylim(bottom=0)
            ax.set_title("%s, d=%d %s" % (which.replace("_", "+"), dim, dtype), fontsize=9)
            ax.set_xlabel("sequence length N")
            ax.set_ylabel("% of fp32 FMA peak")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=6)
    fig.suptitle(title(doc, "effective GFLOP/s as %% of %.0f GFLOP/s" % doc["peak"]["fma_gflops"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def memory_plot(doc, path):
    pts = doc["points"]
    cs = combos(pts)
    fig, axes = plt.subplots(1, len(cs), figsize=(4.6 * len(cs), 3.9), squeeze=False)
    for ci, (dim, dtype) in enumerate(cs):
        ax = axes[0][ci]
        for pi, pat in enumerate(patterns(pts)):
            x, y = series(pts, "sparse", pat, dim, dtype, None, "memory_bytes")
            if x:
                ax.plot(x, y, "o-", color=COLORS[pi % len(COLORS)], label="%s fwd" % pat)
            x, y = series(pts, "sparse", pat, dim, dtype, None, "backward_memory_bytes")
            if x and pat == "dense":
                ax.plot(x, y, "o--", color="grey", label="fwd+bwd (any pattern)")
        if dtype == "f32":
            xs, ys = [], []
            for p in pts:
                if p["kind"] == "clblast" and p["dim"] == dim and "memory_bytes" in p:
                    xs.append(p["seq"])
                    ys.append(p["memory_bytes"] / 2**20)
            if xs:
                o = sorted(range(len(xs)), key=lambda i: xs[i])
                ax.plot([xs[i] for i in o], [ys[i] for i in o], "^:", color="black", label="CLBlast (needed)")
        gm = doc["device"].get("global_mem_bytes")
        if gm:
            ax.axhline(gm / 2**20, color="red", lw=0.8, label="device memory")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title("d=%d %s" % (dim, dtype), fontsize=9)
        ax.set_xlabel("sequence length N")
        ax.set_ylabel("device memory (MiB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(title(doc, "device memory"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    rc = 0
    for jpath in argv[1:]:
        try:
            with open(jpath) as f:
                doc = json.load(f)
            if doc.get("format") != "sparsecl-bench":
                raise ValueError("not a sparsecl-bench file")
        except (OSError, ValueError) as e:
            sys.stderr.write("plot_bench: %s: %s\n" % (jpath, e))
            rc = 2
            continue
        out = os.path.dirname(os.path.abspath(jpath))
        made = []
        for name, fn in (("time_forward.png", lambda p: time_plot(doc, "forward", p, True)),
                         ("time_forward_backward.png", lambda p: time_plot(doc, "forward_backward", p, False)),
                         ("fraction_of_peak.png", lambda p: peak_plot(doc, p)),
                         ("memory.png", lambda p: memory_plot(doc, p))):
            if fn(os.path.join(out, name)):
                made.append(name)
        print("plot_bench: %s: %s" % (out, ", ".join(made) if made else "nothing to plot"))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
