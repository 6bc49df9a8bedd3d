"""python -m fastann: where the C++ headers, libraries and CMake package of this installation are.

    cmake -S . -B build -Dfastann_DIR="$(python -m fastann --cmake-dir)"
    c++ -std=c++17 $(python -m fastann --includes) app.cpp -L"$(python -m fastann --libdir)" -lfastann -pthread
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fastann",
        description="Prints where this fastann installation keeps its C++ headers, libraries and CMake package "
                    "(for C++ apps: find_package(fastann CONFIG REQUIRED), target fastann::fastann).")
    parser.add_argument("--version", action="store_true", help="the fastann version")
    parser.add_argument("--includes", action="store_true", help="the include flags for the C++ headers: -I<dir>")
    parser.add_argument("--include-dir", action="store_true", help="the folder holding fastann/fastann.hpp")
    parser.add_argument("--libdir", action="store_true",
                        help="the folder holding libfastann.a and libfastann.so")
    parser.add_argument("--cmake-dir", action="store_true",
                        help="the folder holding fastannConfig.cmake (use as -Dfastann_DIR=...)")
    args = parser.parse_args(argv)
    if not any(vars(args).values()):
        parser.print_help()
        return 0

    from . import __version__, _paths

    try:
        if args.version:
            print(__version__)
        if args.includes:
            print("-I" + _paths.get_include())
        if args.include_dir:
            print(_paths.get_include())
        if args.libdir:
            print(_paths.get_library_dir())
        if args.cmake_dir:
            print(_paths.get_cmake_dir())
    except FileNotFoundError as e:
        print(f"python -m fastann: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
