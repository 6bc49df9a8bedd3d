"""python/fastann/_core.pyi is what tools/gen_stubs.py (pybind11-stubgen) makes of the built extension: not stale.

The stub depends on the pybind11 the extension was compiled with and on the pybind11-stubgen version (both named
in its header): where either differs from the committed stub's, there is nothing to compare and the test skips.
"""

import ast
import difflib
import importlib.metadata
import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("pybind11_stubgen")

from fastann import _core  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]
STUB = ROOT / "python" / "fastann" / "_core.pyi"
REGENERATE = "rebuild fastann, run `python tools/gen_stubs.py` and commit python/fastann/_core.pyi"


def _versions(stub: str) -> tuple[str, str]:
    m = re.search(r"pybind11-stubgen (\S+) \(pybind11 (\S+)\)", stub.splitlines()[0])
    assert m, f"{STUB} has no generated-file header: {REGENERATE}"
    return m.group(1), m.group(2)


def test_committed_stub_is_the_generated_one(tmp_path):
    committed = STUB.read_text()
    want = _versions(committed)
    have = (importlib.metadata.version("pybind11-stubgen"), _core._PYBIND11_VERSION)
    if have != want:
        pytest.skip(f"the committed stub is pybind11-stubgen {want[0]}'s for pybind11 {want[1]}; here: "
                    f"pybind11-stubgen {have[0]}, fastann._core built with pybind11 {have[1]}")
    out = tmp_path / "_core.pyi"
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_stubs.py"), "-o", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, f"tools/gen_stubs.py failed:\n{run.stdout}{run.stderr}"
    generated = out.read_text()
    if generated != committed:
        diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                            "committed _core.pyi", "generated", n=1))
        pytest.fail(f"python/fastann/_core.pyi is stale (the bindings changed): {REGENERATE}.\n{diff[:4000]}")


def test_stub_is_valid_python_naming_the_module():
    tree = ast.parse(STUB.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    public = {n for n in dir(_core) if not n.startswith("__")}
    assert public - {"_PYBIND11_VERSION", "MODEL_FORMAT_VERSION", "CUDA_BUILT", "CUDA_BUILD_INFO"} <= names
    cuda = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "cuda")
    methods = {n.name for n in cuda.body if isinstance(n, ast.FunctionDef)}
    assert {n for n in dir(_core.cuda) if not n.startswith("__")} == methods
