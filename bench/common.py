"""Shared helpers for the benchmark suites: thread setup, timing, environment facts, subprocess workers, tables.

Timing rules (all suites): a warm-up, then `repeats` timed repeats with time.perf_counter; a repeat runs the call
`inner` times back to back, with `inner` chosen so one repeat lasts at least `min_time` seconds (small calls are
otherwise below the clock's resolution); the per-call time of each repeat is kept and the median and the minimum
are reported. The garbage collector is off while timing.
"""

from __future__ import annotations

import datetime
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_THREADS = 2
RESULT_MARK = "@@BENCH_RESULT@@ "
# OpenBLAS worker threads keep spinning for ~2^28 cycles (~0.1 s) after a call and PyTorch's OpenMP threads spin
# briefly too; on a 2-core machine that steals a core from whichever library is timed next. Sleeping this long
# before each library's measurement lets the previous library's threads go to sleep.
SETTLE_S = 0.25

_limiter = None  # the threadpoolctl limiter stays alive for the whole process

# Run-wide settings (__main__ fills them from the command line).
CONFIG = {
    "tries": 3,          # redo a measurement disturbed by other processes up to this many times
    "wait_quiet": 20.0,  # seconds to wait for a quiet machine before a suite / a training worker
}


# ---------------------------------------------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------------------------------------------
def thread_env(threads: int) -> dict:
    """The environment for a worker subprocess: every threading knob set to `threads` (TF inter-op to 1)."""
    env = dict(os.environ)
    n = str(threads)
    env.update({
        "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "FASTANN_NUM_THREADS": n,
        "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
        "KERAS_BACKEND": "tensorflow", "PYTHONUNBUFFERED": "1",
    })
    return env


def set_threads(threads: int, libs=("fastann", "numpy", "torch")) -> None:
    """Sets the thread count of each listed library in this process (call before timing anything)."""
    global _limiter
    if "torch" in libs and has_module("torch"):
        import torch
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set (or inter-op work already ran): harmless, eager CPU ops do not use it
            pass
    if "fastann" in libs:
        import fastann
        fastann.set_num_threads(threads)
    if "numpy" in libs:
        import numpy  # noqa: F401  (load OpenBLAS before threadpoolctl looks for it)
        from threadpoolctl import threadpool_limits
        _limiter = threadpool_limits(limits=threads)  # OpenBLAS (NumPy), and MKL / OpenMP if torch is loaded


def setup_keras(threads: int):
    """Imports TensorFlow, configures its thread pools before any op runs, then imports Keras 3. Returns (tf, keras)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    return tf, keras


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def keras_available() -> bool:
    return has_module("keras") and has_module("tensorflow")


def settle(seconds: float = SETTLE_S) -> None:
    time.sleep(seconds)


# ---------------------------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------------------------
def _cpu_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs, /proc/stat), or nan off Linux."""
    try:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    return (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


class LoadProbe:
    """Measures how much CPU *other* processes used while this one was timing something: (machine busy CPU time
    - this process's CPU time) / (wall time x CPUs). 0 on a quiet machine; 0.5 means one of two cores was taken."""

    def __init__(self):
        self.wall, self.busy, self.own = time.perf_counter(), _cpu_busy_s(), time.process_time()

    def foreign(self) -> float:
        wall = time.perf_counter() - self.wall
        busy = _cpu_busy_s() - self.busy
        own = time.process_time() - self.own
        if wall < 0.2 or math.isnan(busy):  # /proc/stat counts in 10 ms ticks: too coarse for shorter windows
            return float("nan")
        return max(0.0, min(1.0, (busy - own) / (wall * (os.cpu_count() or 1))))


FOREIGN_LIMIT = 0.10  # a measurement during which other processes used more than this share of the CPU is flagged


def wait_for_quiet(max_wait: float, window: float = 1.0, limit: float = FOREIGN_LIMIT, verbose: bool = True) -> float:
    """Waits (up to max_wait s) until other processes use less than `limit` of the CPU over a `window`. Returns the
    last observed foreign load."""
    deadline = time.perf_counter() + max_wait
    said = False
    while True:
        probe = LoadProbe()
        time.sleep(window)
        load = probe.foreign()
        if not load > limit or time.perf_counter() >= deadline:
            if said and verbose:
                log(f"  ... machine load from other processes now {load:.0%}" +
                    ("" if not load > limit else " (gave up waiting)"))
            return load
        if not said and verbose:
            log(f"  other processes are using {load:.0%} of the CPU; waiting up to {max_wait:.0f} s for quiet")
            said = True


@dataclass
class Timing:
    median: float  # seconds per call
    min: float
    repeats: int
    inner: int
    times: list = field(default_factory=list)
    foreign: float = float("nan")  # share of the CPU other processes used during the measurement
    tries: int = 1

    def as_dict(self) -> dict:
        return {"median_s": self.median, "min_s": self.min, "repeats": self.repeats, "inner": self.inner,
                "foreign_load": self.foreign, "tries": self.tries}


def measure(fn, repeats: int = 5, min_time: float = 0.05, warmup: float = 0.05, tries: int = 1) -> Timing:
    """Times fn() (no arguments): warm-up for at least `warmup` seconds and 2 calls, then `repeats` repeats.

    With tries > 1 a measurement disturbed by other processes (foreign load above FOREIGN_LIMIT) is redone, up to
    `tries` times; the least disturbed one is returned."""
    best = None
    for attempt in range(1, tries + 1):
        t = _measure_once(fn, repeats, min_time, warmup)
        t.tries = attempt
        if best is None or t.foreign < best.foreign:
            best = t
        if not t.foreign > FOREIGN_LIMIT:
            break
        if attempt < tries:
            wait_for_quiet(3.0, window=0.25, verbose=False)
    best.tries = attempt
    return best


def _measure_once(fn, repeats: int, min_time: float, warmup: float) -> Timing:
    probe = LoadProbe()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        calls = 0
        start = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if calls >= 2 and elapsed >= warmup:
                break
        per_call = elapsed / calls
        inner = 1 if per_call >= min_time else max(1, math.ceil(min_time / max(per_call, 1e-9)))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Timing(statistics.median(times), min(times), repeats, inner, times, probe.foreign())


def time_each(fn, calls: int, warmup_calls: int = 20) -> dict:
    """Times `calls` single calls one by one (latency): median, min, p90 in microseconds."""
    for _ in range(warmup_calls):
        fn()
    probe = LoadProbe()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        ts = []
        for _ in range(calls):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    ts.sort()
    us = 1e6
    return {"median_us": statistics.median(ts) * us, "min_us": ts[0] * us,
            "p90_us": ts[min(len(ts) - 1, int(0.9 * len(ts)))] * us, "calls": calls, "foreign_load": probe.foreign()}


# ---------------------------------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------------------------------
def rss_mib() -> float:
    """Current resident set size of this process (MiB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Resets this process's peak RSS (VmHWM, which ru_maxrss reports) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------------------------------------------
def _version(dist: str):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info() -> list:
    """threadpoolctl's view of the loaded BLAS / OpenMP libraries (NumPy's OpenBLAS first)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    out = [{k: v for k, v in info.items() if k in keep} | {"file": os.path.basename(info.get("filepath", ""))}
           for info in threadpool_info()]
    out.sort(key=lambda d: "numpy" not in d["file"] and "openblas" not in d["file"])
    return out


