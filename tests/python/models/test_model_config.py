"""Sequential.get_config / from_config round trips, layers.serialize / deserialize, and pickling of models."""

import copy
import json
import pickle

import numpy as np
import pytest

import fastann
from fastann import initializers, layers
from fastann.layers import Activation, Dense
from fastann.models import Sequential, load_model


def _data(n=64, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]
    return x, y


def _model():
    return Sequential([
        Dense(8, input_dim=5, activation="relu", kernel_initializer=initializers.HeNormal(seed=7),
              bias_initializer=initializers.Constant(0.25), name="hidden"),
        Dense(6, activation="tanh", use_bias=False, kernel_initializer="lecun_uniform"),
        Dense(3, kernel_initializer=initializers.RandomUniform(-0.1, 0.2, seed=3)),
        Activation("softmax", name="probs"),
    ], name="net")


def test_get_config_is_json_and_round_trips():
    m = _model()
    config = m.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["build_input_shape"] == [None, 5]
    assert config["layers"][0]["config"]["input_dim"] == 5
    assert "input_dim" not in config["layers"][1]["config"]
    assert config["layers"][0]["config"]["kernel_initializer"] == {"class_name": "HeNormal", "config": {"seed": 7}}
    assert config["layers"][0]["config"]["bias_initializer"] == {"class_name": "Constant", "config": {"value": 0.25}}

    m2 = Sequential.from_config(json.loads(json.dumps(config)))
    assert m2.get_config() == config
    assert m2.name == "net"
    assert [lyr.name for lyr in m2.layers] == [lyr.name for lyr in m.layers]
    assert [type(lyr) for lyr in m2.layers] == [type(lyr) for lyr in m.layers]
    assert [getattr(lyr, "units", None) for lyr in m2.layers] == [8, 6, 3, None]
    assert [lyr.activation for lyr in m2.layers] == ["relu", "tanh", "linear", "softmax"]
    assert m2.layers[1].use_bias is False
    assert m2.built and m2.input_shape == (None, 5) and m2.output_shape == (None, 3)
    assert m2.optimizer is None
    # Seeded initializers (and constants) give the same weights again; the unseeded layer gets fresh ones.
    w, w2 = m.get_weights(), m2.get_weights()
    assert [a.shape for a in w] == [a.shape for a in w2]
    np.testing.assert_array_equal(w2[0], w[0])
    np.testing.assert_array_equal(w2[1], np.full(8, 0.25, np.float32))
    np.testing.assert_array_equal(w2[3], w[3])


def test_from_config_of_a_model_built_by_fit():
    m = Sequential([Dense(4, activation="sigmoid"), Dense(2)])
    assert "build_input_shape" not in m.get_config()
    assert not Sequential.from_config(m.get_config()).built
    m.compile(loss="mse", optimizer="sgd")
    x, y = _data(16, 3, 2)
    m.fit(x, y, verbose=0)
    m2 = Sequential.from_config(m.get_config())
    assert m2.built and m2.input_shape == (None, 3)
    m2.compile(loss="mse", optimizer="sgd")
    m2.fit(x, y, verbose=0)
    assert m2.predict(x, verbose=0).shape == (16, 2)


def test_from_config_model_trains_like_the_original():
    x, y = _data()

    def trained(model):
        model.compile(loss="categorical_crossentropy", optimizer=fastann.optimizers.Adam(0.01))
        model.set_weights(weights)
        model.fit(x, y, epochs=3, batch_size=16, seed=1, verbose=0)
        return model.predict(x, verbose=0)

    m = _model()
    weights = m.get_weights()
    np.testing.assert_array_equal(trained(Sequential.from_config(m.get_config())), trained(m))


def test_config_of_a_loaded_model_matches(tmp_path):
    m = _model()
    m.compile(loss="categorical_crossentropy", optimizer="adam")
    m.save(tmp_path / "m.fastann")
    loaded = load_model(tmp_path / "m.fastann")
    assert loaded.get_config() == m.get_config()
    assert Sequential.from_config(loaded.get_config()).get_config() == m.get_config()


