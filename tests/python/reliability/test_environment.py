"""The environment fastann runs in: FASTANN_NUM_THREADS and FASTANN_ISA values it cannot use are reported once (a
RuntimeWarning naming the variable, its value and what is used instead), never half-read ("3x" is not 3) or silently
ignored; set_num_threads rejects what is not a thread count and caps what would only oversubscribe the CPUs; and a
worker thread the OS refuses to start (the process's thread limit) is a clear RuntimeError that leaves the model as
it was, after which fewer threads work.

Each case runs in a fresh interpreter: the variables are read once per process, and the thread pool only grows."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastann

CPUS = len(os.sched_getaffinity(0))
CAP = 4 * CPUS  # the most threads fastann runs on

_PROBE = textwrap.dedent("""
    import json, warnings
    import numpy as np
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import fastann
    from fastann.layers import Dense
    from fastann.models import Sequential
    m = Sequential([Dense(64, input_dim=16, activation="relu"), Dense(1)])
    m.compile(loss="mse", optimizer="sgd")
    x = np.linspace(-1, 1, 512 * 16, dtype=np.float32).reshape(512, 16)
    m.fit(x, x[:, :1], epochs=1, batch_size=512, verbose=0)
    print(json.dumps({"threads": fastann.get_num_threads(), "isa": fastann._core.cpu_isa(),
                      "finite": bool(np.isfinite(m.predict(x, verbose=0)).all()),
                      "warnings": [(w.category.__name__, str(w.message)) for w in caught]}))
""")


def _probe(**env):
    full = {k: v for k, v in os.environ.items() if k not in ("FASTANN_NUM_THREADS", "FASTANN_ISA")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=full, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fastann:" not in out.stderr, out.stderr  # reported as Python warnings, not written to stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["finite"]
    return result


@pytest.mark.parametrize("value", ["0", "-1", "abc", "3x", " 3", "3 ", "1.5", "0x4", "٣"])
def test_an_unusable_thread_count_warns_once_and_uses_the_cpus(value):
    r = _probe(FASTANN_NUM_THREADS=value)
    assert r["threads"] == CPUS
    assert len(r["warnings"]) == 1, r["warnings"]
    category, message = r["warnings"][0]
    assert category == "RuntimeWarning"
    assert "FASTANN_NUM_THREADS" in message and f"using {CPUS} threads" in message
    assert repr(value.encode())[2:-1] in message  # the value as given; other than printable ASCII as \\xNN


@pytest.mark.parametrize("value, threads", [("1", 1), ("+2", 2), (str(CAP), CAP), ("", CPUS)])
def test_a_usable_thread_count_is_used_without_a_warning(value, threads):
    r = _probe(FASTANN_NUM_THREADS=value)
    assert r["threads"] == threads
    assert r["warnings"] == []


@pytest.mark.parametrize("value", [str(CAP + 1), "100000", "99999999999999999999999"])
def test_a_thread_count_past_four_times_the_cpus_is_capped_with_a_warning(value):
    r = _probe(FASTANN_NUM_THREADS=value)
    assert r["threads"] == CAP
    assert len(r["warnings"]) == 1, r["warnings"]
    message = r["warnings"][0][1]
    assert f"FASTANN_NUM_THREADS={value}" in message and f"using {CAP} threads" in message


def test_an_unknown_or_unsupported_isa_warns_once_and_uses_the_best_supported_one():
    best = _probe()["isa"]
    r = _probe(FASTANN_ISA="no-such-isa")
    assert r["isa"] == best
    assert len(r["warnings"]) == 1 and "FASTANN_ISA='no-such-isa'" in r["warnings"][0][1], r["warnings"]
    unsupported = [name for name in ("generic", "avx2", "avx512") if not fastann._core.cpu_isa_supported(name)]
    if unsupported:
        r = _probe(FASTANN_ISA=unsupported[0])
        assert r["isa"] == best and "not supported" in r["warnings"][0][1]


@pytest.fixture
def restore_threads():
    before = fastann.get_num_threads()
    yield before
    fastann.set_num_threads(before)


@pytest.mark.parametrize("value, error", [
    (0, ValueError), (-1, ValueError), (2**31, ValueError), (2**64, ValueError), (-2**63 - 1, ValueError),
    (True, TypeError), (2.0, TypeError), (float("nan"), TypeError), ("2", TypeError), (None, TypeError),
    (1j, TypeError), (np.float32(2), TypeError), ([2], TypeError), (object(), TypeError),
])
def test_set_num_threads_rejects_what_is_not_a_thread_count(restore_threads, value, error):
    with pytest.raises(error, match="set_num_threads"):
        fastann.set_num_threads(value)
    assert fastann.get_num_threads() == restore_threads


def test_set_num_threads_takes_numpy_integers_and_caps_oversubscription(restore_threads):
    fastann.set_num_threads(np.int64(1))
    assert fastann.get_num_threads() == 1
    fastann.set_num_threads(np.uint8(CAP))
    assert fastann.get_num_threads() == CAP
    with pytest.warns(RuntimeWarning, match=rf"set_num_threads\({CAP + 1}\) is more than 4x .* using {CAP} threads"):
        fastann.set_num_threads(CAP + 1)
    assert fastann.get_num_threads() == CAP


_THREAD_LIMIT = textwrap.dedent("""
    import json, os, sys, tempfile, time
    import numpy as np
    import fastann
    from fastann.layers import Dense
    from fastann.models import Sequential
    call, threads, started = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    m = Sequential([Dense(256, input_dim=64, activation="relu"), Dense(10, activation="softmax")])
    m.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2048, 64)).astype(np.float32)
    y = rng.integers(0, 10, 2048)
    m.fit(x[:64], y[:64], epochs=1, batch_size=64, verbose=0)  # one thread: optimizer slots exist, no workers
    fastann.set_num_threads(threads)
    path = os.path.join(tempfile.mkdtemp(), "m.fastann")

    def state():  # the model file: architecture, weights, compile configuration and optimizer state, bitwise
        m.save(path)
        with open(path, "rb") as f:
            return f.read(), m.history

    before = state()
    tasks = len(os.listdir("/proc/self/task"))
    run = {"fit": lambda: m.fit(x, y, epochs=2, batch_size=2048, verbose=0),
           "evaluate": lambda: m.evaluate(x, y, batch_size=2048, verbose=0),
           "predict": lambda: m.predict(x, batch_size=2048, verbose=0)}[call]
    fastann._core._fail_thread_creation_after(started)
    try:
        run()
        error = None
    except Exception as e:
        error = [type(e).__name__, isinstance(e, RuntimeError), str(e)]
    after = state()
    unchanged = after[0] == before[0] and after[1] is before[1]
    def settled_threads(limit):
        # A joined thread can linger in /proc for a moment after join returns (the kernel reaps it just after waking
        # the joiner): wait up to 2 s for the count to come down to `limit`.
        deadline = time.monotonic() + 2
        while len(os.listdir("/proc/self/task")) > limit and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(os.listdir("/proc/self/task"))

    # The pool keeps the workers of the call's earlier, successful parallel sections (they are reused); the ones
    # started for the failed section are joined, so failing again and again never adds a thread.
    first = settled_threads(tasks)
    repeated = []
    for _ in range(5):
        fastann._core._fail_thread_creation_after(0)
        try:
            run()
            repeated.append(False)
        except RuntimeError:
            repeated.append(True)
    new_tasks = [first - tasks, settled_threads(first) - tasks]
    fastann._core._fail_thread_creation_after(-1)
    fastann.set_num_threads(started + 1)  # what the message asks for: the workers that did start
    run()
    fastann.set_num_threads(threads)  # the limit is gone: the pool grows to the full count
    run()
    print(json.dumps({"error": error, "unchanged": unchanged, "new_tasks": new_tasks, "repeated": repeated}))
