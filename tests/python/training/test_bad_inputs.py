"""Every bad input listed in tests/README.md ("Bad inputs and the errors they get"), each with the exception type and
the words of its message. A test at the end keeps that table and this list in step."""

import pathlib
import re

import numpy as np
import pytest

import fastann
from fastann.layers import Dense
from fastann.models import Sequential


def _clf():
    m = Sequential([Dense(4, input_dim=3, activation="relu", name="hidden"), Dense(2, activation="softmax")])
    m.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return m


def _sparse():
    m = Sequential([Dense(3, input_dim=3, activation="softmax")])
    m.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    return m


X = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
Y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]


def _nan_x():
    x = X.copy()
    x[2, 1] = np.nan
    return x


# (id, call, exception, message regex)
CASES = [
    ("x_wrong_ndim", lambda: _clf().fit(X.reshape(4, 3, 1), Y, verbose=0), ValueError,
     r"x must be 2-D \(samples, features\), got shape \(4, 3, 1\)"),
    ("x_wrong_features", lambda: _clf().fit(np.ones((4, 5)), Y, verbose=0), ValueError,
     r"x has 5 features but the model expects 3"),
    ("predict_wrong_features", lambda: _clf().predict(np.ones((2, 4)), verbose=0), ValueError,
     r"predict: x has 4 features but the model expects 3"),
    ("xy_length_mismatch", lambda: _clf().fit(X, Y[:3], verbose=0), ValueError,
     r"x and y have different numbers of samples: 4 and 3"),
    ("y_scalar", lambda: _clf().fit(X, 1.0, verbose=0), ValueError,  # found by tests/fuzz/fuzz_api.py
     r"fit: y must hold one target per sample, got a scalar"),
    ("empty_data", lambda: _clf().fit(X[:0], Y[:0], verbose=0), ValueError, r"fit: x is empty"),
    ("batch_size_zero", lambda: _clf().fit(X, Y, batch_size=0, verbose=0), ValueError,
     r"batch_size must be a positive integer, got 0"),
    ("batch_size_float", lambda: _clf().fit(X, Y, batch_size=2.5, verbose=0), ValueError,
     r"batch_size must be a positive integer, got 2.5"),
    ("epochs_negative", lambda: _clf().fit(X, Y, epochs=-1, verbose=0), ValueError,
     r"epochs must be a non-negative integer, got -1"),
    ("validation_split_out_of_range", lambda: _clf().fit(X, Y, validation_split=1.5, verbose=0), ValueError,
     r"validation_split must be in \[0, 1\), got 1.5"),
    ("verbose_invalid", lambda: _clf().fit(X, Y, verbose=3), ValueError, r"verbose must be 'auto', 0, 1 or 2"),
    ("fit_unknown_argument", lambda: _clf().fit(X, Y, epoch=3), TypeError, r"fit got unexpected arguments: epoch"),
    ("sparse_label_out_of_range", lambda: _sparse().fit(X, np.array([0, 1, 2, 5]), verbose=0), ValueError,
     r"label 5 at row 3 is not a class index in \[0, 3\)"),
    ("sparse_label_negative", lambda: _sparse().evaluate(X, np.array([0, -1, 2, 1]), verbose=0), ValueError,
     r"label -1 at row 1 is not a class index"),
    ("sparse_label_fractional", lambda: _sparse().evaluate(X, np.array([0, 1.5, 2, 1]), verbose=0), ValueError,
     r"label 1.5 at row 1 is not a class index"),
    ("one_hot_wrong_width", lambda: _clf().fit(X, np.ones((4, 4)), verbose=0), ValueError,
     r"y must have shape \(4, 2\) to match the model's output, got \(4, 4\)"),
    ("nan_in_x", lambda: _clf().fit(_nan_x(), Y, verbose=0), ValueError, r"x contains NaN at row 2, column 1"),
    ("inf_in_y", lambda: _clf().evaluate(X, np.where(Y > 0, np.inf, 0), verbose=0), ValueError,
     r"evaluate: y contains infinity at row 0, column 0"),
    ("string_array", lambda: _clf().fit(np.array([["a", "b", "c"]] * 4), Y, verbose=0), TypeError,
     r"x must contain numbers \(bool, int or float\), got dtype <U1"),
    ("object_array", lambda: _clf().fit(np.array([[1, 2, None]] * 4, dtype=object), Y, verbose=0), TypeError,
     r"x must contain numbers .* got dtype object"),
    ("ragged_list", lambda: _clf().predict([[1, 2, 3], [4]], verbose=0), TypeError,
     r"x must be array-like of numbers"),
    ("unknown_activation", lambda: Dense(3, activation="relux"), ValueError,
     r"unknown activation 'relux'; valid activations: linear, relu, sigmoid"),
    ("unknown_initializer", lambda: Dense(3, kernel_initializer="foo"), ValueError,
     r"unknown initializer 'foo'; valid initializers: glorot_uniform"),
    ("unknown_loss", lambda: _clf().compile(loss="msee", optimizer="adam"), ValueError,
     r"unknown loss 'msee'; valid losses: mean_squared_error"),
    ("unknown_optimizer", lambda: _clf().compile(loss="mse", optimizer="adamm"), ValueError,
     r"unknown optimizer 'adamm'; valid optimizers: sgd, adam, adamw, rmsprop, adagrad"),
    ("unknown_metric", lambda: _clf().compile(loss="mse", optimizer="adam", metrics=["f1"]), ValueError,
     r"unknown metric 'f1'; valid metrics: accuracy"),
    ("sample_weight_wrong_length", lambda: _clf().fit(X, Y, sample_weight=[1, 2], verbose=0), ValueError,
     r"fit: sample_weight must have shape \(4,\), one weight per sample, got shape \(2,\)"),
    ("sample_weight_negative", lambda: _clf().fit(X, Y, sample_weight=[1, 1, -0.5, 1], verbose=0), ValueError,
     r"fit: sample_weight must hold finite weights >= 0, got -0.5 at row 2"),
    ("class_and_sample_weight", lambda: _clf().fit(X, Y, sample_weight=[1] * 4, class_weight={0: 2}, verbose=0),
     ValueError, r"fit: class_weight and sample_weight cannot be given together"),
    ("class_weight_unknown_class", lambda: _clf().fit(X, Y, class_weight={2: 1.0}, verbose=0), ValueError,
     r"fit: class_weight key 2 is not a class index of this model \(0..1\)"),
    ("class_weight_negative", lambda: _clf().fit(X, Y, class_weight={1: -1.0}, verbose=0), ValueError,
     r"fit: class_weight for class 1 must be finite and >= 0, got -1"),
    ("sparse_metric_one_hot_loss", lambda: _clf().compile(loss="categorical_crossentropy",
                                                          metrics=["sparse_top_k_categorical_accuracy"]),
     ValueError, r"metric 'sparse_top_k_categorical_accuracy' needs class-index targets"),
    ("fit_before_compile", lambda: Sequential([Dense(2, input_dim=3)]).fit(X, Y, verbose=0), RuntimeError,
     r"you must compile the model before training it"),
    ("evaluate_before_compile", lambda: Sequential([Dense(2, input_dim=3)]).evaluate(X, Y, verbose=0),
     RuntimeError, r"you must compile the model before evaluating it"),
    ("predict_without_layers", lambda: Sequential().predict(X, verbose=0), RuntimeError,
     r"the model has no layers"),
    ("set_weights_before_build", lambda: Sequential([Dense(2)]).set_weights([]), RuntimeError,
     r"set_weights: the model is not built yet"),
    ("set_weights_wrong_count", lambda: _clf().set_weights([np.ones((3, 4))]), ValueError,
     r"set_weights: the model has 4 weight arrays, got 1"),
    ("set_weights_wrong_shape", lambda: _clf().set_weights([np.ones((4, 3)), np.ones(4), np.ones((4, 2)),
                                                            np.ones(2)]), ValueError,
     r"weight 0 \(layer 'hidden'\) must have shape \(3, 4\), got \(4, 3\)"),
    ("layer_added_twice", lambda: (lambda d: Sequential([d, d]))(Dense(2, input_dim=3)), ValueError,
     r"is already part of a model"),
    ("not_a_layer", lambda: Sequential().add("dense"), TypeError, r"Sequential.add expects a fastann layer"),
    ("units_not_positive", lambda: Dense(0), ValueError, r"Dense: units must be a positive integer, got 0"),
    ("impossible_allocation", lambda: Sequential([Dense(10 ** 9, input_dim=10 ** 4)]), MemoryError,
     r"out of memory: the model's weights, gradients and state need [\d.e+]+ GiB \(10001000000000 parameters; the "
     r"largest weight: Dense '\w+' kernel of shape \(10000, 1000000000\)\), but only [\d.e+]+ GiB"),
    ("cuda_device_unusable", lambda: _clf().compile(loss="mse", optimizer="adam", device="cuda:99"), RuntimeError,
     r"device 'cuda:99' was requested, but (this fastann was built without the CUDA backend|no CUDA device is "
     r"available|this machine has \d+ CUDA device)"),
    ("device_unknown", lambda: _clf().compile(loss="mse", optimizer="adam", device="tpu"), ValueError,
     r"invalid device 'tpu': expected 'cpu', 'cuda' or 'cuda:N'"),
    ("threads_not_positive", lambda: fastann.set_num_threads(0), ValueError,
     r"set_num_threads: n must be an integer in \[1, 2147483647\], got 0"),
    ("model_file_missing", lambda: fastann.models.load_model("/nonexistent/model.fastann"), FileNotFoundError,
     r"\[Errno 2\] cannot open model file: No such file or directory: '/nonexistent/model.fastann'"),
    ("model_file_not_a_model", lambda: fastann._core.load_model_from_bytes(b"\x10" + b"\0" * 7 + b"not json........"),
     OSError, r"model file header: invalid JSON at byte 1"),
    ("export_unknown_format", lambda: _clf().export("m.xyz", format="tflite"), ValueError, r"tflite"),
]


@pytest.mark.parametrize("case_id,call,exc,match", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(case_id, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("layout", ["fortran", "strided", "float64", "int64", "bool", "list"])
def test_other_layouts_and_dtypes_are_converted_correctly(layout):
    m = _clf()
    base = np.asfortranarray(np.arange(30, dtype=np.float64).reshape(10, 3) % 4)
    expected = m.predict(np.ascontiguousarray(base, dtype=np.float32), verbose=0)
    x = {"fortran": np.asfortranarray(base.astype(np.float32)),
         "strided": np.repeat(base.astype(np.float32), 2, axis=0)[::2],
         "float64": base,
         "int64": base.astype(np.int64),
         "bool": base.astype(bool),
         "list": base.tolist()}[layout]
    if layout == "bool":
        expected = m.predict(base.astype(bool).astype(np.float32), verbose=0)
    np.testing.assert_array_equal(m.predict(x, verbose=0), expected)
    m.fit(x, np.eye(2)[np.arange(10) % 2], epochs=1, verbose=0)  # and fit takes it too


def test_the_readme_table_lists_every_case():
    table = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_0-9]+)` \|", table, flags=re.M))
    assert listed == {c[0] for c in CASES}