def test_layer_serialize_deserialize():
    d = Dense(3, activation="elu", input_shape=(4,), kernel_initializer=initializers.TruncatedNormal(0.1, 0.2, seed=5))
    entry = layers.serialize(d)
    assert entry["class_name"] == "Dense"
    d2 = layers.deserialize(entry)
    assert isinstance(d2, Dense) and d2.get_config() == d.get_config()
    assert isinstance(d2.kernel_initializer, initializers.TruncatedNormal)
    assert d2.kernel_initializer.get_config() == {"mean": 0.1, "stddev": 0.2, "seed": 5}
    a = Activation.from_config(Activation("gelu", name="g").get_config())
    assert a.name == "g" and a.activation == "gelu"


def test_deserialize_accepts_keras_style_configs():
    keras_entry = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                   "config": {"name": "d", "units": 7, "activation": "relu", "use_bias": True, "trainable": True,
                              "dtype": "float32", "batch_input_shape": [None, 11],
                              "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                                     "config": {"seed": None}, "registered_name": None},
                              "bias_initializer": {"class_name": "Zeros", "config": {}},
                              "kernel_regularizer": None, "bias_regularizer": None,
                              "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}}
    model = Sequential.from_config({"name": "k", "layers": [keras_entry]})
    assert model.built and model.input_shape == (None, 11) and model.output_shape == (None, 7)
    assert isinstance(model.layers[0].kernel_initializer, initializers.GlorotUniform)


@pytest.mark.parametrize("bad, error", [
    ([], ValueError),
    ({"name": "x"}, ValueError),
    ({"layers": [{"class_name": "Conv2D", "config": {}}]}, ValueError),
    ({"layers": [{"config": {"units": 2}}]}, ValueError),
    ({"layers": [{"class_name": "Dense", "config": {"units": 2, "kernel_initializer": "nope"}}]}, ValueError),
    ({"layers": [{"class_name": "Dense", "config": {"units": 2,
                                                   "kernel_initializer": {"class_name": "Orthogonal"}}}]}, ValueError),
    ({"layers": [{"class_name": "Dense", "config": {"units": 2, "colour": "red"}}]}, TypeError),
])
def test_from_config_rejects_bad_configs(bad, error):
    with pytest.raises(error):
        Sequential.from_config(bad)


def test_initializer_serialize():
    for init in (initializers.Zeros(), initializers.Ones(), initializers.Constant(2.0), initializers.GlorotNormal(1),
                 initializers.RandomNormal(0.5, 2.0, seed=9)):
        config = initializers.serialize(init)
        back = initializers.deserialize(json.loads(json.dumps(config)))
        assert type(back) is type(init) and back.get_config() == init.get_config()
    assert initializers.serialize("he_uniform") == "he_uniform"
    assert repr(initializers.Zeros()) == "Zeros()"
    with pytest.raises(ValueError, match="unknown initializer"):
        initializers.serialize("he_sideways")


@pytest.mark.parametrize("copier", [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
def test_a_trained_model_pickles(copier):
    x, y = _data()
    m = _model()
    m.compile(loss="categorical_crossentropy", optimizer=fastann.optimizers.RMSprop(0.005), metrics=["accuracy"])
    m.fit(x, y, epochs=2, verbose=0, seed=3)
    m2 = copier(m)
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    assert m2.get_config() == m.get_config()
    assert m2.metrics_names == ["loss", "accuracy"]
    assert m2.optimizer.iterations == m.optimizer.iterations
    assert m2.history.history == m.history.history and m2.history.epoch == [0, 1]
    assert m2.layers[0].get_weights()[0].shape == (5, 8)
    # The copy is independent, and continues training exactly as the original does (optimizer state included).
    m.fit(x, y, epochs=1, verbose=0, seed=4)
    m2.fit(x, y, epochs=1, verbose=0, seed=4)
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    m2.optimizer.learning_rate = 0.5
    assert m.optimizer.learning_rate == pytest.approx(0.005)


def test_an_unbuilt_uncompiled_model_pickles():
    m = Sequential([Dense(3, activation="relu", name="a"), Dense(1, name="b")], name="tiny")
    m2 = pickle.loads(pickle.dumps(m))
    assert not m2.built and m2.optimizer is None and m2.name == "tiny"
    assert m2.get_config() == m.get_config()
    m2.compile(loss="mse", optimizer="adam")
    m2.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    assert m2.built and not m.built
