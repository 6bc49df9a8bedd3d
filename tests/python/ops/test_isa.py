"""CPU kernel-set selection: names come from the kernel registrations, FASTANN_ISA forces one, and an unknown or
unsupported name is an error (or, from the environment, a warning) that lists the registered ones.

The GEMM itself is checked on every kernel path by test_ops.py (the `isa` fixture) and tests/cpp/test_cpu_gemm.cpp."""

import os
import subprocess
import sys

import pytest

from fastann import _core

BUILT_IN = ["avx2", "avx512", "generic"]  # registered in csrc/backends/cpu/gemm/kernels/registry.cpp (sorted)


def _run(code, isa=None):
    env = {k: v for k, v in os.environ.items() if k != "FASTANN_ISA"}
    if isa is not None:
        env["FASTANN_ISA"] = isa
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=True)


PRINT_ISA = "from fastann import _core; print(_core.cpu_isa())"


def test_unknown_name_lists_the_registered_sets():
    with pytest.raises(ValueError, match=r"unknown ISA 'sse9'; valid ISAs: " + ", ".join(BUILT_IN) + "$"):
        _core.set_cpu_isa("sse9")
    with pytest.raises(ValueError, match="unknown ISA"):
        _core.cpu_isa_supported("sse9")


def test_default_is_the_best_supported_set():
    supported = [n for n in BUILT_IN if _core.cpu_isa_supported(n)]
    assert "generic" in supported
    best = next(n for n in ("avx512", "avx2", "generic") if n in supported)  # the registered priorities, high first
    assert _run(PRINT_ISA).stdout.strip() == best


@pytest.mark.parametrize("name", BUILT_IN)
def test_environment_forces_a_supported_set(name):
    if not _core.cpu_isa_supported(name):
        pytest.skip(f"ISA {name} not supported by this CPU / build")
    r = _run(PRINT_ISA, isa=name)
    assert r.stdout.strip() == name
    assert r.stderr == ""


def test_environment_unknown_name_warns_with_the_registered_sets():
    default = _run(PRINT_ISA).stdout.strip()
    r = _run(PRINT_ISA, isa="sse9")
    assert r.stdout.strip() == default
    assert "RuntimeWarning" in r.stderr
    expected = f"FASTANN_ISA='sse9' is not a CPU kernel set (registered: {', '.join(BUILT_IN)}); using {default}"
    assert expected in r.stderr


def test_environment_unsupported_set_warns_with_the_reason():
    unsupported = [n for n in BUILT_IN if not _core.cpu_isa_supported(n)]
    if not unsupported:
        pytest.skip("every registered kernel set is supported here")
    default = _run(PRINT_ISA).stdout.strip()
    r = _run(PRINT_ISA, isa=unsupported[0])
    assert r.stdout.strip() == default
    assert f"FASTANN_ISA='{unsupported[0]}' is not supported on this CPU or build" in r.stderr
    with pytest.raises(ValueError, match=f"ISA {unsupported[0]} is not supported .*; supported: "):
        _core.set_cpu_isa(unsupported[0])
