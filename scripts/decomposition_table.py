#!/usr/bin/env python3
"""Markdown table of `sparsecl bench --json` lines (scripts/gpu-pattern-session's pattern-bench.jsonl):
decomposed vs plain block LUT vs dense fused, per pattern and dtype. Usage: decomposition_table.py FILE.jsonl..."""
import json
import sys


def short(p):
    return p if len(p) <= 40 else p[:p.index(",") + 1] + " ... 64 globals)" if p.startswith("longformer") else p[:37] + "..."


def main():
    print("| device | pattern | block | dtype | components | computed / allowed | decomposed ms | block LUT ms | "
          "speed-up | dense ms | effective TFLOP/s (allowed) | dense TFLOP/s | effective / dense | bwd decomposed ms | "
          "bwd block LUT ms | bwd speed-up |")
    print("|" + "---|" * 17)
    for path in sys.argv[1:]:
        for line in open(path):
            if not line.strip():
                continue
            d = json.loads(line)
            t = lambda k: d.get(k, {}).get("median_ms")
            f = lambda x, p=2: "—" if x is None else ("%.*f" % (p, x))
            bw = d.get("backward", {})
            print("| %s | `%s` | %d | %s | %d | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                d["device"], short(d["pattern"]), d["block"], d["dtype"], d["components"],
                d["computed_pairs"] / d["allowed_pairs"], f(t("sparse")), f(t("sparse_block_lut")),
                f(d.get("decomposed_speedup_over_block_lut"), 1), f(t("dense_fused")),
                f(d["sparse"].get("gflops", 0) / 1e3, 3), f(d["dense_fused"].get("gflops", 0) / 1e3, 2),
                f(d.get("effective_rate_over_dense"), 2), f(bw.get("median_ms")), f(t("block_lut_backward")),
                f(d.get("decomposed_backward_speedup_over_block_lut"), 1)))


if __name__ == "__main__":
    main()
