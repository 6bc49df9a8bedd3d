"""Rank 0 of a distributed fit prints and writes files: _chief and _say."""

from __future__ import annotations

import sys


def _chief() -> bool:
    """False on the ranks other than 0 of a fastann.distributed job: only rank 0 prints and writes files
    (checkpoints, CSV logs); every rank still runs every callback's logic (on the same, global, logs)."""
    dist = sys.modules.get("fastann.distributed")
    return dist is None or dist._is_chief()


def _say(*args, **kwargs) -> None:
    """print, on rank 0 only (see _chief)."""
    if _chief():
        print(*args, **kwargs)


def _verbosity(value, name):
    """A callback's verbose: a bool or an integer >= 0 (Keras prints for any value > 0)."""
    from .._validate import non_negative_int

    return int(value) if isinstance(value, bool) else non_negative_int(value, name)
