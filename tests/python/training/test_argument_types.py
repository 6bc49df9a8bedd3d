"""Every argument of the public API, given values of the wrong type or range, raises TypeError or ValueError naming
it (or works, where the value is valid), never pybind11's signature dump ("incompatible function arguments",
"Invoked with"), and a failed call leaves the model as it was.

The walk is generic: every public class (its constructor, its public methods and its property setters) and every
public function of the modules in MODULES is found by introspection, and each of its parameters is given each value
of WRONG_VALUES in turn, the others keeping their defaults (or the valid values of REQUIRED for parameters without
one). A new public class, method or function is walked with no edit here; one with a required parameter needs its
valid value in REQUIRED (the test says so). EXCLUDED lists what is deliberately not walked, with the reason."""

import dataclasses
import fnmatch
import importlib
import inspect
import io
import json
import math
import sys
import warnings

import numpy as np
import pytest

from fastann import callbacks, layers, losses, metrics, optimizers
from fastann.models import Sequential

MODULES = ["fastann", "fastann.models", "fastann.layers", "fastann.optimizers", "fastann.losses", "fastann.metrics",
           "fastann.callbacks", "fastann.activations", "fastann.initializers", "fastann.regularizers", "fastann.ops",
           "fastann.utils", "fastann.wrappers", "fastann.cuda"]

# Values no argument of the API should turn into a crash or a signature dump. Each is either rejected with
# TypeError/ValueError or, where valid for that argument (a name may be any string, an epoch count any int64), used.
WRONG_VALUES = [
    ("str", "abc"),
    ("None", None),
    ("object", object()),
    ("list_of_object", [object()]),
    ("nan", float("nan")),
    ("inf", float("inf")),
    ("2**64", 2**64),
    ("-2**63-1", -2**63 - 1),
    ("-1", -1),
    ("bool", True),
    ("np.int64", np.int64(3)),
    ("np.float32", np.float32(0.25)),
    ("complex", 1j),
]

# The messages of pybind11's argument-conversion failure: a value the Python layer let through to fastann._core.
DUMP_WORDS = ("incompatible function arguments", "Invoked with", "incompatible constructor arguments")

X = np.arange(24, dtype=np.float32).reshape(8, 3) / 10
Y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1, 1, 0, 0, 1]]


def _model(trained=True):
    m = Sequential([layers.Dense(4, input_dim=3, activation="relu"), layers.Dense(2, activation="softmax")])
    m.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    if trained:
        m.fit(X, Y, epochs=1, verbose=0)  # optimizer slots and a History exist, so a change to them is seen
    return m


def _twins():
    """Two untrained models with the same weights (and fresh optimizers): the same fit gives the same History."""
    a, b = _model(trained=False), _model(trained=False)
    b.set_weights(a.get_weights())
    return a, b


def _schedule(epoch, lr):
    return lr


def _build_fn():
    m = Sequential([layers.Dense(2, input_dim=3, activation="softmax")])
    m.compile(loss="categorical_crossentropy", optimizer="sgd")
    return m


