"""The model file: round trips (bitwise), resumed training, the safetensors layout, and hostile files.

References are independent of the writer: the `safetensors` package reads the weights, and hostile files are
built here by editing the header JSON and the data section with the standard library.
"""

import json
import os
import struct
import zlib

import numpy as np
import pytest

import fastann
from fastann import _core, optimizers
from fastann.layers import Activation, Dense
from fastann.models import Sequential, load_model

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _textbook(seed=0):
    m = Sequential()
    m.add(Dense(32, input_dim=10, activation="relu", kernel_initializer=fastann.initializers.HeNormal(seed=seed)))
    m.add(Dense(32, activation="tanh"))
    m.add(Dense(1, activation="sigmoid"))
    m.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return m


def _data(n=96, d=10, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32).reshape(-1, 1)
    return x, y


def _split(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _join(header, data, pad=True):
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


# --- round trips ------------------------------------------------------------------------------------------------

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "selu", "gelu", "softplus",
               "swish", "softsign", "hard_sigmoid", "mish", "exponential", "hard_silu"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_save_load_predict_is_bitwise_identical(tmp_path, activation):
    m = Sequential()
    m.add(Dense(17, input_dim=7, activation=activation))
    m.add(Dense(5, activation="linear", use_bias=False))
    m.add(Activation(activation))
    m.compile(loss="mse", optimizer="sgd")
    x = np.random.default_rng(2).standard_normal((33, 7)).astype(np.float32)
    if activation == "exponential":  # e^(W e^(Vx)) at unit-scale inputs overflows: one SGD step then diverges
        x *= 0.25
    m.fit(x, np.zeros((33, 5), np.float32), epochs=1, verbose=0)
    path = tmp_path / "m.fastann"
    m.save(path)
    m2 = load_model(path)
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    assert [lyr.name for lyr in m2.layers] == [lyr.name for lyr in m.layers]
    assert m2.get_config() == m.get_config()
    for a, b in zip(m2.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_keeps_compile_configuration(tmp_path):
    m = _textbook()
    x, y = _data()
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.fastann")
    m2 = load_model(tmp_path / "m.fastann")
    assert m2.metrics_names == ["loss", "accuracy"]
    assert isinstance(m2.optimizer, optimizers.Adam)
    assert m2.optimizer.iterations == m.optimizer.iterations == 3
    assert m2.optimizer.learning_rate == pytest.approx(0.001, rel=0, abs=0)
    np.testing.assert_array_equal(m2.evaluate(x, y, verbose=0), m.evaluate(x, y, verbose=0))
    assert m2.name == m.name


OPTIMIZERS = [
    lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    lambda: optimizers.SGD(learning_rate=0.05),
    lambda: optimizers.Adam(learning_rate=0.01),
    lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.01),
    lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adagrad(learning_rate=0.05),
]


@pytest.mark.parametrize("make_opt", OPTIMIZERS)
def test_resumed_fit_equals_uninterrupted_fit(tmp_path, make_opt):
    x, y = _data()
    a = _textbook()
    a.compile(loss="binary_crossentropy", optimizer=make_opt(), metrics=["accuracy"])
    b = _textbook()
    b.compile(loss="binary_crossentropy", optimizer=make_opt(), metrics=["accuracy"])
    b.set_weights(a.get_weights())

    a.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    b.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    b.save(tmp_path / "b.fastann")
    c = load_model(tmp_path / "b.fastann")
    c.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert c.optimizer.iterations == a.optimizer.iterations == 24
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wc)


def test_without_optimizer_state_training_restarts_the_optimizer(tmp_path):
    # The counterpart of the test above: Adam's moments are what make the resumed run identical.
    x, y = _data()
    a = _textbook()
    a.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    a.save(tmp_path / "with.fastann")
    a.save(tmp_path / "without.fastann", include_optimizer=False)
    with_state = load_model(tmp_path / "with.fastann")
    without = load_model(tmp_path / "without.fastann")
    assert without.optimizer.iterations == 0
    with_state.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    without.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert not np.array_equal(with_state.get_weights()[0], without.get_weights()[0])


def test_safetensors_reads_the_weights_with_keras_names(tmp_path):
    m = _textbook()
    x, y = _data()
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.fastann")
    tensors = safetensors_numpy.load_file(str(tmp_path / "m.fastann"))
    weights = m.get_weights()
    layer_names = [lyr.name for lyr in m.layers]
    expected = {}
    for i, lname in enumerate(layer_names):
        expected[f"{lname}/kernel"] = weights[2 * i]
        expected[f"{lname}/bias"] = weights[2 * i + 1]
    for name, w in expected.items():
        assert tensors[name].dtype == np.float32
        assert tensors[name].shape == w.shape
        np.testing.assert_array_equal(tensors[name], w)
    slots = sorted(k for k in tensors if k.startswith("optimizer/"))
    assert slots == sorted(f"optimizer/{n}/{s}" for n in expected for s in ("momentum", "velocity"))
    header, _ = _split(tmp_path / "m.fastann")
    meta = header["__metadata__"]
    assert meta["format"] == "fastann.model" and meta["format_version"] == "1"
    assert json.loads(meta["config"])["layers"][0]["config"]["units"] == 32


