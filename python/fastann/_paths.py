"""Where this installation keeps the C++ headers, libraries and CMake package (for C++ apps that link fastann).

A wheel installs them into the package folder next to the extension module: ``fastann/include``, ``fastann/lib``
(``libfastann.a``, ``libfastann.so``) and ``fastann/lib/cmake/fastann`` (``fastannConfig.cmake``). An editable
install (``pip install -e .``, scikit-build-core's default "redirect" mode) puts them in the same place: the CMake
install tree, in site-packages, where the extension module is too (refreshed by each ``pip install -e .``).

    cmake -S app -B build -Dfastann_DIR="$(python -m fastann --cmake-dir)"
"""

from __future__ import annotations

import importlib.util
import os

__all__ = ["get_include", "get_library_dir", "get_cmake_dir"]


def _install_dir() -> str:
    # The folder the CMake install tree went into: where fastann._core was installed (found without loading it).
    spec = importlib.util.find_spec("fastann._core")
    if spec is None or not spec.origin:
        raise FileNotFoundError("fastann's extension module fastann._core was not found; fastann is not installed "
                                "correctly (reinstall it with pip install .)")
    return os.path.dirname(os.path.abspath(spec.origin))


def _existing(path: str, marker: str, what: str) -> str:
    if not os.path.exists(os.path.join(path, marker)):
        raise FileNotFoundError(
            f"this fastann installation has no C++ {what} ({os.path.join(path, marker)} is missing). The wheel "
            f"(pip install .) and editable installs in scikit-build-core's default redirect mode include them; "
            f"other setups can install them with: cmake -S <fastann source> -B build && cmake --build build && "
            f"cmake --install build --prefix <dir>")
    return path


def get_include() -> str:
    """The folder to put on the include path: it holds ``fastann/fastann.hpp``."""
    return _existing(os.path.join(_install_dir(), "include"), os.path.join("fastann", "fastann.hpp"), "headers")


def get_library_dir() -> str:
    """The folder holding the C++ libraries (``libfastann.a`` and, when built, ``libfastann.so``)."""
    return _existing(os.path.join(_install_dir(), "lib"), os.path.join("cmake", "fastann", "fastannConfig.cmake"),
                     "libraries")


def get_cmake_dir() -> str:
    """The folder holding ``fastannConfig.cmake``: pass it as ``-Dfastann_DIR=...`` (or put
    ``get_library_dir()/cmake`` / the package folder on ``CMAKE_PREFIX_PATH``) for ``find_package(fastann CONFIG)``."""
    return _existing(os.path.join(_install_dir(), "lib", "cmake", "fastann"), "fastannConfig.cmake", "CMake package")