# Valid values of parameters without a default: (qualified name of the callable, parameter) -> factory.
REQUIRED = {
    ("Sequential.add", "layer"): lambda: layers.Dense(2),
    ("Sequential.fit", "x"): lambda: X, ("Sequential.fit", "y"): lambda: Y,
    ("Sequential.evaluate", "x"): lambda: X, ("Sequential.evaluate", "y"): lambda: Y,
    ("Sequential.predict", "x"): lambda: X, ("Sequential.predict_on_batch", "x"): lambda: X,
    ("Sequential.train_on_batch", "x"): lambda: X, ("Sequential.train_on_batch", "y"): lambda: Y,
    ("Sequential.test_on_batch", "x"): lambda: X, ("Sequential.test_on_batch", "y"): lambda: Y,
    ("Sequential.set_weights", "weights"): lambda: _model().get_weights(),
    ("Sequential.save", "filepath"): lambda: "walk.fastann",
    ("Sequential.save_weights", "filepath"): lambda: "walk.fastann",
    ("Sequential.load_weights", "filepath"): lambda: _saved(),
    ("Sequential.export", "filepath"): lambda: "walk.onnx",
    ("Sequential.from_config", "config"): lambda: _model().get_config(),
    ("load_model", "filepath"): lambda: _saved(),
    ("Dense", "units"): lambda: 3, ("Activation", "activation"): lambda: "relu", ("Dropout", "rate"): lambda: 0.5,
    ("Reshape", "target_shape"): lambda: (3, 1),
    ("Layer.set_weights", "weights"): lambda: [],
    ("Layer.from_config", "config"): lambda: layers.Dense(3).get_config(),
    ("Optimizer", "learning_rate"): lambda: 0.01,
    ("ModelCheckpoint", "filepath"): lambda: "walk_ckpt.fastann",
    ("CSVLogger", "filename"): lambda: "walk.csv",
    ("LearningRateScheduler", "schedule"): lambda: _schedule,
    ("CallbackList", "callbacks"): lambda: [], ("CallbackList", "model"): lambda: _model(),
    ("CallbackList", "params"): lambda: {"verbose": 0, "epochs": 1, "steps": 1},
    ("SKLearnClassifier", "model"): lambda: _build_fn, ("SKLearnRegressor", "model"): lambda: _build_fn,
    ("SKLearnClassifier.fit", "X"): lambda: X, ("SKLearnClassifier.fit", "y"): lambda: np.array([0, 1] * 4),
    ("SKLearnRegressor.fit", "X"): lambda: X, ("SKLearnRegressor.fit", "y"): lambda: Y[:, 0],
    ("SKLearnClassifier.predict", "X"): lambda: X, ("SKLearnClassifier.predict_proba", "X"): lambda: X,
    ("SKLearnRegressor.predict", "X"): lambda: X,
    ("Initializer.from_config", "config"): lambda: {"value": 1.0},
    ("optimizers.get", "identifier"): lambda: "adam", ("optimizers.from_config", "config"): lambda: {
        "class_name": "SGD", "config": optimizers.SGD().get_config()},
    ("losses.get", "identifier"): lambda: "mse", ("losses.from_config", "config"): lambda: {
        "class_name": "MeanSquaredError", "config": {}},
    ("metrics.get", "identifier"): lambda: "accuracy",
    ("layers.serialize", "layer"): lambda: layers.Dense(3), ("layers.deserialize", "config"): lambda: {
        "class_name": "Dense", "config": {"units": 3}},
    ("layers.from_config_entry", "entry"): lambda: {"class_name": "Dense", "config": {"units": 3}},
    ("activations.get", "identifier"): lambda: "relu", ("activations.serialize", "identifier"): lambda: "relu",
    ("initializers.get", "identifier"): lambda: "zeros", ("initializers.serialize", "initializer"): lambda: "zeros",
    ("initializers.deserialize", "config"): lambda: {"class_name": "Zeros", "config": {}},
    ("initializers.from_spec", "spec"): lambda: {"class_name": "Zeros", "config": {}},
    ("regularizers.get", "identifier"): lambda: "l2", ("regularizers.serialize", "regularizer"): lambda: "l2",
    ("regularizers.from_spec", "spec_dict"): lambda: {"name": "l2", "l1": 0.0, "l2": 0.01},
    ("regularizers.spec", "regularizer"): lambda: "l2",
    ("ops.activation", "name"): lambda: "relu", ("ops.activation", "x"): lambda: X,
    ("ops.activation_grad", "name"): lambda: "relu", ("ops.activation_grad", "x"): lambda: X,
    ("ops.activation_grad", "dy"): lambda: X,
    ("ops.gemm", "a"): lambda: X, ("ops.gemm", "b"): lambda: X.T.copy(),
    ("ops.matmul", "a"): lambda: X, ("ops.matmul", "b"): lambda: X.T.copy(),
    ("ops.loss", "name"): lambda: "mse", ("ops.loss", "y_true"): lambda: Y, ("ops.loss", "y_pred"): lambda: Y,
    ("ops.metric", "name"): lambda: "accuracy", ("ops.metric", "y_true"): lambda: Y,
    ("ops.metric", "y_pred"): lambda: Y,
    ("utils.set_random_seed", "seed"): lambda: 1, ("utils.to_categorical", "y"): lambda: np.array([0, 1, 2]),
    ("cuda.require", "device"): lambda: "cpu", ("cuda.set_allow_tf32", "enabled"): lambda: False,
    ("cuda.set_dataset_memory_limit", "nbytes"): lambda: None,
    ("set_check_finite", "enabled"): lambda: True,
}
# Deliberately not walked (fnmatch patterns of the names the walk gives its targets), and why. Not in MODULES:
# fastann.distributed (needs an MPI runtime; tests/python/distributed checks its arguments).
EXCLUDED = {
    "set_num_threads": "a process-wide setting (a valid value would change the thread count of the tests after it): "
                       "tests/python/reliability/test_environment.py gives it the same wrong values and restores it",
    "*.on_*": "callback hooks: the model's own loop calls them with its values (Keras's contract); users override them",
    "*.set_model": "called by the model's loop with the model itself",
    "*.set_params": "callbacks: called by the loop with its params dict; scikit-learn wrappers: scikit-learn's "
                    "contract stores any value, checked when fit builds the model",
    "SKLearn*.set_*_request": "generated by scikit-learn's metadata routing, not fastann's code",
    "CallbackList.*": "the model's internal dispatcher, called by fit/evaluate/predict with their values",
    "EarlyStopping.get_monitor_value": "called by on_epoch_end with the model's logs",
    "Sequential.export": "needs the onnx package; tests/python/io/test_onnx.py checks its arguments",
}
# Parameters whose value names a file: a string that names no file raises OSError, as open() does.
PATH_PARAMS = {"filepath", "filename"}
# Real-valued parameters whose default Keras writes as an int (0): 2**64 is a valid value of them.
REAL_WITH_INT_DEFAULT = {("EarlyStopping()", "min_delta")}
# Parameters naming a device: a valid index of a device this build or machine lacks raises RuntimeError.
DEVICE_PARAMS = {("cuda.get_device_name", "index"), ("cuda.memory_stats", "index"), ("cuda.synchronize", "index")}


