"""The base class of the metrics: the key in the logs, and the configuration handed to the C++ core."""

from __future__ import annotations


class Metric:
    """A metric computed by the C++ core. `name` is its key in the logs and History."""

    _core_name = ""
    _default_name = ""

    def __init__(self, name=None, dtype=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = name if name is not None else self._default_name

    def _params(self) -> dict:
        return {}

    def _core_config(self) -> dict:
        """What compile hands to the core: {'name', 'display_name', and this metric's parameters}."""
        return {"name": self._core_name, "display_name": self.name, **self._params()}

    def get_config(self) -> dict:
        return {"name": self.name, **self._public_params()}

    def _public_params(self) -> dict:
        return self._params()

    def __eq__(self, other):
        return type(self) is type(other) and self._core_config() == other._core_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self._core_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
