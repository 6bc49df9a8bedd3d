"""Weight initializers (Keras names and defaults). The values are drawn in C++ from a seeded generator."""

from __future__ import annotations

_NAMES = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
          "random_uniform", "random_normal", "truncated_normal", "zeros", "ones", "constant")


class Initializer:
    """Base class: an initializer is a name plus parameters, resolved in C++."""

    _name = ""

    def __init__(self, seed=None, **params):
        self.seed = seed
        self._params = params

    def get_config(self) -> dict:
        return dict(self._params, seed=self.seed)

    def _spec(self) -> dict:
        return dict(self._params, name=self._name, seed=self.seed)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _simple(cls_name, keras_name):
    def __init__(self, seed=None):
        Initializer.__init__(self, seed=seed)

    return type(cls_name, (Initializer,), {"_name": keras_name, "__init__": __init__})


GlorotUniform = _simple("GlorotUniform", "glorot_uniform")
GlorotNormal = _simple("GlorotNormal", "glorot_normal")
HeUniform = _simple("HeUniform", "he_uniform")
HeNormal = _simple("HeNormal", "he_normal")
LecunUniform = _simple("LecunUniform", "lecun_uniform")
LecunNormal = _simple("LecunNormal", "lecun_normal")


class Zeros(Initializer):
    _name = "zeros"

    def __init__(self):
        super().__init__()


class Ones(Initializer):
    _name = "ones"

    def __init__(self):
        super().__init__()


class Constant(Initializer):
    _name = "constant"

    def __init__(self, value=0.0):
        super().__init__(value=float(value))


class RandomUniform(Initializer):
    _name = "random_uniform"

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed=seed, minval=float(minval), maxval=float(maxval))


class RandomNormal(Initializer):
    _name = "random_normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed=seed, mean=float(mean), stddev=float(stddev))


class TruncatedNormal(Initializer):
    _name = "truncated_normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed=seed, mean=float(mean), stddev=float(stddev))


def get(identifier) -> dict:
    """Resolves a name or an Initializer object to the spec the C++ core takes."""
    if isinstance(identifier, Initializer):
        return identifier._spec()
    if isinstance(identifier, str) and identifier in _NAMES:
        return {"name": identifier}
    raise ValueError(f"unknown initializer {identifier!r}; valid initializers: {', '.join(_NAMES)}")


_BY_NAME = {c._name: c for c in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Zeros,
                                 Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal)}


def from_spec(spec: dict):
    """The name (when only the name is set) or the Initializer object for a spec as the C++ core reports it."""
    params = {k: v for k, v in spec.items() if k != "name" and v is not None}
    if not params:
        return spec["name"]
    return _BY_NAME[spec["name"]](**params)
