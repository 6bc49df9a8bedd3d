"""The C++ package that comes with the Python one: python -m fastann prints where the headers, libraries and CMake
config are, and a C++ app built against them (examples/cpp/predict) predicts what Python's model.predict does."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastann
from fastann.layers import Dense
from fastann.models import Sequential


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


# --- examples/cpp/predict built against this installation's CMake package ------------------------------------------

ROOT = Path(__file__).resolve().parents[3]


def _cxx_compiler():
    cxx = os.environ.get("CXX")
    if cxx:
        return shutil.which(cxx.split()[0])
    return next((p for p in map(shutil.which, ("c++", "g++", "clang++")) if p), None)


def _build_example(name, tmp_path_factory):
    """examples/cpp/<name> configured with -Dfastann_DIR=$(python -m fastann --cmake-dir) and built (one .cpp file
    linked against the installed libfastann); returns the executable."""
    src = ROOT / "examples" / "cpp" / name
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip(f"cmake is not installed (needed to build examples/cpp/{name})")
    if _cxx_compiler() is None:
        pytest.skip(f"no C++ compiler (c++, g++, clang++ or $CXX) to build examples/cpp/{name}")
    if not (src / "CMakeLists.txt").is_file():
        pytest.skip(f"{src} is not here (tests run outside a source checkout)")
    _cpp_package_or_skip()
    r = _run_main("--cmake-dir")
    assert r.returncode == 0, r.stderr
    cmake_dir = r.stdout.strip()

    build = tmp_path_factory.mktemp(f"{name}-build")
    for cmd in ([cmake, "-S", str(src), "-B", str(build), f"-Dfastann_DIR={cmake_dir}",
                 "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON"],
                [cmake, "--build", str(build), "--config", "Release"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"
    with open(build / "CMakeCache.txt") as f:  # the package found is this installation's
        assert re.search(r"^fastann_DIR:\w+=" + re.escape(cmake_dir) + "$", f.read(), re.MULTILINE)
    exe = next((p for p in (build / name, build / "Release" / f"{name}.exe", build / f"{name}.exe")
                if p.is_file()), None)
    assert exe is not None, f"no {name} executable in {build}"
    return exe


@pytest.fixture(scope="module")
def predict_exe(tmp_path_factory):
    return _build_example("predict", tmp_path_factory)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A trained model saved from Python, and rows to predict."""
    fastann.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x_train = rng.standard_normal((300, 7)).astype(np.float32)
    labels = (x_train[:, 0] + x_train[:, 1] * x_train[:, 2] > 0).astype(np.int64) + (x_train[:, 3] > 1)
    model = Sequential()
    model.add(Dense(16, activation="relu", input_dim=7))
    model.add(Dense(8, activation="tanh"))
    model.add(Dense(3, activation="softmax"))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, labels, epochs=5, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("predict-model")
    path = folder / "model.fastann"
    model.save(str(path))
    # Rows: an odd count (several GEMM row blocks), a few exact values and tiny/huge magnitudes.
    x = rng.standard_normal((257, 7)).astype(np.float32)
    x[0] = 0.0
    x[1] = [1e-30, -1e-30, 3e4, -3e4, 1.0, -1.0, 0.5]
    return model, path, x


def _write_rows(folder, x):
    csv = folder / "rows.csv"
    np.savetxt(csv, x, fmt="%.9g", delimiter=",")  # 9 significant digits: the exact float32 values
    assert np.array_equal(np.loadtxt(csv, delimiter=",", dtype=np.float32, ndmin=2), x)
    binary = folder / "rows.bin"
    x.astype("<f4").tofile(binary)
    return csv, binary


def _run_predict(exe, model_path, rows, isa, threads):
    env = dict(os.environ, FASTANN_ISA=isa, FASTANN_NUM_THREADS=str(threads))
    r = subprocess.run([str(exe), str(model_path), str(rows)], capture_output=True, text=True, env=env, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return np.array([[np.float32(v) for v in line.split(",")] for line in r.stdout.splitlines()], dtype=np.float32)


def test_cpp_predict_equals_python_predict_bitwise(predict_exe, saved_model, tmp_path):
    model, path, x = saved_model
    expected = model.predict(x, verbose=0)
    # The C++ process uses this process's kernel path and thread count: the same arithmetic, bit for bit.
    isa, threads = fastann._core.cpu_isa(), fastann.get_num_threads()
    csv, binary = _write_rows(tmp_path, x)
    for rows in (csv, binary):
        got = _run_predict(predict_exe, path, rows, isa, threads)
        assert got.shape == expected.shape == (257, 3)
        np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32), err_msg=f"{rows.name}")
    # A model loaded back in Python predicts the same too.
    loaded = fastann.models.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0).view(np.uint32), expected.view(np.uint32))


def test_cpp_predict_on_other_kernels_and_threads_is_within_1e6(predict_exe, saved_model, tmp_path):
    model, path, x = saved_model
    expected = model.predict(x, verbose=0)
    current = fastann._core.cpu_isa()
    others = [isa for isa in ("generic", "avx2", "avx512") if isa != current and fastann._core.cpu_isa_supported(isa)]
    threads = 1 if fastann.get_num_threads() != 1 else 3
    csv, _ = _write_rows(tmp_path, x)
    for isa in others + [current]:
        got = _run_predict(predict_exe, path, csv, isa, threads)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0, err_msg=f"FASTANN_ISA={isa} threads={threads}")


def test_cpp_predict_reports_bad_input(predict_exe, saved_model, tmp_path):
    _, path, _ = saved_model
    bad_rows = tmp_path / "bad.csv"
    bad_rows.write_text("1,2,3\n")
    r = subprocess.run([str(predict_exe), str(path), str(bad_rows)], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 1
    assert "3 values, but the model takes 7 features" in r.stderr
    not_a_model = tmp_path / "not_a_model.fastann"
    not_a_model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    r = subprocess.run([str(predict_exe), str(not_a_model), str(bad_rows)], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("predict: ") and "not_a_model.fastann" in r.stderr


def test_a_model_trained_and_saved_in_cpp_loads_in_python(tmp_path_factory, tmp_path):
    # examples/cpp/train_xor trains XOR in C++ and saves it; Python loads the file and predicts what C++ printed.
    exe = _build_example("train_xor", tmp_path_factory)
    path = tmp_path / "xor.fastann"
    env = dict(os.environ, FASTANN_NUM_THREADS="1")
    r = subprocess.run([str(exe), str(path)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    printed = np.array([np.float32(line.split("->")[1]) for line in r.stdout.splitlines() if "->" in line])
    model = fastann.models.load_model(path)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    p = model.predict(x, verbose=0)[:, 0]
    np.testing.assert_array_equal(p, printed)  # %.9g round-trips float32 exactly; same kernels, same thread count
    assert list((p > 0.5).astype(int)) == [0, 1, 1, 0]
    assert model.metrics_names == ["loss", "accuracy"] and model.optimizer.iterations > 0
