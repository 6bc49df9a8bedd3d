"""atheris target: the Python argument boundary. Random shapes, dtypes, values (NaN, infinity, huge, negative) and
arguments go into the public API; every call must return or raise one of the documented exception types
(ValueError, TypeError, RuntimeError, OSError, MemoryError, NotImplementedError). A crash of the interpreter, a
sanitizer report or another exception type is a finding; each becomes a case in
tests/python/training/test_bad_inputs.py.

    python tests/fuzz/fuzz_api.py -max_total_time=60 tests/fuzz/corpus/api
"""

import sys

import atheris
import numpy as np

import fastann
from fastann import ops
from fastann.layers import Activation, Dense
from fastann.models import Sequential

EXPECTED = (ValueError, TypeError, RuntimeError, OSError, MemoryError, NotImplementedError)
ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "selu", "gelu", "softplus",
               "swish", "nope"]
LOSSES = ["mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
          "nope"]
OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "nope"]
DTYPES = [np.float32, np.float64, np.int64, np.int8, np.bool_, np.float16, object]
SPECIALS = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e38, -1e38, 1e-45, 3.0, -1.0]


def _array(fdp, max_dims=3):
    ndim = fdp.ConsumeIntInRange(0, max_dims)
    shape = tuple(fdp.ConsumeIntInRange(0, 9) for _ in range(ndim))
    n = int(np.prod(shape)) if shape else 1
    values = [fdp.PickValueInList(SPECIALS) if fdp.ConsumeBool() else fdp.ConsumeFloatInRange(-4.0, 4.0)
              for _ in range(min(n, 64))]
    flat = np.resize(np.array(values or [0.0]), n)
    dtype = fdp.PickValueInList(DTYPES)
    with np.errstate(all="ignore"):
        arr = flat.astype(dtype).reshape(shape)
    if arr.ndim == 2 and fdp.ConsumeBool():
        arr = np.asfortranarray(arr)
    return arr


def _model(fdp):
    m = Sequential()
    for i in range(fdp.ConsumeIntInRange(0, 3)):
        units = fdp.ConsumeIntInRange(1, 8) if fdp.ConsumeIntInRange(0, 7) else fdp.ConsumeIntInRange(-2, 0)
        act = fdp.PickValueInList(ACTIVATIONS)
        if fdp.ConsumeBool():
            m.add(Activation(act, input_dim=fdp.ConsumeIntInRange(0, 5) or None) if i == 0 else Activation(act))
        else:
            kw = {"input_dim": fdp.ConsumeIntInRange(0, 5) or None} if i == 0 else {}
            m.add(Dense(units, activation=act, use_bias=fdp.ConsumeBool(), **kw))
    if fdp.ConsumeBool():
        m.compile(loss=fdp.PickValueInList(LOSSES), optimizer=fdp.PickValueInList(OPTIMIZERS),
                  metrics=["accuracy"] if fdp.ConsumeBool() else None)
    return m


def _one(fdp):
    what = fdp.ConsumeIntInRange(0, 9)
    if what == 0:
        ops.matmul(_array(fdp), _array(fdp))
    elif what == 1:
        ops.gemm(_array(fdp, 2), _array(fdp, 2), trans_a=fdp.ConsumeBool(), trans_b=fdp.ConsumeBool())
    elif what == 2:
        ops.activation(fdp.PickValueInList(ACTIVATIONS), _array(fdp))
    elif what == 3:
        ops.loss(fdp.PickValueInList(LOSSES), _array(fdp), _array(fdp))
    elif what == 4:
        fastann._core.load_model_from_bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256)))
    else:
        m = _model(fdp)
        x, y = _array(fdp), _array(fdp)
        call = fdp.ConsumeIntInRange(0, 5)
        bs = fdp.ConsumeIntInRange(-1, 5)
        if call == 0:
            m.fit(x, y, batch_size=bs, epochs=fdp.ConsumeIntInRange(-1, 2), verbose=0,
                  validation_split=fdp.PickValueInList([0.0, 0.5, 0.99]))
        elif call == 1:
            m.evaluate(x, y, batch_size=bs, verbose=0)
        elif call == 2:
            m.predict(x, verbose=0)
        elif call == 3:
            m.set_weights([_array(fdp) for _ in range(fdp.ConsumeIntInRange(0, 4))])
        elif call == 4:
            m.train_on_batch(x, y)
        else:
            m.load_weights(b"")


def test_one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    try:
        _one(fdp)
    except EXPECTED:
        pass


if __name__ == "__main__":
    fastann.set_num_threads(1)  # one thread keeps each run cheap and deterministic
    atheris.instrument_all()  # after the imports: the editable install's import hook defeats instrument_imports
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
