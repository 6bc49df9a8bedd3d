"""Flatten, the first N-D layer: N-D inputs through Flatten into Dense (which maps the last axis,
as Keras's Dense does) train, predict, save and load. References: a NumPy float64 forward pass and a NumPy float64
gradient step; tolerances from float32 (eps32 = 2**-23) over sums of at most 225 terms: rtol 1e-5 / atol 1e-6."""

import numpy as np

import fastann
from fastann.layers import Dense, Flatten, Input
from fastann.models import Sequential, load_model

RTOL, ATOL = 1e-5, 1e-6


def _mlp_on_images(seed=0):
    model = Sequential([Input(shape=(15, 15)), Flatten(), Dense(8, activation="relu"), Dense(1)])
    model.compile(optimizer=fastann.optimizers.SGD(learning_rate=0.01), loss="mse")
    return model


def test_flatten_on_images_trains_predicts_and_saves(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 15, 15)).astype(np.float32)
    y = (x.reshape(64, -1)[:, :5].sum(1, keepdims=True) * 0.1).astype(np.float32)
    model = _mlp_on_images()
    assert model.input_shape == (None, 15, 15)
    assert model.layers[0].output_shape == (None, 225)
    assert model.count_params() == 225 * 8 + 8 + 8 + 1
    hist = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    k1, b1, k2, b2 = (w.astype(np.float64) for w in model.get_weights())
    ref = np.maximum(x.reshape(64, -1).astype(np.float64) @ k1 + b1, 0) @ k2 + b2
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(pred, ref, rtol=RTOL, atol=ATOL)
    path = tmp_path / "images.fastann"
    model.save(path)
    loaded = load_model(path)
    assert loaded.input_shape == (None, 15, 15)
    assert [type(layer).__name__ for layer in loaded.layers] == ["Flatten", "Dense", "Dense"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), pred)
    # Training goes on from the file as from the model (same optimizer state, same batches).
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)



def test_flatten_first_with_input_shape_as_the_keras_quickstart():
    model = Sequential([Flatten(input_shape=(28, 28)), Dense(16, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(2)
    x = rng.random((50, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 50)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.predict(x[:3], verbose=0).shape == (3, 10)
    np.testing.assert_allclose(model.predict(x[:3], verbose=0).sum(1), 1.0, rtol=1e-6)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0
    config = model.get_config()
    assert config["build_input_shape"] == [None, 28, 28]
    again = Sequential.from_config(config)
    assert again.input_shape == (None, 28, 28) and again.count_params() == model.count_params()
