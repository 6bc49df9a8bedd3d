"""Every argument of the public API, given values of the wrong type or range, raises TypeError or ValueError naming
it (or works, where the value is valid), never pybind11's signature dump ("incompatible function arguments",
"Invoked with"), and a failed call leaves the model as it was.

The walk is generic: every public class (its constructor, its public methods and its property setters) and every
public function of the modules in MODULES is found by introspection, and each of its parameters is given each value
of WRONG_VALUES in turn, the others keeping their defaults (or the valid values of REQUIRED for parameters without
one). A new public class, method or function is walked with no edit here; one with a required parameter needs its
valid value in REQUIRED (the test says so). EXCLUDED lists what is deliberately not walked, with the reason."""

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
# Activation functions (fastann.activations.relu, ...) take one array.
ACTIVATION_X = lambda: X  # noqa: E731

# Deliberately not walked, and why.
EXCLUDED = {
    "set_num_threads": "its range (and the thread limit) belongs to the thread-count change, which tests it",
    "Callback.on_*": "the model's own loop calls the hooks with its values (Keras's contract); users override them",
    "Callback.set_model": "called by the model's loop with the model itself",
    "Callback.set_params": "called by the model's loop with its own params dict",
    "CallbackList.<methods>": "the model's internal dispatcher, called by fit/evaluate/predict with their values",
    "EarlyStopping.get_monitor_value": "called by on_epoch_end with the model's logs",
    "ReduceLROnPlateau.in_cooldown": "no arguments; a state query for the hook",
    "SKLearn*.set_params": "scikit-learn's contract: stores any value, checked when fit builds the model",
    "SKLearn*.set_*_request": "generated by scikit-learn's metadata routing, not fastann's code",
    "Sequential.export": "needs the onnx package; its own tests check its arguments",
    "fastann.distributed": "needs an MPI runtime; tests/python/distributed walks its arguments",
    "Progbar": "the progress bar behind ProgbarLogger, not in fastann.callbacks.__all__",
}
# Parameters whose value names a file: a string that names no file raises OSError, as open() does.
PATH_PARAMS = {"filepath", "filename"}
# Real-valued parameters whose default Keras writes as an int (0): 2**64 is a valid value of them.
REAL_WITH_INT_DEFAULT = {("EarlyStopping()", "min_delta")}
# Parameters naming a device: a valid index of a device this build or machine lacks raises RuntimeError.
DEVICE_PARAMS = {("cuda.get_device_name", "index"), ("cuda.memory_stats", "index"), ("cuda.synchronize", "index")}


def _saved():
    m = _model()
    m.save("walk_saved.fastann")
    return "walk_saved.fastann"


