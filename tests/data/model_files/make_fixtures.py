"""Writes the committed model-file fixtures (run once, by the fastann version that defines the format they pin).

Each fixture is a model file as saved by fastann at commit c49b4a1 (format version 1) plus a .npz with the input it
was probed with, the predictions that version gave, and the optimizer step count. tests/python/io/test_legacy_files.py
(or wherever the test lives) loads them with the current code: old files must keep loading and predicting the same.
Re-running this script would overwrite the fixtures with the current format: don't, unless a new fixture is added.
"""

import pathlib
import sys

import numpy as np

import fastann
from fastann.layers import Activation, BatchNormalization, Dense, Dropout
from fastann.models import Sequential

HERE = pathlib.Path(__file__).parent


def classifier():
    model = Sequential(name="legacy_classifier")
    model.add(Dense(16, input_dim=6, activation="relu", kernel_regularizer=fastann.regularizers.L2(1e-3)))
    model.add(BatchNormalization())
    model.add(Dropout(0.25, seed=3))
    model.add(Dense(8, activation="tanh", use_bias=False))
    model.add(Activation("elu"))
    model.add(Dense(3, activation="softmax"))
    model.compile(optimizer=fastann.optimizers.Adam(learning_rate=3e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def regressor():
    model = Sequential(name="legacy_regressor")
    model.add(Dense(10, input_dim=4, activation="sigmoid"))
    model.add(Dense(1))
    model.compile(optimizer=fastann.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True), loss="mse",
                  metrics=["mae"])
    return model


def main():
    rng = np.random.default_rng(2026)
    for name, build, in_dim, out_dim in (("classifier", classifier, 6, 3), ("regressor", regressor, 4, 1)):
        model = build()
        x = rng.standard_normal((64, in_dim)).astype(np.float32)
        if out_dim > 1:
            y = np.eye(out_dim, dtype=np.float32)[rng.integers(0, out_dim, 64)]
        else:
            y = rng.standard_normal((64, 1)).astype(np.float32)
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=7)
        probe = rng.standard_normal((9, in_dim)).astype(np.float32)
        model.save(HERE / f"{name}_v1.fastann")
        np.savez(HERE / f"{name}_v1.npz", x=probe, pred=model.predict(probe, verbose=0),
                 iterations=model.optimizer.iterations, train_x=x, train_y=y)
        print(name, "saved", file=sys.stderr)


if __name__ == "__main__":
    main()