def env_info(threads: int) -> dict:
    """Facts that make a table reproducible: date, CPU, versions, BLAS kernels, thread count, relevant env vars."""
    import numpy
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "fastann": _version("fastann"),
        "numpy": numpy.__version__,
        "torch": _version("torch"),
        "tensorflow": _version("tensorflow") or _version("tensorflow-cpu"),
        "keras": _version("keras"),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "FASTANN_ISA",
                                               "OMP_NUM_THREADS", "FASTANN_NUM_THREADS")},
    }
    try:
        import fastann
        info["fastann"] = getattr(fastann, "__version__", info["fastann"])
        info["fastann_isa"] = fastann._core.cpu_isa()
    except Exception as e:  # noqa: BLE001  (a half-rebuilt extension must not kill the metadata)
        info["fastann_isa"] = f"unknown ({e.__class__.__name__})"
    if has_module("torch"):
        import torch
        info["torch_blas"] = "mkl" if torch.backends.mkl.is_available() else "other"
        try:
            info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        except Exception:  # noqa: BLE001
            pass
    info["blas"] = blas_info()
    return info


def warn_env() -> None:
    """Warns (stderr) about settings that distort the numbers."""
    bad = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.get(k)]
    if bad:
        log(f"warning: {', '.join(bad)} set in the environment: these slow current NumPy/OpenBLAS; run as "
            f"`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench ...`")
    load = os.getloadavg()[0]
    if load > 0.5:
        log(f"warning: 1-minute load average is {load:.2f}: other work on the machine will disturb the numbers")


def meta_lines(meta: dict) -> list:
    """A few human-readable lines describing the environment, for the top of the printed tables."""
    numpy_blas = next((b for b in meta.get("blas", []) if b.get("internal_api") == "openblas"), None)
    nb = (f"internal_api={numpy_blas['internal_api']} architecture={numpy_blas.get('architecture')} "
          f"version={numpy_blas.get('version')} threading_layer={numpy_blas.get('threading_layer')}"
          ) if numpy_blas else "unknown"
    lines = [
        f"date {meta['date']} | CPU {meta['cpu']} ({meta['cores']} cores) | threads {meta['threads']} "
        f"| load avg at start {meta['loadavg_start'][0]}"
        + (f" | other processes' CPU share at start {meta['foreign_load_at_start']:.0%}"
           if meta.get("foreign_load_at_start") is not None else ""),
        f"fastann {meta['fastann']} (ISA {meta.get('fastann_isa')}) | numpy {meta['numpy']} (BLAS: {nb}) "
        f"| torch {meta['torch']} (BLAS {meta.get('torch_blas', 'n/a')}, {meta.get('torch_cpu_capability', '?')}) "
        f"| tensorflow {meta['tensorflow'] or 'n/a'} | keras {meta['keras'] or 'n/a'}",
    ]
    if meta.get("gpu"):
        lines.append(f"GPU {meta['gpu']}")
    env = {k: v for k, v in meta["env"].items() if v or k.startswith("OPENBLAS")}
    lines.append("env: " + ", ".join(f"{k}={v if v else '(unset)'}" for k, v in env.items()))
    return lines