def _public(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    out = []
    for n in names:
        obj = getattr(module, n)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        home = getattr(obj, "__module__", "") or ""
        if not home.startswith("fastann") or home == "fastann._validate" or home.startswith("fastann._core"):
            continue  # re-exported helpers and the bindings themselves (their Python wrappers are walked)
        out.append((n, obj))
    return out


def _excluded(qual):
    cls, _, meth = qual.rpartition(".")
    for key in EXCLUDED:
        k_cls, _, k_meth = key.rpartition(".")
        if key == qual or key == qual.split(".")[-1] and not cls:
            return True
        if k_meth == "on_*" and meth.startswith("on_"):
            return True
        if k_meth in ("set_model", "set_params") and meth == k_meth and cls != "SKLearnClassifier" and \
                cls != "SKLearnRegressor":
            return True
        if k_meth == "<methods>" and cls == k_cls:
            return True
        if k_cls.endswith("*") and cls.startswith(k_cls[:-1]) and meth == k_meth:
            return True
    return False


def _targets():
    """(id, owner class or None, the callable's name, a factory of (callable, its instance or None))."""
    seen, out = set(), []
    for mod_name in MODULES:
        module = importlib.import_module(mod_name)
        short = mod_name.split(".")[-1]
        for name, obj in _public(module):
            if name in EXCLUDED or (mod_name == "fastann.callbacks" and name == "Progbar"):
                continue
            if inspect.isclass(obj):
                if obj in seen:
                    continue
                seen.add(obj)
                out.append((f"{obj.__name__}()", obj.__name__, None))
                for meth_name, _ in inspect.getmembers(obj):
                    if meth_name.startswith("_"):
                        continue
                    static = inspect.getattr_static(obj, meth_name)
                    owner = next(c for c in obj.__mro__ if meth_name in vars(c))
                    if meth_name.startswith("set_") and meth_name.endswith("_request"):
                        continue  # EXCLUDED: SKLearn*.set_*_request
                    if not owner.__module__.startswith("fastann"):
                        continue  # inherited from another library (scikit-learn's BaseEstimator): its own contract
                    qual = f"{obj.__name__}.{meth_name}"
                    if _excluded(qual):
                        continue
                    if isinstance(static, property):
                        if static.fset is not None:
                            out.append((f"{qual}=", obj.__name__, meth_name))
                    elif callable(getattr(obj, meth_name)):
                        out.append((qual, obj.__name__, meth_name))
            else:
                key = f"{short}.{name}" if mod_name != "fastann" and mod_name != "fastann.models" else name
                if key in EXCLUDED or f"{mod_name}.{name}" in EXCLUDED:
                    continue
                out.append((key, None, obj))
    return out


def _find_class(name):
    for mod_name in MODULES:
        module = importlib.import_module(mod_name)
        obj = getattr(module, name, None)
        if inspect.isclass(obj):
            return obj
    raise LookupError(name)


def _required(qual, cls_name, param, callable_):
    for key in ((qual, param.name), (cls_name, param.name) if cls_name else None):
        if key in REQUIRED:
            return REQUIRED[key]()
    # A method inherited from a base class: its valid values are the base's.
    if cls_name:
        for base in _find_class(cls_name).__mro__[1:]:
            for key in ((f"{base.__name__}.{qual.split('.')[-1]}", param.name), (base.__name__, param.name)):
                if key in REQUIRED and "." in key[0] or (key in REQUIRED and qual.endswith("()")):
                    return REQUIRED[key]()
    if qual.startswith("activations.") and param.name == "x":
        return ACTIVATION_X()
    raise AssertionError(f"{qual}: parameter '{param.name}' has no default; add its valid value to REQUIRED")


def _instance(cls_name):
    """A ready instance of the class whose methods are walked (a trained model for Sequential; a layer in a built
    model, for inputs of 3 features)."""
    if cls_name == "Sequential":
        return _model()
    cls = _find_class(cls_name)
    if cls_name == "Layer":
        cls = layers.Dense
    kwargs = {}
    for p in list(inspect.signature(cls).parameters.values()):
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            kwargs[p.name] = _required(f"{cls.__name__}()", cls.__name__, p, cls)
    obj = cls(**kwargs)
    if isinstance(obj, layers.Layer):
        Sequential([layers.Input((3,)), obj])
    return obj


def _snapshot(obj):
    """What a failed call must leave as it was: for a model its config, weights, compile state and History."""
    if isinstance(obj, Sequential):
        opt = obj.optimizer
        return (json.dumps(obj.get_config(), sort_keys=True), [w.copy() for w in obj.get_weights()],
                obj._core.compiled, None if opt is None else json.dumps(opt.get_config(), sort_keys=True, default=str),
                obj.metrics_names, None if obj.history is None else json.dumps(obj.history.history))
    get_config = getattr(obj, "get_config", None)
    if callable(get_config):
        try:
            return json.dumps(get_config(), sort_keys=True, default=str)
        except Exception:
            return None
    return None


def _same(a, b):
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return len(a) == len(b) and all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))
    return a == b


