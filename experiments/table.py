"""Markdown table of the fitted exponents in a run's summary.json (the README's tables).

python -m experiments.table results/default/summary.json
"""

import json
import sys


def fmt(v, spec=".3f"):
    return "" if v is None else format(v, spec)


def table(summary: dict) -> str:
    lines = [
        "| manifold | d | D | method | exponent [95% CI] | predicted | n used "
        "| local slope lower / upper half |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in summary["fits"]:
        if f.get("exponent") is None:
            continue
        lo, hi = f["ci"]
        ls = f.get("local_slopes") or {}
        halves = " / ".join(fmt((ls.get(h) or {}).get("exponent")) for h in ("lower", "upper"))
        lines.append(
            f"| {f['manifold']} | {f['d']} | {f['D']} | {f['method']} | "
            f"{f['exponent']:.3f} [{lo:.3f}, {hi:.3f}] | {fmt(f['reference_exponent'])} | "
            f"{min(f['ns_used'])}-{max(f['ns_used'])} | {halves if ls else ''} |"
        )
    bias = [f for f in summary["fits"] if f.get("distance_to_manifold")]
    if bias:
        lines += [
            "",
            "| manifold | d | D | method | distance to manifold: exponent [95% CI] | predicted "
            "| n used | local slope lower / upper half |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for f in bias:
        b = f["distance_to_manifold"]
        lo, hi = b["ci"]
        halves = " / ".join(fmt(b["local_slopes"][h]["exponent"]) for h in ("lower", "upper"))
        lines.append(
            f"| {f['manifold']} | {f['d']} | {f['D']} | {f['method']} | "
            f"{b['exponent']:.3f} [{lo:.3f}, {hi:.3f}] | {fmt(f['predicted_exponent'])} | "
            f"{min(b['ns_used'])}-{max(b['ns_used'])} | {halves} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(json.loads(open(sys.argv[1]).read())))
