"""fastann: neural networks with a Keras-style API on a fast C++ core.

    from fastann.models import Sequential
    from fastann.layers import Dense

Only the import lines differ from a Keras tutorial. The numeric work (GEMM, activations, losses, optimizers and the
whole fit/evaluate/predict loops) runs in C++ with the GIL released.
"""

import warnings as _warnings

from . import (
    _core,
    _validate,
    activations,
    callbacks,
    cuda,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    regularizers,
    utils,
)
from ._core import __version__
from ._paths import get_cmake_dir, get_include, get_library_dir
from .layers import Input
from .models import Sequential


def _emit_core_warnings(stacklevel: int = 3) -> None:
    """Re-emits the core's queued warnings (about the environment, the thread count) as RuntimeWarning."""
    for message in _core._take_warnings():
        _warnings.warn(f"fastann: {message}", RuntimeWarning, stacklevel=stacklevel)


# The core queues its warnings for Python from here on; FASTANN_NUM_THREADS and FASTANN_ISA are read now, so that a
# value fastann cannot use is reported once, at import, naming the variable and what is used instead.
_core._set_collect_warnings(True)
_core._read_environment()
_emit_core_warnings(stacklevel=2)


def set_num_threads(n: int) -> None:
    """Sets the number of threads the CPU kernels use (default: the CPUs this process may run on, or
    FASTANN_NUM_THREADS). More than 4x those CPUs is capped there, with a RuntimeWarning."""
    if not _validate.is_integer(n):
        raise TypeError(f"set_num_threads: n must be an integer, got {type(n).__name__}")
    _core.set_num_threads(_validate.integer(n, "set_num_threads: n", minimum=1, maximum=2**31 - 1))
    _emit_core_warnings()


def get_num_threads() -> int:
    """The number of threads the CPU kernels use."""
    return _core.get_num_threads()


def set_check_finite(enabled: bool) -> None:
    """fit/evaluate/train_on_batch/test_on_batch raise ValueError for NaN or infinity in x or y, naming the row and
    column (default True: one threaded pass over the data per call). False uses such data as given."""
    _core.set_check_finite(bool(enabled))


def get_check_finite() -> bool:
    return _core.get_check_finite()


__all__ = [
    "__version__", "Sequential", "Input", "activations", "callbacks", "cuda", "initializers", "layers", "losses",
    "metrics", "models", "ops", "optimizers", "regularizers", "utils", "set_num_threads", "get_num_threads",
    "set_check_finite", "get_check_finite", "get_include", "get_library_dir", "get_cmake_dir",
]