def _saved():
    _model().save("walk_saved.fastann")
    return "walk_saved.fastann"


@dataclasses.dataclass
class Target:
    """One callable of the public API: a class's constructor (member None), method or property setter, or a module
    function. `name` is how the walk and EXCLUDED call it: "Dense()", "Sequential.fit", "Adam.learning_rate=",
    "utils.to_categorical"."""

    name: str
    cls: type | None = None
    member: str | None = None
    setter: bool = False
    function: object = None

    def parameters(self):
        if self.setter:
            return [inspect.Parameter("value", inspect.Parameter.POSITIONAL_ONLY)]
        if self.function is not None:
            sig = inspect.signature(self.function)
        elif self.member is None:
            sig = inspect.signature(self.cls)
        else:
            sig = inspect.signature(getattr(self.cls, self.member))  # bound for class and static methods
            if not self._on_class():
                sig = sig.replace(parameters=list(sig.parameters.values())[1:])  # self
        return [p for p in sig.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def _on_class(self):
        return isinstance(inspect.getattr_static(self.cls, self.member), (classmethod, staticmethod))

    def bind(self):
        """(the instance the call may change, or None; the callable)."""
        if self.function is not None:
            return None, self.function
        if self.member is None:
            return None, self.cls
        if self._on_class():
            return None, getattr(self.cls, self.member)
        inst = _instance(self.cls)
        if self.setter:
            return inst, lambda value: setattr(inst, self.member, value)
        return inst, getattr(inst, self.member)

    def valid(self, param):
        """The valid value of a parameter without a default (REQUIRED, looked up along the class's bases)."""
        keys = [(self.name, param.name)]
        for c in self.cls.__mro__ if self.cls else ():
            keys.append((c.__name__ if self.member is None else f"{c.__name__}.{self.member}", param.name))
        for key in keys:
            if key in REQUIRED:
                return REQUIRED[key]()
        if self.name.startswith("activations.") and param.name == "x":
            return X
        raise AssertionError(f"{self.name}: parameter '{param.name}' has no default; add its valid value to REQUIRED")


def _excluded(name):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in EXCLUDED)


