"""ONNX export (model.export(path, format="onnx")): the exported graph, run by onnxruntime, gives model.predict's
outputs.

Tolerance: atol=1e-5, rtol=1e-5. Both sides compute in float32, but onnxruntime's Gemm (MLAS) sums the dot
products in a different order than fastann's GEMM and its exp/erf/tanh are different float32 implementations, so
results differ by a few ulps per layer (each output of a k-term dot product: error <= k * 2^-24 * sum|x||w|, about
1e-6 for these layer sizes and magnitudes). A wrong operator or parameter (LeakyRelu's ONNX default alpha 0.01 for
the core's 0.2, the tanh-approximate GELU for the exact one, a dropped bias) is off by 1e-3 or more.
"""

import errno
import json
import os
import resource
import sys

import numpy as np
import pytest

from fastann import activations
from fastann.layers import Activation, Dense
from fastann.models import Sequential, load_model

TOL = dict(atol=1e-5, rtol=1e-5)
BATCHES = (1, 17, 256)


@pytest.fixture(scope="module")
def onnx():
    return pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def ort():
    return pytest.importorskip("onnxruntime")


def run_onnx(ort, path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["output"], {"input": np.asarray(x, np.float32)})[0]


def randomize(model, rng, scale=1.0):
    """Random kernels and non-zero biases, so that a dropped or misplaced bias shows."""
    model.set_weights([rng.standard_normal(w.shape) * (scale / np.sqrt(w.shape[0]) if w.ndim == 2 else 0.5)
                       for w in model.get_weights()])


def assert_matches_predict(ort, model, path, rng, features, scale=1.0):
    for n in BATCHES:
        x = (rng.standard_normal((n, features)) * scale).astype(np.float32)
        expected = model.predict(x, verbose=0)
        got = run_onnx(ort, path, x)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **TOL)