# ---------------------------------------------------------------------------------------------------------------
# worker subprocesses (train / predict run each library in a fresh interpreter)
# ---------------------------------------------------------------------------------------------------------------
def run_worker(module: str, payload: dict, threads: int, timeout: float = 900) -> dict:
    """Runs `python -m <module> --worker '<json payload>'` in a fresh interpreter; returns its JSON result.

    On failure returns {"error": "..."} (the suite shows the library's columns as n/a)."""
    cmd = [sys.executable, "-m", module, "--worker", json.dumps(payload)]
    try:
        p = subprocess.run(cmd, cwd=REPO_ROOT, env=thread_env(threads), capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"worker exited with {p.returncode}: {tail}"}


def worker_main(fn) -> None:
    """Entry point of a worker: parses `--worker '<json>'`, runs fn(payload) and prints the result line."""
    payload = json.loads(sys.argv[sys.argv.index("--worker") + 1])
    try:
        result = fn(payload)
    except Exception as e:  # noqa: BLE001  (reported to the parent as the library's error)
        import traceback
        traceback.print_exc()
        result = {"error": f"{e.__class__.__name__}: {e}"}
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fmt(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, str):
        return x
    return f"{x:,.{digits}f}"


def fmt_s(x) -> str:
    """Seconds with about three significant digits (0.00412, 0.412, 4.12, 41.2)."""
    if x is None:
        return "n/a"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    if x >= 0.1:
        return f"{x:.3f}"
    return f"{x:.4f}" if x >= 0.01 else f"{x:.5f}"


def flag(d) -> str:
    """'*' when the measurement in dict d (with 'foreign_load') was disturbed by other processes."""
    load = d.get("foreign_load") if isinstance(d, dict) else d
    return "*" if load is not None and load > FOREIGN_LIMIT else ""


FLAG_NOTE = (f"* = other processes used more than {FOREIGN_LIMIT:.0%} of the CPU during that measurement (after "
             f"retries): treat it as unreliable.")


def fmt_ratio(ours, ref) -> str:
    """ours / ref as 'N.NNx' (both are speeds: >1 means fastann is faster)."""
    if ours is None or ref is None or not ref or not ours:
        return "n/a"
    return f"{ours / ref:.2f}x"


def markdown_table(headers: list, rows: list) -> str:
    """A Markdown table (pipes) whose columns are padded so it also reads well in a terminal."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r, first=False):
        out = []
        for i, c in enumerate(r):
            out.append(c.ljust(widths[i]) if i == 0 or first else c.rjust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(cells[0], True), sep] + [line(r) for r in cells[1:]])


def print_report(title: str, meta: dict, tables: list, notes: list = ()) -> None:
    """tables: list of (subtitle, headers, rows)."""
    print(f"## {title}\n")
    for line in meta_lines(meta):
        print(line + "  ")
    print()
    for subtitle, headers, rows in tables:
        if subtitle:
            print(f"### {subtitle}\n")
        print(markdown_table(headers, rows))
        print()
    for n in notes:
        print(f"- {n}")
    if notes:
        print()


def emit_json(obj) -> None:
    print(json.dumps(obj, indent=1, default=float))


def time_gflops(fns: dict, libs, flop: float, *, settle_s: float, repeats: int, min_time: float, warmup: int,
                quick: bool) -> dict:
    """Times each library's callable in `fns` (in the order of `libs`, settling in between) and returns
    {lib: timing dict + gflops (median) + gflops_best (min)} for the libraries present."""
    out = {}
    for lib in libs:
        if lib not in fns:
            continue
        settle(settle_s)
        t = measure(fns[lib], repeats=repeats, min_time=min_time, warmup=warmup, tries=1 if quick else CONFIG["tries"])
        out[lib] = t.as_dict() | {"gflops": flop / t.median / 1e9, "gflops_best": flop / t.min / 1e9}
    return out


def gflops_cells(row: dict, libs) -> dict:
    """Table cells "median (best)" GFLOPS per library, "n/a" where a library was not measured."""
    return {lib: (f"{row[lib]['gflops']:.1f} ({row[lib]['gflops_best']:.1f}){flag(row[lib])}" if lib in row
                  else "n/a") for lib in libs}
