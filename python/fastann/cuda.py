"""CUDA device queries and settings.

fastann's CUDA backend is compiled in when the build found nvcc (``FASTANN_CUDA=AUTO``, the default; ``ON`` requires
it, ``OFF`` leaves it out). Whether a GPU can be used is decided at run time: without a driver or a GPU,
``is_available()`` is False and ``device_count()`` is 0 -- never an error, and every CPU feature works.

A model runs on a GPU with ``model.compile(..., device='cuda')`` (or ``'cuda:N'``): its weights, gradients and
optimizer state live there, and ``fit`` copies the dataset to the GPU once when it fits (see
``set_dataset_memory_limit``), else streams batches through page-locked host memory. ``fit``, ``evaluate`` and
``predict`` take and return NumPy as on the CPU. On the GPU: GEMMs with the fused bias + activation epilogue,
activations, losses and the accuracy / mse / mae metrics (summed on the device, read back where logs need them),
dropout, batch normalisation, L1/L2 regularizers and the fused optimizer update; AUC / precision / recall / top-k go
through host copies.
"""

from __future__ import annotations

from . import _core
from ._validate import integer as _integer
from ._validate import non_negative_int as _non_negative_int

_c = _core.cuda


def is_built() -> bool:
    """True when the CUDA backend was compiled into this fastann."""
    return bool(_c.is_built())


def is_available() -> bool:
    """True when the CUDA backend is built and at least one GPU with a working driver is present."""
    return is_built() and _c.device_count() > 0


def device_count() -> int:
    """Number of usable CUDA devices (0 without the backend, a driver or a GPU)."""
    return int(_c.device_count()) if is_built() else 0


def get_device_name(index: int = 0) -> str:
    """The name of CUDA device `index` (e.g. 'NVIDIA H100 80GB HBM3'); RuntimeError when there is no such device."""
    index = _integer(index, "get_device_name: index", minimum=0, maximum=2**31 - 1)
    if not is_built():
        raise RuntimeError(f"no CUDA device {index}: this fastann was built without the CUDA backend")
    return _c.device_name(index)


def build_info() -> dict:
    """How this fastann was configured: {'option': FASTANN_CUDA (AUTO/ON/OFF; EMULATOR for the test-only host
    emulator of the backend, tests/README.md), 'nvcc': the CUDA compiler CMake found ('' when none), 'architectures':
    the CUDA architectures compiled ('' without the backend)}."""
    return dict(_core.CUDA_BUILD_INFO)


def set_allow_tf32(enabled: bool) -> None:
    """Allow TF32 tensor cores for float32 GEMMs (off by default, like torch.backends.cuda.matmul.allow_tf32).
    When on, GEMMs and matmuls on GPUs of compute capability >= 8.0 (Ampere, Hopper and later) round their inputs to
    TF32 (10 mantissa bits, relative rounding error up to 2**-11) and accumulate in float32: several times faster,
    with errors about 2**-11 * sqrt(k) relative to the size of the products instead of float32's 2**-24 * sqrt(k).
    Older GPUs keep the FP32 kernels. Process-wide; applies to GEMMs launched after the call."""
    _c.set_allow_tf32(bool(enabled))


def allow_tf32() -> bool:
    return bool(_c.allow_tf32())


def memory_stats(index: int = 0) -> dict:
    """The caching allocator's counters for device `index`: allocated_bytes (live), reserved_bytes (from cudaMalloc,
    live or cached), peak_allocated_bytes, device_allocs (cudaMalloc calls), cache_hits."""
    return dict(_c.memory_stats(_integer(index, "memory_stats: index", minimum=0, maximum=2**31 - 1)))


def empty_cache() -> None:
    """Returns the allocator's cached, unused device memory to the driver."""
    _c.empty_cache()


def synchronize(index: int = 0) -> None:
    """Waits for the work queued on device `index`."""
    _c.synchronize(_integer(index, "synchronize: index", minimum=0, maximum=2**31 - 1))


def require(device: str) -> str:
    """The canonical name of `device` ('cpu', 'cuda:N'); RuntimeError for a CUDA device that cannot be used."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {device!r}")
    name = _core.parse_device(device)
    if name == "cpu":
        return name
    if not is_built():
        raise RuntimeError(f"device {device!r} was requested, but this fastann was built without the CUDA backend "
                           "(fastann.cuda.is_built() is False); use device='cpu'")
    index = int(name.split(":")[1])
    count = device_count()
    if count == 0:
        raise RuntimeError(f"device {device!r} was requested, but no CUDA device is available (no GPU or no driver: "
                           "fastann.cuda.is_available() is False); use device='cpu'")
    if index >= count:
        raise RuntimeError(f"device {device!r} was requested, but this machine has {count} CUDA device(s)")
    return name


def set_dataset_memory_limit(nbytes) -> None:
    """The most bytes of training data (x, y, sample weights and validation data together) that `fit` copies to a
    CUDA model's GPU, once per fit; larger data stays in host memory and is streamed a batch at a time through
    page-locked buffers. None (the default): half the GPU's free memory when fit starts; 0: always stream."""
    if nbytes is None:
        _core.set_dataset_memory_limit(-1)
        return
    _core.set_dataset_memory_limit(_non_negative_int(nbytes, "set_dataset_memory_limit: nbytes (None or an integer)"))


def dataset_memory_limit():
    """The limit set by set_dataset_memory_limit (None: automatic)."""
    v = int(_core.dataset_memory_limit())
    return None if v < 0 else v