def _public(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    for n in names:
        obj = getattr(module, n)
        home = getattr(obj, "__module__", "") or ""
        if inspect.ismodule(obj) or not callable(obj) or not home.startswith("fastann") or \
                home in ("fastann._validate", "fastann._core"):
            continue  # re-exported helpers and the bindings themselves (their Python wrappers are walked)
        yield n, obj


def _targets():
    seen, out = set(), []
    for mod_name in MODULES:
        prefix = "" if mod_name in ("fastann", "fastann.models") else mod_name.split(".")[-1] + "."
        for name, obj in _public(importlib.import_module(mod_name)):
            if not inspect.isclass(obj):
                if not _excluded(prefix + name):
                    out.append(Target(prefix + name, function=obj))
                continue
            if obj in seen:
                continue
            seen.add(obj)
            out.append(Target(f"{obj.__name__}()", obj))
            for member in dir(obj):
                owner = next((c for c in obj.__mro__ if member in vars(c)), None)
                if member.startswith("_") or owner is None or not owner.__module__.startswith("fastann"):
                    continue  # private, or inherited from another library (scikit-learn's BaseEstimator)
                static = inspect.getattr_static(obj, member)
                if isinstance(static, property):
                    if static.fset is not None and not _excluded(f"{obj.__name__}.{member}="):
                        out.append(Target(f"{obj.__name__}.{member}=", obj, member, setter=True))
                elif callable(static) or isinstance(static, (classmethod, staticmethod)):
                    if not _excluded(f"{obj.__name__}.{member}"):
                        out.append(Target(f"{obj.__name__}.{member}", obj, member))
    return out


def _instance(cls):
    """A ready instance of the class whose methods are walked: a trained model for Sequential; a layer in a built
    model (inputs of 3 features); otherwise the class with its REQUIRED arguments."""
    if cls is Sequential:
        return _model()
    if cls is layers.Layer:
        cls = layers.Dense
    ctor = Target(cls.__name__, cls)
    obj = cls(**{p.name: ctor.valid(p) for p in ctor.parameters() if p.default is inspect.Parameter.empty})
    if isinstance(obj, layers.Layer):
        Sequential([layers.Input((3,)), obj])
    return obj


def _snapshot(obj):
    """What a failed call must leave as it was: for a model its config, weights, compile state, optimizer config
    and History; for other objects their config."""
    if obj is None:
        return None
    if isinstance(obj, Sequential):
        opt = obj.optimizer
        return (json.dumps(obj.get_config(), sort_keys=True), [w.copy() for w in obj.get_weights()],
                obj._core.compiled, None if opt is None else json.dumps(opt.get_config(), sort_keys=True, default=str),
                obj.metrics_names, None if obj.history is None else json.dumps(obj.history.history))
    get_config = getattr(obj, "get_config", None)
    return json.dumps(get_config(), sort_keys=True, default=str) if callable(get_config) else None


def _same(a, b):
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return len(a) == len(b) and all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))
    return a == b


def _never_valid(target, param, value_id):
    """Values that cannot be a parameter whose default is a number (an int default: nor past int64, nor inf)."""
    default = param.default
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return False
    never = {"str", "object", "list_of_object", "complex", "nan"}
    if isinstance(default, int) and (target.name, param.name) not in REAL_WITH_INT_DEFAULT:
        never |= {"2**64", "-2**63-1", "inf"}
    return value_id in never