def test_unbuilt_and_uncompiled_models_round_trip(tmp_path):
    m = Sequential([Dense(4, activation="relu"), Dense(2)])
    m.save(tmp_path / "u.fastann")
    m2 = load_model(tmp_path / "u.fastann")
    assert not m2.built and m2.optimizer is None and len(m2.layers) == 2
    x = np.ones((3, 6), np.float32)
    assert m2.predict(x, verbose=0).shape == (3, 2)


def test_load_model_compile_false_gives_an_uncompiled_copy(tmp_path):
    m = _textbook()
    m.save(tmp_path / "m.fastann")
    m2 = load_model(tmp_path / "m.fastann", compile=False)
    assert m2.optimizer is None
    with pytest.raises(RuntimeError, match="compile"):
        m2.evaluate(*_data())
    x, _ = _data()
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))


def test_save_weights_and_load_weights(tmp_path):
    a, b = _textbook(seed=1), _textbook(seed=2)
    a.save_weights(tmp_path / "w.fastann")
    b.load_weights(tmp_path / "w.fastann")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    other = Sequential([Dense(3, input_dim=10)])
    with pytest.raises(ValueError, match="weight arrays"):
        other.load_weights(tmp_path / "w.fastann")


def test_save_is_atomic_and_respects_overwrite(tmp_path):
    m = _textbook()
    path = tmp_path / "m.fastann"
    m.save(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        m.save(path, overwrite=False)
    assert path.read_bytes() == before
    m.fit(*_data(), epochs=1, verbose=0)
    m.save(path)
    assert path.read_bytes() != before
    assert sorted(os.listdir(tmp_path)) == ["m.fastann"]  # no temporary file left behind
    with pytest.raises(OSError, match="cannot write"):
        m.save(tmp_path / "no-such-dir" / "m.fastann")


def test_bytes_round_trip_matches_the_file(tmp_path):
    m = _textbook()
    m.save(tmp_path / "m.fastann")
    assert _core.serialize_model(m._core, True) == (tmp_path / "m.fastann").read_bytes()


# --- hostile files ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    m = Sequential([Dense(3, input_dim=2, activation="relu", name="hidden"),
                    Dense(1, activation="sigmoid", name="out")])
    m.compile(loss="binary_crossentropy", optimizer="sgd")
    path = tmp_path_factory.mktemp("hostile") / "small.fastann"
    m.save(path)
    return path


def _load_bytes(raw):
    return _core.load_model_from_bytes(raw)


def test_truncated_at_every_byte_offset_is_rejected(small_file):
    raw = small_file.read_bytes()
    assert len(raw) < 4096
    for cut in range(len(raw)):
        with pytest.raises(OSError):
            _load_bytes(raw[:cut])
    _load_bytes(raw)  # the whole file still loads


def test_every_single_byte_corruption_is_rejected_or_harmless(small_file):
    # Flipping any byte either is caught (header JSON, offsets, CRC-32 of the data) or leaves a valid header with
    # a different but still well-formed value; it never crashes. Data bytes are all covered by the checksum.
    raw = bytearray(small_file.read_bytes())
    (n,) = struct.unpack("<Q", bytes(raw[:8]))
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x5A
        if i >= 8 + n:
            with pytest.raises(OSError, match="CRC-32"):
                _load_bytes(bytes(bad))
        else:
            try:
                _load_bytes(bytes(bad))
            except (OSError, ValueError):
                pass


