"""python -m bench <gemm|batched|train|predict|distributed|gpu|all> [--json] [--threads N] [--quick] [--no-keras]

Run from the repository root. For NumPy numbers that reflect current OpenBLAS, unset the old-OpenBLAS tuning
variables this machine sets:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench gemm
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

from . import common

SUITES = ("gemm", "batched", "train", "predict", "distributed", "gpu")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", choices=SUITES + ("all",), help="which benchmark suite to run")
    ap.add_argument("--json", action="store_true", help="print machine-readable results (JSON) instead of tables")
    ap.add_argument("--threads", type=int, default=common.DEFAULT_THREADS,
                    help=f"threads for every library (default {common.DEFAULT_THREADS})")
    ap.add_argument("--quick", action="store_true", help="fewer repeats: a smoke test, not a measurement")
    ap.add_argument("--no-keras", action="store_true", help="skip Keras/TensorFlow (train, predict)")
    ap.add_argument("--save", metavar="FILE", help="also write the JSON results to FILE")
    ap.add_argument("--load", metavar="FILE", help="measure nothing: print the tables of results saved by --save")
    ap.add_argument("--tries", type=int, default=common.CONFIG["tries"],
                    help="redo a gemm/batched measurement disturbed by other processes up to this many times "
                         f"(default {common.CONFIG['tries']})")
    ap.add_argument("--wait-quiet", type=float, default=common.CONFIG["wait_quiet"], metavar="S",
                    help="wait up to S seconds for other processes to go quiet before a suite and before each "
                         f"train/predict worker (default {common.CONFIG['wait_quiet']:.0f}; 0: do not wait)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be at least 1")
    common.CONFIG["tries"] = max(1, args.tries)
    common.CONFIG["wait_quiet"] = max(0.0, args.wait_quiet)

    if args.load:
        with open(args.load) as f:
            saved = json.load(f)
        for res in saved if isinstance(saved, list) else [saved]:
            if args.suite in ("all", res["suite"]):
                mod = importlib.import_module(f"bench.{res['suite']}")
                common.print_report(f"bench {res['suite']}", res["meta"], mod.tables(res), getattr(mod, "NOTES", ()))
        return 0

    common.warn_env()
    suites = SUITES if args.suite == "all" else (args.suite,)
    out = []
    for name in suites:
        mod = importlib.import_module(f"bench.{name}")
        common.log(f"[bench] {name}: threads={args.threads}{' (quick)' if args.quick else ''}")
        t0 = time.perf_counter()
        if name in ("train", "predict"):
            res = mod.run(args.threads, args.quick, keras=not args.no_keras)
        else:
            res = mod.run(args.threads, args.quick)
        res["meta"]["suite_wall_s"] = round(time.perf_counter() - t0, 1)
        res["meta"]["quick"] = args.quick
        common.log(f"[bench] {name}: done in {res['meta']['suite_wall_s']:.0f} s")
        if not args.json:
            common.print_report(f"bench {name}", res["meta"], mod.tables(res), getattr(mod, "NOTES", ()))
            sys.stdout.flush()
        out.append(res)
    result = out[0] if len(out) == 1 else out
    if args.save:
        with open(args.save, "w") as f:
            json.dump(result, f, indent=1, default=float)
    if args.json:
        common.emit_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
