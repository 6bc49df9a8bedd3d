"""Weight initializers (Keras names and defaults). The values are drawn in C++ from a seeded generator."""

from __future__ import annotations

from ._validate import config_dict as _config_dict
from ._validate import integer as _integer
from ._validate import number as _number

_NAMES = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
          "random_uniform", "random_normal", "truncated_normal", "zeros", "ones", "constant")
# Keras 2 names that Keras 3 still accepts, resolved to the canonical ones.
_ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}


class Initializer:
    """Base class: an initializer is a name plus parameters, resolved in C++."""

    _name = ""
    _seeded = True  # whether the constructor takes `seed` (Zeros, Ones and Constant draw nothing)

    def __init__(self, seed=None, **params):
        # Checked here, for every initializer: a seed is a 64-bit unsigned integer, a parameter a finite number
        # (stored as a Python float, whatever number type it came as).
        name = type(self).__name__
        self.seed = None if seed is None else _integer(seed, f"{name}: seed", minimum=0, maximum=2**64 - 1)
        self._params = {k: _number(v, f"{name}: {k}") for k, v in params.items()}

    def get_config(self) -> dict:
        """The constructor's arguments: `type(init)(**init.get_config())` makes the same initializer."""
        return dict(self._params, seed=self.seed) if self._seeded else dict(self._params)

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        return cls(**config)

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
    _seeded = False
    _name = "zeros"

    def __init__(self):
        super().__init__()


class Ones(Initializer):
    _seeded = False
    _name = "ones"

    def __init__(self):
        super().__init__()


class Constant(Initializer):
    _seeded = False
    _name = "constant"

    def __init__(self, value=0.0):
        super().__init__(value=value)


class RandomUniform(Initializer):
    _name = "random_uniform"

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed=seed, minval=minval, maxval=maxval)


class RandomNormal(Initializer):
    _name = "random_normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed=seed, mean=mean, stddev=stddev)


class TruncatedNormal(Initializer):
    _name = "truncated_normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed=seed, mean=mean, stddev=stddev)


def get(identifier) -> dict:
    """Resolves a name, an Initializer object or a serialized initializer (see `serialize`) to the spec the C++
    core takes."""
    if isinstance(identifier, dict):
        identifier = deserialize(identifier)
    if isinstance(identifier, Initializer):
        return identifier._spec()
    if isinstance(identifier, str) and (identifier in _NAMES or identifier in _ALIASES):
        return {"name": _ALIASES.get(identifier, identifier)}
    raise ValueError(f"unknown initializer {identifier!r}; valid initializers: {', '.join(_NAMES)} "
                     f"(also {', '.join(_ALIASES)})")


_BY_NAME = {c._name: c for c in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Zeros,
                                 Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal)}
_BY_CLASS_NAME = {c.__name__: c for c in _BY_NAME.values()}


def serialize(initializer):
    """A JSON-serialisable form of an initializer: a name stays a name; an Initializer object becomes
    {"class_name": "RandomNormal", "config": {...}} (Keras's layout), which `deserialize` turns back into it."""
    if isinstance(initializer, Initializer):
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    if isinstance(initializer, dict):
        return serialize(deserialize(initializer))
    get(initializer)  # validates the name
    return initializer


def deserialize(config):
    """The initializer for a name, a {"class_name": ..., "config": {...}} dict (`serialize`; Keras's "module" and
    "registered_name" keys are ignored) or a spec as the model file stores it ({"name": "random_normal", ...})."""
    if isinstance(config, (str, Initializer)):
        get(config)
        return config
    if not isinstance(config, dict):
        raise TypeError(f"cannot deserialize an initializer from {config!r}")
    if "class_name" in config:
        cls = _BY_CLASS_NAME.get(config["class_name"])
        if cls is None:
            raise ValueError(f"unknown initializer class {config['class_name']!r}; valid classes: "
                             f"{', '.join(_BY_CLASS_NAME)}")
        return cls.from_config(dict(config.get("config") or {}))
    if config.get("name") in _BY_NAME:
        return from_spec(config)
    raise ValueError(f"cannot deserialize an initializer from {config!r}: expected a name or "
                     "{'class_name': ..., 'config': {...}}")


def from_spec(spec: dict):
    """The name (when only the name is set) or the Initializer object for a spec from the model's JSON config (where
    the seed is a decimal string: JSON numbers cannot hold every 64-bit integer)."""
    _config_dict(spec, "an initializer spec", "name")
    if spec["name"] not in _BY_NAME:
        raise ValueError(f"unknown initializer {spec['name']!r}")
    params = {k: v for k, v in spec.items() if k != "name"}
    if "seed" in params:
        params["seed"] = int(params["seed"])
    if not params:
        return spec["name"]
    return _BY_NAME[spec["name"]](**params)