""")


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("started", [0, 2])
def test_a_worker_thread_the_os_refuses_is_a_runtime_error_and_the_model_is_unchanged(call, started):
    threads = max(4, CPUS)
    out = subprocess.run([sys.executable, "-c", _THREAD_LIMIT, call, str(threads), str(started)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["error"] is not None, "the armed thread-creation failure was never reached"
    name, is_runtime_error, message = r["error"]
    assert is_runtime_error, name
    assert f"could not start CPU worker thread {started + 2} of" in message
    assert "Resource temporarily unavailable" in message and f"n <= {started + 1}" in message
    assert r["unchanged"]
    assert r["repeated"] == [True] * 5
    assert r["new_tasks"][0] <= started and r["new_tasks"][1] == r["new_tasks"][0]  # no thread leaks


_ADDRESS_SPACE_LIMIT = textwrap.dedent("""
    import json, os, resource, time
    import numpy as np
    import fastann
    from fastann.layers import Dense
    from fastann.models import Sequential
    m = Sequential([Dense(256, input_dim=64, activation="relu"), Dense(10)])
    m.compile(loss="mse", optimizer="sgd")
    x = np.ones((4096, 64), np.float32)
    fastann.set_num_threads(1)
    expected = m.predict(x, verbose=0)
    # 12 MiB of address space to spare: room for one more 8 MiB thread stack, not for seven.
    vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + (12 << 20), resource.RLIM_INFINITY))
    fastann.set_num_threads(8)
    tasks = len(os.listdir("/proc/self/task"))
    try:
        m.predict(x, verbose=0)
        error = None
    except Exception as e:
        error = [isinstance(e, RuntimeError), str(e)]
    for _ in range(200):  # a joined thread can linger in /proc for a moment after join returns
        after = len(os.listdir("/proc/self/task"))
        if after <= tasks:
            break
        time.sleep(0.01)
    fastann.set_num_threads(1)
    print(json.dumps({"error": error, "leaked": after - tasks,
                      "same": bool(np.array_equal(m.predict(x, verbose=0), expected))}))
""")


def test_a_real_address_space_limit_refusing_threads_is_a_runtime_error_without_leaks():
    # The OS itself refuses the thread stacks here (RLIMIT_AS; root is not exempt, unlike RLIMIT_NPROC).
    out = subprocess.run([sys.executable, "-c", _ADDRESS_SPACE_LIMIT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["error"] is not None, "the limit let every thread start: nothing was tested"
    assert r["error"][0] and "could not start CPU worker thread" in r["error"][1], r["error"]
    assert r["leaked"] == 0 and r["same"]