def _walk(target_id, cls_name, member):
    failures = []
    if cls_name is not None and member is None:  # the constructor
        cls = _find_class(cls_name)
        qual, func_of = f"{cls_name}()", (lambda inst: cls)
        sig = inspect.signature(cls)
        make_instance = None
    elif cls_name is not None:
        qual = f"{cls_name}.{member}"
        static = inspect.getattr_static(_find_class(cls_name), member)
        make_instance = lambda: _instance(cls_name)  # noqa: E731
        if isinstance(static, property):  # a setter: obj.member = value
            def func_of(inst):
                def set_it(value):
                    setattr(inst, member, value)
                return set_it
            sig = inspect.Signature([inspect.Parameter("value", inspect.Parameter.POSITIONAL_OR_KEYWORD)])
            REQUIRED.setdefault((qual + "=", "value"), lambda: getattr(_instance(cls_name), member))
            qual = qual + "="
        else:
            func_of = lambda inst: getattr(inst if not isinstance(static, (classmethod, staticmethod))  # noqa: E731
                                           else _find_class(cls_name), member)
            sig = inspect.signature(getattr(_find_class(cls_name), member))
            if not isinstance(static, (classmethod, staticmethod)):
                sig = sig.replace(parameters=list(sig.parameters.values())[1:])  # self
    else:
        qual, func_of, make_instance = target_id, (lambda inst: member), None
        sig = inspect.signature(member)

    params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    for param in params:
        for value_id, value in WRONG_VALUES:
            inst = make_instance() if make_instance else None
            kwargs = {}
            for p in params:
                if p is param:
                    continue
                if p.default is inspect.Parameter.empty:
                    kwargs[p.name] = (REQUIRED[(qual, p.name)]() if (qual, p.name) in REQUIRED
                                      else _required(qual, cls_name, p, None))
            if qual.startswith("Sequential.") and qual.split(".")[1] in ("fit", "evaluate", "predict"):
                kwargs.setdefault("verbose", 0) if param.name != "verbose" else None
            before = _snapshot(inst) if inst is not None else None
            func = func_of(inst)
            case = f"{qual}({param.name}={value_id})"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a value Keras accepts with a warning (an unknown mode) is accepted
                try:
                    if param.kind is param.POSITIONAL_ONLY:
                        func(value, **kwargs)
                    else:
                        func(**{param.name: value}, **kwargs)
                except (TypeError, ValueError) as e:
                    if any(w in str(e) for w in DUMP_WORDS):
                        failures.append(f"{case}: a pybind11 signature dump: {str(e)[:200]}")
                    elif inst is not None and not _same(before, _snapshot(inst)):
                        failures.append(f"{case}: raised {type(e).__name__} but changed the object")
                except NotImplementedError as e:
                    if "not supported" not in str(e):
                        failures.append(f"{case}: NotImplementedError without 'not supported': {e}")
                except RuntimeError as e:
                    if (qual, param.name) not in DEVICE_PARAMS or any(w in str(e) for w in DUMP_WORDS):
                        failures.append(f"{case}: {type(e).__name__}: {e}")
                except OSError as e:
                    if param.name not in PATH_PARAMS and not any(p.name in PATH_PARAMS for p in params):
                        failures.append(f"{case}: {type(e).__name__}: {e}")
                except Exception as e:  # noqa: BLE001 - the failure to report
                    failures.append(f"{case}: {type(e).__name__}: {str(e)[:200]}")
                else:
                    # Accepted. Where the default says the parameter is a number, these are never one of it.
                    default = param.default
                    numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
                    never = {"str", "object", "list_of_object", "complex", "nan"}
                    if isinstance(default, int) and not isinstance(default, bool) and \
                            (qual, param.name) not in REAL_WITH_INT_DEFAULT:
                        never |= {"2**64", "-2**63-1", "inf"}
                    if numeric and value_id in never:
                        failures.append(f"{case}: accepted for a parameter whose default is {default!r}")
                    # The object must still describe itself in JSON (no object() stored in its config).
                    if inst is not None and hasattr(inst, "get_config"):
                        try:
                            json.dumps(inst.get_config())
                        except Exception as e:  # noqa: BLE001
                            failures.append(f"{case}: accepted, then get_config fails: {type(e).__name__}: {e}")
    return failures


TARGETS = _targets()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the walk saves (and names such as "abc") land in a scratch folder
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # summaries and progress bars of accepted values


@pytest.mark.parametrize("target_id,cls_name,member", TARGETS, ids=[t[0] for t in TARGETS])
def test_wrong_arguments_raise_type_or_value_error(target_id, cls_name, member):
    if (cls_name or "").startswith("SKLearn"):
        pytest.importorskip("sklearn", reason="the scikit-learn wrappers need scikit-learn")
    failures = _walk(target_id, cls_name, member)
    assert not failures, "\n".join(failures)


def test_the_walk_covers_the_public_api():
    ids = {t[0] for t in TARGETS}
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
