"""The C++ package that comes with the Python one: python -m fastann prints where the headers, libraries and CMake
config are, and a C++ app built against them (examples/cpp/predict) predicts what Python's model.predict does."""

import os
import subprocess
import sys

import pytest

import fastann


def _run_main(*args):
    return subprocess.run([sys.executable, "-m", "fastann", *args], capture_output=True, text=True, check=False)


def _cpp_package_or_skip():
    try:
        return fastann.get_cmake_dir()
    except FileNotFoundError as e:
        pytest.skip(f"this fastann installation has no C++ package: {e}")


def test_main_without_arguments_prints_help():
    r = _run_main()
    assert r.returncode == 0
    assert "usage: python -m fastann" in r.stdout and "--cmake-dir" in r.stdout


def test_main_version():
    r = _run_main("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == fastann.__version__


def test_main_rejects_unknown_option():
    r = _run_main("--no-such-option")
    assert r.returncode == 2
    assert "unrecognized arguments" in r.stderr


def test_main_paths_point_at_the_installed_package():
    cmake_dir = _cpp_package_or_skip()
    r = _run_main("--includes", "--libdir", "--cmake-dir")
    assert r.returncode == 0, r.stderr
    includes, libdir, cmake = r.stdout.splitlines()
    assert includes == "-I" + fastann.get_include()
    assert os.path.isfile(os.path.join(includes[2:], "fastann", "fastann.hpp"))
    assert os.path.isfile(os.path.join(includes[2:], "fastann", "io.hpp"))
    assert libdir == fastann.get_library_dir()
    assert os.path.isfile(os.path.join(libdir, "libfastann.a"))
    assert cmake == cmake_dir
    for name in ("fastannConfig.cmake", "fastannConfigVersion.cmake", "fastannTargets.cmake"):
        assert os.path.isfile(os.path.join(cmake, name))
    with open(os.path.join(cmake, "fastannConfigVersion.cmake")) as f:
        assert f'set(PACKAGE_VERSION "{fastann.__version__}")' in f.read()