def _check_one(target, params, param, value_id, value):
    """The failure of one call (target with param=value, the others valid), or None."""
    kwargs = {p.name: target.valid(p) for p in params if p is not param and p.default is inspect.Parameter.empty}
    if param.name != "verbose" and any(p.name == "verbose" for p in params):
        kwargs["verbose"] = 0  # no progress bars for the values of the other parameters
    inst, func = target.bind()
    before = _snapshot(inst)
    case = f"{target.name}({param.name}={value_id})"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a value Keras accepts with a warning (an unknown mode) is accepted
        try:
            if param.kind is param.POSITIONAL_ONLY:
                func(value, **kwargs)
            else:
                func(**{param.name: value}, **kwargs)
        except Exception as e:  # noqa: BLE001 - which exception it is, is what is checked
            message = str(e)
            if any(w in message for w in DUMP_WORDS):
                return f"{case}: a pybind11 signature dump: {message[:200]}"
            allowed = isinstance(e, (TypeError, ValueError)) or \
                (isinstance(e, NotImplementedError) and "not supported" in message) or \
                (isinstance(e, RuntimeError) and (target.name, param.name) in DEVICE_PARAMS) or \
                (isinstance(e, OSError) and any(p.name in PATH_PARAMS for p in params))
            if not allowed:
                return f"{case}: {type(e).__name__}: {message[:200]}"
            if not _same(before, _snapshot(inst)):
                return f"{case}: raised {type(e).__name__} but changed the object"
            return None
    if _never_valid(target, param, value_id):
        return f"{case}: accepted for a parameter whose default is {param.default!r}"
    if inst is not None and hasattr(inst, "get_config"):
        try:
            json.dumps(inst.get_config())  # accepted: the object still describes itself (no object() stored)
        except Exception as e:  # noqa: BLE001
            return f"{case}: accepted, then get_config fails: {type(e).__name__}: {e}"
    return None


def _walk(target):
    params = target.parameters()
    failures = [_check_one(target, params, param, value_id, value)
                for param in params for value_id, value in WRONG_VALUES]
    return [f for f in failures if f]


TARGETS = _targets()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the walk saves (and names such as "abc") land in a scratch folder
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # summaries and progress bars of accepted values


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_wrong_arguments_raise_type_or_value_error(target):
    if target.cls is not None and target.cls.__name__.startswith("SKLearn"):
        pytest.importorskip("sklearn", reason="the scikit-learn wrappers need scikit-learn")
    failures = _walk(target)
    assert not failures, "\n".join(failures)


def test_the_walk_covers_the_public_api():
    ids = {t.name for t in TARGETS}
    for expected in ("Sequential.fit", "Sequential.compile", "Dense()", "Adam()", "Adam.learning_rate=",
                     "EarlyStopping()", "AUC()", "Huber()", "set_check_finite", "load_model", "utils.to_categorical"):
        assert expected in ids
    assert len(TARGETS) > 100


# --- sizes and numbers that are valid, at the edge of int64 and as NumPy scalars ----------------------------------

def _rss_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def test_epochs_sys_maxsize_with_early_stopping_stops_after_patience():
    m = _model()
    stop = callbacks.EarlyStopping(monitor="loss", patience=2, min_delta=1e9)  # no epoch ever improves by 1e9
    h = m.fit(X, Y, epochs=sys.maxsize, verbose=0, callbacks=[stop])
    assert h.epoch == [0, 1, 2]  # the first epoch sets the best; two more without improvement
    assert m.history is h


