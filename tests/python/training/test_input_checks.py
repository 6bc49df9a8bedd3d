"""NaN and infinity in the data are rejected by default with the row and column named; the check can be turned off."""

import numpy as np
import pytest

import fastann
from fastann.layers import Dense
from fastann.models import Sequential


@pytest.fixture
def model():
    m = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(2, activation="softmax")])
    m.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return m


def _xy(n=50):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    return x, y


@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
def test_non_finite_x_is_rejected_with_its_position(model, bad, word):
    x, y = _xy()
    x[17, 2] = bad
    before = model.get_weights()
    with pytest.raises(ValueError, match=rf"fit: x contains {word} at row 17, column 2"):
        model.fit(x, y, verbose=0)
    for a, b in zip(before, model.get_weights()):  # nothing was trained
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=rf"evaluate: x contains {word} at row 17, column 2"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=rf"train_on_batch: x contains {word} at row 17"):
        model.train_on_batch(x, y)


def test_non_finite_y_and_validation_data_are_rejected(model):
    x, y = _xy()
    y[3, 1] = np.nan
    with pytest.raises(ValueError, match="fit: y contains NaN at row 3, column 1"):
        model.fit(x, y, verbose=0)
    x2, y2 = _xy()
    vx = x2.copy()
    vx[5, 0] = np.inf
    with pytest.raises(ValueError, match=r"fit \(validation_data\): x contains infinity at row 5, column 0"):
        model.fit(x2, y2, validation_data=(vx, y2), verbose=0)


def test_the_first_bad_value_is_reported_across_threads():
    # Large enough to be scanned in several chunks on several threads: the earliest position wins.
    m = Sequential([Dense(1, input_dim=8)])
    m.compile(loss="mse", optimizer="sgd")
    x = np.zeros((200_000, 8), np.float32)
    y = np.zeros((200_000, 1), np.float32)
    x[150_000, 3] = np.nan
    x[120_001, 7] = np.inf
    with pytest.raises(ValueError, match="x contains infinity at row 120001, column 7"):
        m.evaluate(x, y, verbose=0)


def test_check_can_be_turned_off(model):
    x, y = _xy()
    x[0, 0] = np.nan
    assert fastann.get_check_finite()
    fastann.set_check_finite(False)
    try:
        model.fit(x, y, epochs=1, batch_size=50, verbose=0)
        assert np.isnan(model.get_weights()[0]).any()  # used as given: NaN reached the weights
    finally:
        fastann.set_check_finite(True)
    assert fastann.get_check_finite()


def test_a_diverging_loss_is_reported_with_epoch_and_batch():
    m = Sequential([Dense(8, input_dim=3, activation="relu"), Dense(1)])
    m.compile(loss="mse", optimizer=fastann.optimizers.SGD(learning_rate=1e6))
    rng = np.random.default_rng(0)
    x = rng.random((64, 3), dtype=np.float32) * 100
    y = rng.random((64, 1), dtype=np.float32) * 100
    with pytest.warns(RuntimeWarning, match=r"fit: the loss became (nan|inf) at epoch 1, batch \d+ .*TerminateOnNaN"):
        h = m.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert len(h.epoch) == 3  # reported once, and training went on as Keras does
    m2 = Sequential([Dense(8, input_dim=3, activation="relu"), Dense(1)])
    m2.compile(loss="mse", optimizer=fastann.optimizers.SGD(learning_rate=1e6))
    h2 = m2.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[fastann.callbacks.TerminateOnNaN()])
    assert h2.epoch == [0]  # stopped in the first epoch, no warning (pytest turns warnings into errors)
