"""Compares fastann between benchmark runs saved with --save (e.g. before and after a change).

    python -m bench.compare before.json after.json [more.json ...]

For every measurement of fastann in the first file, prints its value in each file, the after/before ratio of
fastann's speed, and the ratio fastann / reference (numpy, torch) in each file: a change in fastann's own number
that the reference's ratio does not share is the change's; one both share is the machine. Rows a disturbed
measurement produced (foreign_load > 10%) are marked *.
"""

from __future__ import annotations

import json
import math
import sys

# Keys whose larger value is faster (else a time: smaller is faster).
_FASTER_IF_LARGER = ("gflops", "rows_per_s", "samples_per_s")
_TIME_KEYS = ("median_s", "median_us", "steady_s", "later_s")
_REFERENCES = ("numpy", "torch")


def _speed(key: str, value: float) -> float:
    return value if any(key.endswith(k) for k in _FASTER_IF_LARGER) else 1.0 / value


def _unnamed(metric: str) -> tuple:
    """A metric path without the name of the call ("latency/predict/seed/median_us" -> latency, seed/median_us)."""
    parts = metric.split("/")
    return (parts[0], *parts[2:]) if len(parts) >= 3 else tuple(parts)


def _rows(result: dict) -> dict:
    """{(row id, lib, metric path): (value, disturbed)} for the headline numbers of one saved run."""
    out = {}

    def walk(node, path, row_id, lib, disturbed):
        if isinstance(node, dict):
            d = disturbed or (isinstance(node.get("foreign_load"), float) and node["foreign_load"] > 0.10)
            for k, v in node.items():
                walk(v, (*path, k), row_id, lib, d)
        elif isinstance(node, (int, float)) and not isinstance(node, bool) and math.isfinite(node) and node > 0:
            key = path[-1]
            if key in _TIME_KEYS or key in _FASTER_IF_LARGER:
                out[(row_id, lib, "/".join(path))] = (float(node), disturbed)

    for row in result["results"]:
        if "lib" in row:  # train / predict: one row per library (and workload)
            row_id = str(row.get("workload", ""))
            walk({k: v for k, v in row.items() if k not in ("lib", "workload")}, (), row_id, row["lib"], False)
        else:  # gemm / batched: one row per shape, one entry per library
            row_id = " ".join(f"{k}={row[k]}" for k in ("m", "k", "n", "form", "batch") if k in row)
            for lib, v in row.items():
                if isinstance(v, dict):
                    walk(v, (), row_id, lib, False)
    return out


def main(paths: list[str]) -> int:
    if len(paths) < 2:
        print(__doc__)
        return 2
    runs = [_rows(json.load(open(p))) for p in paths]
    base = runs[0]
    print(f"fastann: {' -> '.join(paths)}")
    print("| row | metric | " + " | ".join(f"fastann #{i}" for i in range(len(runs))) + " | speed #last/#0 | "
          + " | ".join(f"vs {r} #{i}" for r in _REFERENCES for i in range(len(runs))) + " |")
    print("|---|---|" + "---:|" * (len(runs) + 1 + len(_REFERENCES) * len(runs)))
    for row_id, lib, metric in sorted(base):
        if lib != "fastann":
            continue
        vals = [r.get((row_id, lib, metric)) for r in runs]
        if any(v is None for v in vals):
            continue
        key = metric.split("/")[-1]
        cells = [f"{v:.4g}{'*' if d else ''}" for v, d in vals]
        change = _speed(key, vals[-1][0]) / _speed(key, vals[0][0])
        refs = []
        for ref in _REFERENCES:
            for r in runs:
                # The reference's number for the same row and measurement (its call has another name).
                match = [v for (rid, lb, m), (v, _) in r.items()
                         if rid == row_id and lb == ref and _unnamed(m) == _unnamed(metric)]
                refs.append(f"{_speed(key, r[(row_id, lib, metric)][0]) / _speed(key, match[0]):.2f}x"
                            if len(match) == 1 else "")
        print(f"| {row_id} | {metric} | " + " | ".join(cells) + f" | {change:.3f} | " + " | ".join(refs) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