def test_textbook_model_matches_predict(onnx, ort, tmp_path):
    rng = np.random.default_rng(0)
    model = Sequential()
    model.add(Dense(32, input_dim=10, activation="relu"))
    model.add(Dense(32, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    x = rng.random((200, 10)).astype(np.float32)
    y = rng.integers(0, 2, size=(200, 1)).astype(np.float32)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, seed=1)
    path = tmp_path / "textbook.onnx"
    model.export(str(path), format="onnx")
    np.testing.assert_allclose(run_onnx(ort, path, x), model.predict(x, verbose=0), **TOL)
    assert_matches_predict(ort, model, path, rng, 10)


def test_softmax_classifier_matches_predict(onnx, ort, tmp_path):
    rng = np.random.default_rng(1)
    model = Sequential([Dense(64, input_dim=20, activation="tanh"), Dense(5), Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    x = rng.standard_normal((300, 20)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 300)]
    model.fit(x, y, epochs=2, verbose=0, seed=1)
    randomize(model, rng, scale=3.0)  # peaked probabilities, not all near 1/5
    path = tmp_path / "classifier.onnx"
    model.export(path)  # format defaults to "onnx"; a pathlib.Path works
    got = run_onnx(ort, path, x)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, **TOL)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert got.max() > 0.9  # the test exercises confident rows too
    assert_matches_predict(ort, model, path, rng, 20)


@pytest.mark.parametrize("act", activations._NAMES)
def test_every_activation_matches_predict(onnx, ort, tmp_path, act):
    # The activation both fused into a Dense layer and as an Activation layer; pre-activations span about
    # [-8, 8] so that both branches of the piecewise functions and the saturated tails are exercised.
    # exponential turns its input's absolute error into a relative one (e^(z + d) = e^z (1 + d)): at that spread
    # the second one's inputs reach the thousands and rtol would measure the GEMMs' summation order, not the node;
    # a quarter of the spread keeps its inputs within a few units.
    scale = 0.5 if act == "exponential" else 2.0
    rng = np.random.default_rng(2)
    model = Sequential([Dense(16, input_dim=8, activation=act), Dense(6), Activation(act)])
    randomize(model, rng, scale=scale)
    path = tmp_path / f"{act}.onnx"
    model.export(path)
    assert_matches_predict(ort, model, path, rng, 8, scale=scale)


def test_mish_native_operator_at_opset_18(onnx, ort, tmp_path):
    rng = np.random.default_rng(5)
    model = Sequential([Dense(16, input_dim=8, activation="mish"), Dense(6), Activation("mish")])
    randomize(model, rng, scale=2.0)
    path = tmp_path / "mish18.onnx"
    model.export(path, opset=18)
    assert "Mish" in [node.op_type for node in onnx.load(str(path)).graph.node]
    assert_matches_predict(ort, model, path, rng, 8, scale=2.0)


def test_gelu_native_operator_at_opset_20(onnx, ort, tmp_path):
    if tuple(int(p) for p in ort.__version__.split(".")[:2]) < (1, 17):
        pytest.skip("onnxruntime < 1.17 does not run opset 20")
    rng = np.random.default_rng(3)
    model = Sequential([Dense(16, input_dim=8, activation="gelu"), Dense(4, activation="gelu")])
    randomize(model, rng, scale=2.0)
    path = tmp_path / "gelu20.onnx"
    model.export(path, opset=20)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("Gelu") == 2 and "Erf" not in ops
    assert_matches_predict(ort, model, path, rng, 8, scale=2.0)
    model.export(path, opset=17)  # composed from Erf below opset 20
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "Gelu" not in ops and ops.count("Erf") == 2
    assert_matches_predict(ort, model, path, rng, 8, scale=2.0)


def test_non_default_alpha_from_a_model_file(onnx, ort, tmp_path):
    # A model file (e.g. written by C++) can carry leaky_relu/elu alphas other than the defaults; the Python API has
    # no argument for them, so the layers are given the alpha the way load_model does (Layer._alpha).
    rng = np.random.default_rng(7)
    dense, act = Dense(6, input_dim=4, activation="leaky_relu"), Activation("elu")
    dense._alpha, act._alpha = 0.05, 0.5
    saved = Sequential([dense, act])
    randomize(saved, rng, scale=2.0)
    saved.save(tmp_path / "m.fastann")
    model = load_model(tmp_path / "m.fastann")
    entries = json.loads(model._core.config_json())["layers"]
    assert [e["config"]["activation_alpha"] for e in entries] == [0.05, 0.5]
    default = Sequential([Dense(6, input_dim=4, activation="leaky_relu"), Activation("elu")])
    default.set_weights(model.get_weights())
    x = (rng.standard_normal((64, 4)) * 2).astype(np.float32)
    assert np.abs(model.predict(x, verbose=0) - default.predict(x, verbose=0)).max() > 0.1  # the alphas matter
    path = tmp_path / "alpha.onnx"
    model.export(path)
    alphas = {n.op_type: onnx.helper.get_attribute_value(n.attribute[0]) for n in onnx.load(str(path)).graph.node
              if n.op_type in ("LeakyRelu", "Elu")}
    assert alphas == pytest.approx({"LeakyRelu": 0.05, "Elu": 0.5})
    assert_matches_predict(ort, model, path, rng, 4, scale=2.0)


def test_no_bias_and_leading_activation_layer(onnx, ort, tmp_path):
    rng = np.random.default_rng(4)
    model = Sequential([Activation("relu", input_dim=5), Dense(7, use_bias=False, activation="elu"), Dense(3)])
    randomize(model, rng)
    path = tmp_path / "nobias.onnx"
    model.export(path)
    gemms = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Gemm"]
    assert [len(n.input) for n in gemms] == [2, 3]
    assert_matches_predict(ort, model, path, rng, 5)


def test_model_without_weights_is_identity(onnx, ort, tmp_path):
    model = Sequential([Activation("linear", input_dim=3)])
    path = tmp_path / "identity.onnx"
    model.export(path)
    x = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_onnx(ort, path, x), x)


