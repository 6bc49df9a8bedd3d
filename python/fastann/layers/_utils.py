"""Unique default names for layers and models (dense, dense_1, ...)."""

from __future__ import annotations

import itertools
from collections import defaultdict

_name_counters: dict = defaultdict(itertools.count)


def _unique_name(base: str) -> str:
    k = next(_name_counters[base])
    return base if k == 0 else f"{base}_{k}"