@pytest.mark.parametrize("case,match", [
    ("header_len_beyond_file", "runs past the end"),
    ("header_len_huge", "runs past the end"),
    ("bad_json", "invalid JSON"),
    ("header_not_object", "expected an object"),
    ("wrong_dtype", "dtype F64 is not supported"),
    ("shape_size_mismatch", "needs"),
    ("offsets_overlap", "overlap"),
    ("offsets_gap", "gap"),
    ("offsets_out_of_range", r"data_offsets\[1\]"),
    ("offsets_reversed", "end before begin"),
    ("absurd_shape", "shape too large|needs"),
    ("absurd_units", "has shape|missing"),
    ("missing_tensor", "missing"),
    ("extra_tensor", "unexpected tensor"),
    ("newer_version", "newer than this fastann reads"),
    ("foreign_format", "not a fastann model"),
    ("no_metadata", "not a fastann model"),
    ("crc_mismatch", "CRC-32"),
    ("config_bad_json", "model config: invalid JSON"),
    ("config_unknown_activation", "unknown activation"),
    ("config_unknown_layer", "unknown layer type"),
    ("deep_nesting", "nesting deeper"),
])
def test_hostile_files_are_rejected_with_a_clear_error(small_file, tmp_path, case, match):
    header, data = _split(small_file)
    meta = header["__metadata__"]
    config = json.loads(meta["config"])
    kernel = header["hidden/kernel"]
    raw = None
    if case == "header_len_beyond_file":
        raw = small_file.read_bytes()
        raw = struct.pack("<Q", len(raw)) + raw[8:]
    elif case == "header_len_huge":
        raw = struct.pack("<Q", 2 ** 63) + small_file.read_bytes()[8:]
    elif case == "bad_json":
        text = b'{"__metadata__": {"format": "fastann.model",'
        raw = struct.pack("<Q", len(text)) + text
    elif case == "header_not_object":
        text = b"[1, 2, 3]"
        raw = struct.pack("<Q", len(text)) + text
    elif case == "wrong_dtype":
        kernel["dtype"] = "F64"
    elif case == "shape_size_mismatch":
        kernel["shape"] = [2, 4]
    elif case == "offsets_overlap":
        header["hidden/bias"]["data_offsets"] = [0, 12]
    elif case == "offsets_gap":
        data = data + b"\0" * 4
        meta["data_crc32"] = f"{zlib.crc32(data):08x}"
        for k, v in header.items():
            if k != "__metadata__" and v["data_offsets"][0] > 0:
                v["data_offsets"] = [v["data_offsets"][0] + 4, v["data_offsets"][1] + 4]
    elif case == "offsets_out_of_range":
        last = max((v for k, v in header.items() if k != "__metadata__"), key=lambda v: v["data_offsets"][1])
        last["data_offsets"][1] += 1 << 40
    elif case == "offsets_reversed":
        kernel["data_offsets"] = kernel["data_offsets"][::-1]
    elif case == "absurd_shape":
        kernel["shape"] = [2 ** 40, 2 ** 40]
    elif case == "absurd_units":
        config["layers"][0]["config"]["units"] = 10 ** 12
    elif case == "missing_tensor":
        # Drop the last tensor in the data section (shortening the data keeps the offsets consistent).
        name, last = max(((k, v) for k, v in header.items() if k != "__metadata__"),
                         key=lambda kv: kv[1]["data_offsets"][1])
        del header[name]
        data = data[:last["data_offsets"][0]]
        meta["data_crc32"] = f"{zlib.crc32(data):08x}"
    elif case == "extra_tensor":
        header["surprise"] = {"dtype": "F32", "shape": [1], "data_offsets": [len(data), len(data) + 4]}
        data = data + b"\0" * 4
        meta["data_crc32"] = f"{zlib.crc32(data):08x}"
    elif case == "newer_version":
        meta["format_version"] = "99"
    elif case == "foreign_format":
        meta["format"] = "pt"
    elif case == "no_metadata":
        del header["__metadata__"]
    elif case == "crc_mismatch":
        data = bytes([data[0] ^ 1]) + data[1:]
    elif case == "config_bad_json":
        meta["config"] = meta["config"][:-5]
    elif case == "config_unknown_activation":
        config["layers"][0]["config"]["activation"] = "nope"
    elif case == "config_unknown_layer":
        config["layers"][0]["class_name"] = "Conv2D"
    elif case == "deep_nesting":
        meta["config"] = "[" * 10000 + "]" * 10000
    if raw is None:
        if case not in ("config_bad_json", "deep_nesting"):
            meta["config"] = json.dumps(config)
        raw = _join(header, data)
    with pytest.raises(OSError, match=match):
        _load_bytes(raw)
    path = tmp_path / "hostile.fastann"
    path.write_bytes(raw)
    with pytest.raises(OSError, match=match):
        load_model(path)


def test_a_plain_safetensors_file_is_rejected(tmp_path):
    path = tmp_path / "foreign.safetensors"
    safetensors_numpy.save_file({"w": np.zeros((2, 2), np.float32)}, str(path))
    with pytest.raises(OSError, match="not a fastann model"):
        load_model(path)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError, match="cannot open"):
        load_model(tmp_path / "absent.fastann")


def test_hostile_file_does_not_change_the_global_random_stream(small_file):
    # Loading builds the model with a fixed seed, so it does not consume the global generator.
    fastann.utils.set_random_seed(5)
    a = Sequential([Dense(3, input_dim=2)]).get_weights()
    fastann.utils.set_random_seed(5)
    load_model(small_file)
    b = Sequential([Dense(3, input_dim=2)]).get_weights()
    np.testing.assert_array_equal(a[0], b[0])