def test_graph_signature_and_checker(onnx, tmp_path):
    model = Sequential([Dense(8, input_dim=4, activation="swish"), Dense(2, activation="softmax")], name="clf")
    path = tmp_path / "sig.onnx"
    model.export(path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "input" and out.name == "output"
    for value, features in ((inp, 4), (out, 2)):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        batch, feat = value.type.tensor_type.shape.dim
        assert batch.dim_param == "batch" and feat.dim_value == features
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    assert proto.producer_name == "fastann" and proto.graph.name == "clf"
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Sigmoid", "Mul", "Gemm", "Softmax"]
    softmax = proto.graph.node[-1]
    assert [(a.name, a.i) for a in softmax.attribute] == [("axis", -1)]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    names = [f"{layer.name}/{w}" for layer in model.layers for w in ("kernel", "bias")]
    assert sorted(inits) == sorted(names)
    for name, w in zip(names, model.get_weights()):
        np.testing.assert_array_equal(inits[name], w)


def test_unbuilt_model_raises(tmp_path):
    path = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(4), Dense(2)]).export(path)
    with pytest.raises(ValueError, match="not built"):
        Sequential().export(path)
    assert not path.exists()


def test_unknown_format_raises(tmp_path):
    model = Sequential([Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="valid formats: 'onnx'"):
        model.export(tmp_path / "m.tflite", format="tflite")
    with pytest.raises(TypeError):
        model.export(tmp_path / "m.onnx", opset_versions=17)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("opset", [12, 10_000, "17", True, 17.0])
def test_bad_opset_raises(onnx, tmp_path, opset):
    with pytest.raises(ValueError, match="opset must be"):
        Sequential([Dense(2, input_dim=3)]).export(tmp_path / "m.onnx", opset=opset)


def test_missing_onnx_package_message(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r"ONNX export needs the 'onnx' package: pip install fastann\[onnx\]"):
        Sequential([Dense(2, input_dim=3)]).export(tmp_path / "m.onnx")


def test_export_replaces_file_atomically(onnx, ort, tmp_path):
    rng = np.random.default_rng(6)
    model = Sequential([Dense(3, input_dim=2, activation="tanh")])
    randomize(model, rng)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old contents")
    model.export(path)
    assert os.listdir(tmp_path) == ["m.onnx"]  # no temporary file left behind
    assert_matches_predict(ort, model, path, rng, 2)
    good = path.read_bytes()

    # A failed write (past the file-size limit: EFBIG) leaves the old file and no temporary file; the writer is the
    # model file's (tests/python/reliability/test_files.py tests it further).
    randomize(model, rng)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(good) // 2, hard))  # SIGXFSZ is ignored by Python
    try:
        with pytest.raises(OSError) as e:
            model.export(path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert e.value.errno == errno.EFBIG
    assert os.listdir(tmp_path) == ["m.onnx"] and path.read_bytes() == good
    with pytest.raises(FileNotFoundError):
        model.export(tmp_path / "missing" / "m.onnx")


def test_dropout_and_batch_normalization_match_predict(onnx, ort, tmp_path):
    """Dropout exports as the identity, BatchNormalization as the ONNX operator with the moving statistics (after
    training, so they are not the initial 0 / 1), with and without gamma/beta."""
    from fastann.layers import BatchNormalization, Dropout, Input
    rng = np.random.default_rng(7)
    model = Sequential([Input(shape=(6,)), Dense(16, activation="relu"), BatchNormalization(momentum=0.8),
                        Dropout(0.4, seed=3), Dense(8), BatchNormalization(center=False, scale=False, epsilon=0.01),
                        Activation("tanh"), Dense(3), Dropout(0.2, seed=4)])  # a trailing Dropout too
    model.compile(loss="mse", optimizer="adam")
    x = rng.standard_normal((256, 6)).astype(np.float32) * 2 + 1
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 256)]
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, seed=2)
    bn = model.layers[1]
    assert np.abs(bn.moving_mean).max() > 0.05 and np.abs(bn.moving_variance - 1).max() > 0.05
    path = tmp_path / "bn_dropout.onnx"
    model.export(str(path), format="onnx")
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("BatchNormalization") == 2 and "Dropout" not in ops
    assert_matches_predict(ort, model, path, rng, 6, scale=2.0)


def test_model_of_only_dropout_is_identity(onnx, ort, tmp_path):
    from fastann.layers import Dropout
    model = Sequential([Dropout(0.5, input_dim=4)])
    path = tmp_path / "dropout.onnx"
    model.export(str(path), format="onnx")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(run_onnx(ort, path, x), x)