def test_batch_size_int64_max_is_clipped_to_the_samples():
    a, b = _twins()
    np.testing.assert_array_equal(a.predict(X, batch_size=2**63 - 1, verbose=0), a.predict(X, batch_size=8, verbose=0))
    assert a.evaluate(X, Y, batch_size=2**63 - 1, verbose=0) == a.evaluate(X, Y, batch_size=8, verbose=0)
    ha = a.fit(X, Y, batch_size=2**63 - 1, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("bad", [2**63, 2**64, -1, 0])
def test_batch_size_past_int64_or_not_positive_names_the_argument(bad):
    m = _model()
    for call in (lambda: m.fit(X, Y, batch_size=bad, verbose=0), lambda: m.predict(X, batch_size=bad, verbose=0),
                 lambda: m.evaluate(X, Y, batch_size=bad, verbose=0)):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            call()


def test_numpy_scalars_are_the_numbers_they_hold():
    a, b = _twins()
    ha = a.fit(X, Y, epochs=np.int64(2), batch_size=np.int32(4), validation_split=np.float32(0.25), shuffle=False,
               seed=np.uint64(7), verbose=0)
    hb = b.fit(X, Y, epochs=2, batch_size=4, validation_split=0.25, shuffle=False, seed=7, verbose=0)
    assert ha.history == hb.history and ha.epoch == hb.epoch
    assert "val_loss" in ha.history
    opt = optimizers.Adam(learning_rate=np.float32(0.5), beta_1=np.float64(0.8))
    assert opt.learning_rate == pytest.approx(0.5) and opt.get_config()["beta_1"] == pytest.approx(0.8)
    assert layers.Dense(np.int64(3)).units == 3
    assert math.isclose(layers.Dropout(np.float32(0.25)).rate, 0.25)


@pytest.mark.parametrize("make,words", [
    (lambda: Sequential([layers.Dense(2**32, input_dim=2**32)]), r"shape \(4294967296, 4294967296\) is too large"),
    (lambda: Sequential([layers.Dense(2**62, input_dim=4)]),
     r"units: expected an integer in \[1, 1099511627776\], got 4611686018427387904"),
    (lambda: Sequential([layers.Dense(2)]).build((None, 2**62)), r"shape \(4611686018427387904, 2\) is too large"),
    (lambda: Sequential([layers.Dense(2**40, input_dim=2**20)]), r"out of memory.*kernel of shape \(1048576, "
                                                                   r"1099511627776\)"),
    (lambda: Sequential([layers.Dense(4, input_dim=4), layers.Reshape((2**40, 2**40))]),
     r"Reshape .*target_shape \(1099511627776, 1099511627776\) is too large"),
    (lambda: Sequential([layers.Dense(4, input_dim=4), layers.Reshape((2**40, 2**40, -1))]),
     r"target_shape \(1099511627776, 1099511627776, -1\) is too large"),
    (lambda: Sequential([layers.Flatten(input_shape=(2**40, 2**40, 2**40))]),
     r"shape \(1099511627776, 1099511627776, 1099511627776\) is too large"),
    (lambda: Sequential([layers.Dense(2**21, input_dim=4)]).predict(np.ones((2**22, 4), np.float32), verbose=0),
     r"out of memory: cannot allocate a tensor of 8796093022208 floats .* of shape \(4194304, 2097152\)"),
], ids=["dense_2**64_elements", "dense_units_past_the_limit", "build_2**63_elements", "dense_too_big_for_memory",
        "reshape_overflow", "reshape_-1_overflow",
        "flatten_overflow", "predict_output_too_big"])
def test_sizes_past_int64_or_memory_fail_before_allocating(make, words):
    before = _rss_mib()
    with pytest.raises((ValueError, MemoryError), match=words):
        make()
    after = _rss_mib()
    if before is not None:
        assert after - before < 512, f"the failed call grew the process by {after - before} MiB"


def test_a_model_larger_than_free_memory_fails_with_memory_error_before_touching_it():
    """Weights that fit in int64 and in the address space, but not in the memory left: MemoryError at once, the
    process no larger (not a zero-fill of gigabytes, not the OOM killer)."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
    except OSError:
        pytest.skip("needs /proc/meminfo (Linux)")
    avail = info.get("MemAvailable", 0) + info.get("SwapFree", 0)
    # A kernel of 0.6 of what is free: on its own it would fit, with its gradient buffer it cannot.
    inputs = 1024
    units = max(1, int(avail * 0.6) // 4 // inputs)
    if units > 2**40:
        pytest.skip("more memory than a Dense layer may declare")
    before = _rss_mib()
    with pytest.raises(MemoryError, match=r"out of memory: the model's weights.*only .* GiB of memory are available"):
        Sequential([layers.Dense(units, input_dim=inputs)])
    assert _rss_mib() - before < 512


def test_validation_split_numpy_float_equals_the_python_float():
    a, b = _twins()
    ha = a.fit(X, Y, epochs=1, validation_split=np.float32(0.25), shuffle=False, verbose=0)
    hb = b.fit(X, Y, epochs=1, validation_split=0.25, shuffle=False, verbose=0)
    assert ha.history == hb.history


def test_losses_metrics_and_callbacks_take_numpy_numbers():
    assert losses.Huber(delta=np.float32(2.0)).delta == pytest.approx(2.0)
    assert metrics.TopKCategoricalAccuracy(k=np.int64(2)).k == 2
    stop = callbacks.EarlyStopping(monitor="loss", patience=np.int64(1), min_delta=np.float32(1e9))
    h = _model().fit(X, Y, epochs=10, verbose=0, callbacks=[stop])
    assert len(h.epoch) == 2
