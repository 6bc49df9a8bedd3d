"""Writes the seed corpus for fuzz_model_file: small valid model files of every layer, optimizer and state kind
(the fuzzer mutates from these). Run from the repo root: python tests/fuzz/make_corpus.py"""

import pathlib

import numpy as np

import fastann
from fastann.layers import Activation, Dense
from fastann.models import Sequential

OUT = pathlib.Path(__file__).parent / "corpus" / "model_file"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    fastann.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    cases = {
        "unbuilt": (Sequential([Dense(2, activation="relu"), Dense(1)]), None),
        "built_uncompiled": (Sequential([Dense(2, input_dim=3, activation="tanh"), Activation("softmax")]), None),
        "adam_bce": (Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")]),
                     ("binary_crossentropy", "adam")),
        "sgd_momentum_mse": (Sequential([Dense(2, input_dim=3, use_bias=False,
                                               kernel_initializer=fastann.initializers.RandomNormal(seed=3))]),
                             ("mse", fastann.optimizers.SGD(momentum=0.9, nesterov=True))),
        "rmsprop_centered": (Sequential([Dense(3, input_dim=3, activation="leaky_relu"), Dense(2,
                                                                                               activation="softmax")]),
                             ("categorical_crossentropy", fastann.optimizers.RMSprop(momentum=0.5, centered=True))),
        "adagrad_huber": (Sequential([Dense(1, input_dim=3, activation="elu")]), (fastann.losses.Huber(2.0),
                                                                                  "adagrad")),
    }
    for name, (model, compile_args) in cases.items():
        if compile_args:
            loss, opt = compile_args
            model.compile(loss=loss, optimizer=opt)
            y = np.zeros((8, model.output_shape[1]), np.float32)
            model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        model.save(OUT / f"{name}.fastann")
    print(f"wrote {len(cases)} files to {OUT}")


if __name__ == "__main__":
    main()
