"""CUDA device queries. This build of fastann has no CUDA backend yet: everything runs on the CPU, and asking for a
CUDA device raises a clear error instead of silently using the CPU."""

from __future__ import annotations

from . import _core


def is_built() -> bool:
    """True when the CUDA backend was compiled into this fastann."""
    return bool(_core.CUDA_BUILT)


def is_available() -> bool:
    """True when the CUDA backend is built and a GPU with a working driver is present."""
    return False


def device_count() -> int:
    return 0


def get_device_name(index: int = 0) -> str:
    raise RuntimeError(f"no CUDA device {index}: this fastann was built without the CUDA backend")


def require(device: str) -> str:
    """The canonical name of `device` ('cpu', 'cuda:N'); RuntimeError for a CUDA device this build cannot use."""
    name = _core.parse_device(device)
    if name != "cpu":
        raise RuntimeError(f"device {device!r} was requested, but this fastann was built without the CUDA backend "
                           "(fastann.cuda.is_built() is False); use device='cpu'")
    return name
