"""Replays every input in tests/fuzz/regressions/api (inputs that once crashed tests/fuzz/fuzz_api.py or raised an
undocumented exception) and the seed corpus through the fuzz target's own entry point."""

import importlib.util
import pathlib

import pytest

atheris = pytest.importorskip("atheris")

FUZZ = pathlib.Path(__file__).parents[2] / "fuzz"
INPUTS = sorted(p for d in ("corpus/api", "regressions/api") for p in (FUZZ / d).glob("*") if p.is_file())


def _target():
    spec = importlib.util.spec_from_file_location("fuzz_api", FUZZ / "fuzz_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", INPUTS, ids=[p.name for p in INPUTS])
def test_fuzz_input_raises_only_documented_errors(path):
    _target().test_one_input(path.read_bytes())  # raises on anything but the documented exception types
