"""Sequential: the Keras model API over the C++ core (fastann._core.Sequential).

This layer converts arguments, resolves names and prints progress; the training loop, shuffling, losses, metrics
and optimizer updates all run in C++ with the GIL released. Python is called back at epoch boundaries, for progress
at a bounded rate (C++ computes the running means), and per batch only for callbacks that override a batch hook.
"""

from __future__ import annotations

import errno
import json
import math
import os
import time
import warnings

import numpy as np

from .. import _core
from .. import callbacks as _callbacks
from .. import cuda as _cuda
from .. import layers as _layers
from .. import losses as _losses
from .. import metrics as _metrics
from .. import optimizers as _optimizers
from .._validate import as_float32, boolean, integer, is_number, non_negative_int, positive_int
from ..layers import Input, Layer
from ..layers._utils import _unique_name
from ..metrics import serialization as _metric_forms

_FIT_ARGS_UNSUPPORTED = ("steps_per_epoch", "validation_steps")


def _verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2) and not isinstance(verbose, bool):
        return int(verbose)
    raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")


class Sequential:
    """A linear stack of layers, with Keras's compile / fit / evaluate / predict."""

    def __init__(self, layers=None, name=None):
        self._core = _core.Sequential()
        self._layers = []
        self.name = name if name is not None else _unique_name("sequential")
        self.optimizer = None
        self.loss = None
        self.compiled_metrics = []
        self.weighted_metrics = []
        self.history = None
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)

    # --- structure ----------------------------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        return list(self._layers)

    def add(self, layer: Layer) -> None:
        """Appends a layer. The first layer may give `input_dim`/`input_shape` (or an `Input(shape=(d,))` is added
        first); otherwise the model is built from the first data it sees."""
        if isinstance(layer, Input):
            if self._layers:
                raise ValueError("an Input can only be added first, before any layer")
            self._core.add_input(list(layer._dims))
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a fastann layer, got {type(layer).__name__}")
        if layer._model is not None:
            raise ValueError(f"layer '{layer.name}' is already part of a model")
        if any(lyr.name == layer.name for lyr in self._layers):
            raise ValueError(f"the model already has a layer named '{layer.name}'")
        added_input = len(layer._input_shape) > 1 and not self._layers and not self._core.input_shape
        if added_input:
            self._core.add_input(list(layer._input_shape))  # e.g. Flatten(input_shape=(28, 28)) first
        try:
            layer._attach(self._core)
        except BaseException:
            if added_input:  # the model as before the call
                self._core.remove_input()
            raise
        layer._model = self
        layer._index = len(self._layers)
        self._layers.append(layer)

    def build(self, input_shape=None) -> None:
        """Creates the weights for inputs of shape (batch, *per_sample), e.g. (None, features)."""
        if input_shape is None:
            if not self._core.input_shape:
                raise ValueError("build: input_shape is required when the first layer has no input_dim")
            dims = self._core.input_shape
        else:
            shape = tuple(input_shape)
            if len(shape) < 2:
                raise ValueError(f"build: input_shape must be (batch, features, ...), got {shape}")
            dims = shape[1:]
        self._core.build([positive_int(d, "build: the feature dimension") for d in dims])

    def pop(self, rebuild=True) -> Layer:
        """Removes the last layer and returns it (Keras's Sequential.pop); the other layers keep their weights and
        the optimizer's variables start again. TypeError when the model has no layers, as Keras."""
        if not self._layers:
            raise TypeError("There are no layers in the model.")
        self._core.pop()
        layer = self._layers.pop()
        layer._model = layer._index = None
        return layer

    @property
    def built(self) -> bool:
        return self._core.built

    @property
    def input_shape(self):
        return (None, *(self._core.input_shape or (None,)))

    @property
    def output_shape(self):
        if self._core.output_shape:
            return (None, *self._core.output_shape)
        return (None, self._layers[-1]._output_dim() if self._layers else None)  # not built: as far as known

    # --- compile ------------------------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", device="cpu", **kwargs):
        """Sets the optimizer (name or fastann.optimizers object), the loss (name or fastann.losses object) and the
        metrics (names such as 'accuracy', 'auc', 'mse' or fastann.metrics objects such as AUC(), Precision(),
        TopKCategoricalAccuracy(k=3)); `metrics` ignore sample weights, `weighted_metrics` use them (Keras 3).
        device: where the model trains and predicts: 'cpu' (default), 'cuda' or 'cuda:N' (a CUDA build and a GPU:
        see fastann.cuda); the weights move there, and fit/evaluate/predict still take and return NumPy."""
        if kwargs:
            raise TypeError(f"compile got unexpected arguments: {', '.join(sorted(kwargs))}")
        if not isinstance(device, str):
            raise TypeError(f"compile: device must be a string such as 'cpu' or 'cuda:0', got {device!r}")
        device = _cuda.require(device)
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mse'")
        if loss_weights is not None:
            raise NotImplementedError("compile: loss_weights is not supported yet (fastann models have one output)")
        opt = _optimizers.get(optimizer)
        loss_obj = _losses.get(loss)

        def metric_list(value, what):
            if value is None:
                return []
            if isinstance(value, (str, _metrics.Metric)):
                value = [value]
            if isinstance(value, dict):
                raise ValueError(f"compile: {what} must be a list (fastann models have one output), got a dict")
            return [_metrics.get(m) for m in value]

        names = metric_list(metrics, "metrics")
        weighted = metric_list(weighted_metrics, "weighted_metrics")
        self._core.compile(opt._core_name, dict(opt._params), loss_obj._core_name, loss_obj.from_logits,
                           loss_obj.delta, [_metric_forms._core(m) for m in names],
                           [_metric_forms._core(m) for m in weighted], opt is self.optimizer)
        if self.optimizer is not None and self.optimizer is not opt:
            self.optimizer._model = None
        opt._model = self
        self.optimizer = opt
        self.loss = loss
        self.compiled_metrics = names
        self.weighted_metrics = weighted
        self._core.to(device)

    @property
    def device(self) -> str:
        """Where the model runs: 'cpu' or 'cuda:N' (set by compile(device=...))."""
        return self._core.device

    @property
    def metrics_names(self) -> list:
        """['loss', *metrics] as evaluate returns them."""
        return list(self._core.metrics_names)

    # --- data ---------------------------------------------------------------------------------------------------
    def _x(self, x, what):
        if x is None:
            raise ValueError(f"{what}: x is required")
        arr = as_float32(x, f"{what}: x")
        if arr.ndim == 1 and self._core.input_dim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 and (arr.ndim < 2 or len(self._core.input_shape) == 1):
            raise ValueError(f"{what}: x must be 2-D (samples, features), got shape {arr.shape}")
        return arr

    def _y(self, y, n, what):
        if y is None:
            raise ValueError(f"{what}: y is required")
        arr = as_float32(y, f"{what}: y")
        if arr.ndim == 0:
            raise ValueError(f"{what}: y must hold one target per sample, got a scalar")
        if self._core.compiled and isinstance(_losses.get(self.loss), _losses.SparseCategoricalCrossentropy):
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr.reshape(-1)
            if arr.ndim != 1:
                raise ValueError(f"{what}: sparse_categorical_crossentropy expects y of shape ({n},) holding "
                                 f"class indices, got {arr.shape}")
        elif arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        return arr

    def _sample_weight(self, sample_weight, n, what, arg="sample_weight"):
        """Per-sample weights as float32 (n,); the core checks the values (finite, >= 0)."""
        if sample_weight is None:
            return None
        arr = as_float32(sample_weight, f"{what}: {arg}")
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr.reshape(-1)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValueError(f"{what}: {arg} must have shape ({n},), one weight per sample, got shape {arr.shape}")
        return arr

    def _class_weight(self, class_weight, what):
        """A class_weight dict {class index: weight} as the core's list by class index (missing classes weigh 1)."""
        if class_weight is None:
            return []
        if not isinstance(class_weight, dict):
            raise ValueError(f"{what}: class_weight must be a dict {{class index: weight}}, got "
                             f"{type(class_weight).__name__}")
        out_dim = self._core.output_dim
        sparse = isinstance(_losses.get(self.loss), _losses.SparseCategoricalCrossentropy)
        classes = out_dim if (sparse or out_dim > 1) else 2
        weights = [1.0] * classes
        for key, value in class_weight.items():
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < classes:
                raise ValueError(f"{what}: class_weight key {key!r} is not a class index of this model "
                                 f"(0..{classes - 1})")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"{what}: class_weight for class {key} must be a number, got {value!r}")
            weights[int(key)] = float(value)
        return weights

    def _require_compiled(self, what):
        if not self._core.compiled:
            raise RuntimeError(f"you must compile the model before {what}; call model.compile(optimizer, loss)")

    # --- fit / evaluate / predict -------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1, seed=None, nb_epoch=None, distributed=False, **kwargs):
        """Trains for `epochs` epochs (`nb_epoch` is the old Keras spelling) and returns a History.
        sample_weight (one weight >= 0 per sample) or class_weight ({class index: weight}) weight the training
        samples as Keras 3 does (a batch's loss is sum(w * loss) / batch size); validation_data may carry the
        validation samples' weights as a third element.

        distributed=True: data-parallel training over the processes joined by fastann.distributed.init(); every
        rank passes the same data and arguments, trains on its share of each global batch of batch_size * size()
        rows and averages gradients every step (see fastann.distributed)."""
        if kwargs:
            raise TypeError(f"fit got unexpected arguments: {', '.join(sorted(kwargs))}")
        for arg in _FIT_ARGS_UNSUPPORTED:
            if locals()[arg] is not None:
                raise NotImplementedError(f"fit: {arg} is not supported yet")
        if validation_freq != 1 or validation_batch_size is not None:
            raise NotImplementedError("fit: validation_freq and validation_batch_size are not supported yet")
        if nb_epoch is not None:
            epochs = nb_epoch
        self._require_compiled("training it")
        verbose = _verbose(verbose)
        # epochs may be as large as sys.maxsize (Keras's "until EarlyStopping stops it"); batch_size any positive
        # int64 (the core clips it to the number of samples, as Keras does).
        epochs = non_negative_int(epochs, "fit: epochs")
        initial_epoch = non_negative_int(initial_epoch, "fit: initial_epoch")
        batch_size = 32 if batch_size is None else positive_int(batch_size, "fit: batch_size")
        if not is_number(validation_split) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        validation_split = float(validation_split)
        seed = None if seed is None else integer(seed, "fit: seed", minimum=0, maximum=2**64 - 1)
        shuffle = boolean(shuffle, "fit: shuffle")
        xa = self._x(x, "fit")
        ya = self._y(y, xa.shape[0], "fit")
        if xa.shape[0] != ya.shape[0]:
            raise ValueError(f"fit: x and y have different numbers of samples: {xa.shape[0]} and {ya.shape[0]}")
        if xa.shape[0] == 0:
            raise ValueError("fit: x is empty")
        if sample_weight is not None and class_weight is not None:
            raise ValueError("fit: class_weight and sample_weight cannot be given together (pass one of them)")
        sw = self._sample_weight(sample_weight, xa.shape[0], "fit")
        cw = self._class_weight(class_weight, "fit")
        vx = vy = vw = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, weights)")
            vx = self._x(validation_data[0], "fit (validation_data)")
            vy = self._y(validation_data[1], vx.shape[0], "fit (validation_data)")
            if len(validation_data) == 3:
                vw = self._sample_weight(validation_data[2], vx.shape[0], "fit (validation_data)",
                                         "the sample weights")
        reducer, shard_index, shard_count = None, 0, 1
        if distributed:
            from .. import distributed as _distributed
            reducer, seed, shard_index, shard_count = _distributed._prepare_fit(
                self, xa, ya, batch_size, epochs, initial_epoch, shuffle, seed, validation_split, vx)
            if shard_index != 0:
                verbose = 0  # rank 0 prints; every rank keeps the History
        n_train = xa.shape[0] if vx is not None else int(xa.shape[0] * (1.0 - validation_split))
        steps = math.ceil(n_train / (batch_size * shard_count)) if n_train > 0 else 0

        cb = _callbacks.CallbackList(callbacks, self, {"verbose": verbose, "epochs": int(epochs), "steps": steps},
                                     add_history=True, add_progbar=verbose != 0)
        history = cb.history
        previous_history = self.history
        self.history = history
        self.stop_training = False
        last_logs = None

        def on_epoch_end(epoch, logs):
            nonlocal last_logs
            last_logs = dict(sorted(logs.items()))  # Keras 3 orders the logs by name
            cb.on_epoch_end(epoch, last_logs)
            return self.stop_training

        def on_progress(step, logs):
            cb.progress(step, dict(sorted(logs.items())))
            return self.stop_training

        begin_cbs = cb.batch_callbacks("begin")
        end_cbs = cb.batch_callbacks("end")
        nan_cbs = cb.nonfinite_callbacks()

        def on_train_batch_begin(batch):
            for c in begin_cbs:
                c.on_train_batch_begin(batch, None)
            return self.stop_training

        def on_train_batch_end(batch, logs):
            logs = dict(sorted(logs.items()))
            for c in end_cbs:
                c.on_train_batch_end(batch, logs)
            return self.stop_training

        epoch_now = int(initial_epoch)
        reported = False

        def on_epoch_begin(epoch):
            nonlocal epoch_now
            epoch_now = epoch
            cb.on_epoch_begin(epoch)

        def on_nonfinite_loss(batch, logs):
            # C++ calls this once an epoch, when the running loss first stops being finite.
            nonlocal reported
            logs = dict(sorted(logs.items()))
            for c in nan_cbs:
                c.on_batch_end(batch, logs)
            if not nan_cbs and not reported:
                reported = True
                warnings.warn(f"fit: the loss became {logs.get('loss')} at epoch {epoch_now + 1}, batch {batch} "
                              "(a learning rate too high, or extreme data?); training goes on: add "
                              "fastann.callbacks.TerminateOnNaN() to stop there", RuntimeWarning, stacklevel=3)
            return self.stop_training

        cb.on_train_begin()
        if reducer is not None:
            self._core.set_gradient_reducer(reducer)
        try:
            self._core.fit(xa, ya, batch_size, int(epochs), int(initial_epoch), bool(shuffle),
                           None if seed is None else int(seed), float(validation_split), vx, vy,
                           on_epoch_begin, on_epoch_end, on_progress=on_progress,
                           progress_interval_ms=cb.progress_interval_ms(),
                           on_train_batch_begin=on_train_batch_begin if begin_cbs else None,
                           on_train_batch_end=on_train_batch_end if end_cbs else None,
                           on_nonfinite_loss=on_nonfinite_loss, shard_index=shard_index, shard_count=shard_count,
                           sample_weight=sw, class_weight=cw, val_sample_weight=vw)
        except BaseException:
            if not history.epoch:  # failed before an epoch ended (e.g. out of memory in its setup): as before
                self.history = previous_history
            raise
        finally:
            if reducer is not None:
                self._core.set_gradient_reducer(None)
        cb.on_train_end(last_logs)
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """Returns the loss, or [loss, *metrics] when metrics were compiled (a dict with return_dict=True).
        sample_weight: one weight >= 0 per sample (the loss and weighted_metrics use it)."""
        if kwargs:
            raise TypeError(f"evaluate got unexpected arguments: {', '.join(sorted(kwargs))}")
        if steps is not None:
            raise NotImplementedError("evaluate: steps is not supported yet")
        self._require_compiled("evaluating it")
        verbose = _verbose(verbose)
        batch_size = 32 if batch_size is None else positive_int(batch_size, "evaluate: batch_size")
        xa = self._x(x, "evaluate")
        ya = self._y(y, xa.shape[0], "evaluate")
        sw = self._sample_weight(sample_weight, xa.shape[0], "evaluate")
        steps_total = math.ceil(xa.shape[0] / batch_size)
        cb = _callbacks.CallbackList(callbacks, self, {"verbose": verbose, "epochs": 1, "steps": steps_total},
                                     add_progbar=verbose != 0)
        cb.check_no_batch_hooks("evaluate", ("on_test_batch_begin", "on_test_batch_end"))
        names = self.metrics_names
        cb.on_test_begin()
        progress = None
        if cb.progress_targets():
            def progress(step, logs):
                cb.progress(step, dict(sorted(logs.items())))
        values = self._core.evaluate(xa, ya, batch_size, on_progress=progress,
                                     progress_interval_ms=cb.progress_interval_ms(), sample_weight=sw)
        cb.on_test_end(dict(sorted(zip(names, values))))
        if return_dict:
            return dict(zip(names, values))
        return values[0] if len(values) == 1 else list(values)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Returns the model's outputs for x as a float32 array (samples, outputs)."""
        if steps is not None:
            raise NotImplementedError("predict: steps is not supported yet")
        verbose = _verbose(verbose)
        xa = self._x(x, "predict")
        if not self._core.built:
            self._core.build(list(xa.shape[1:]))
        bs = 0 if batch_size is None else positive_int(batch_size, "predict: batch_size")
        if verbose == 0 and not callbacks:
            return self._core.predict(xa, bs)  # nothing to report to: the per-call path stays short
        step_rows = bs or 32
        cb = _callbacks.CallbackList(callbacks, self,
                                     {"verbose": verbose, "epochs": 1, "steps": math.ceil(xa.shape[0] / step_rows)},
                                     add_progbar=verbose != 0)
        cb.check_no_batch_hooks("predict", ("on_predict_batch_begin", "on_predict_batch_end"))
        cb.on_predict_begin()
        live = [t for t in cb.progress_targets() if t.progbar is not None and t.progbar.dynamic]
        if live and xa.shape[0] > step_rows:
            out = self._predict_in_chunks(xa, bs, step_rows, cb, min(t.interval for t in live))
        else:
            out = self._core.predict(xa, bs)
        cb.on_predict_end()
        return out

    def _predict_in_chunks(self, xa, bs, step_rows, cb, interval):
        """predict for a live progress bar: row chunks sized to take about `interval` seconds each (results do not
        depend on how the rows are split), so the bar is redrawn at a bounded rate."""
        n = xa.shape[0]
        out = np.empty((n, *self._core.output_shape), dtype=np.float32)
        done, rows = 0, step_rows
        while done < n:
            end = min(n, done + rows)
            start = time.perf_counter()
            out[done:end] = self._core.predict(xa[done:end], bs)
            per_row = (time.perf_counter() - start) / (end - done)
            done = end
            cb.progress(math.ceil(done / step_rows), None)
            rows = max(step_rows, int(interval / max(per_row, 1e-9)) // step_rows * step_rows)
        return out

    def predict_on_batch(self, x):
        return self.predict(x, verbose=0)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on this batch; returns the loss (or [loss, *metrics]) computed before the update.
        sample_weight (per sample) or class_weight ({class index: weight}) weight the samples as in fit."""
        self._require_compiled("training it")
        if sample_weight is not None and class_weight is not None:
            raise ValueError("train_on_batch: class_weight and sample_weight cannot be given together (pass one "
                             "of them)")
        xa = self._x(x, "train_on_batch")
        sw = self._sample_weight(sample_weight, xa.shape[0], "train_on_batch")
        values = self._core.train_on_batch(xa, self._y(y, xa.shape[0], "train_on_batch"), sample_weight=sw,
                                           class_weight=self._class_weight(class_weight, "train_on_batch"))
        return self._result(values, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """[loss, *metrics] of this batch (sample_weight: per-sample weights), no update."""
        self._require_compiled("evaluating it")
        xa = self._x(x, "test_on_batch")
        sw = self._sample_weight(sample_weight, xa.shape[0], "test_on_batch")
        values = self._core.test_on_batch(xa, self._y(y, xa.shape[0], "test_on_batch"), sample_weight=sw)
        return self._result(values, return_dict)

    def _result(self, values, return_dict):
        if return_dict:
            return dict(zip(self.metrics_names, values))
        return values[0] if len(values) == 1 else list(values)

    # --- weights ------------------------------------------------------------------------------------------------
    def get_weights(self) -> list:
        """All weights as NumPy arrays in Keras order (per Dense layer: kernel (in, out), bias (out,))."""
        return self._core.get_weights() if self._core.built else []

    def set_weights(self, weights) -> None:
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
            raise TypeError(f"set_weights expects a list of arrays, got {type(weights).__name__}")
        if not self._core.built:
            raise RuntimeError("set_weights: the model is not built yet; give the first layer input_dim or call "
                               "model.build((None, features)) first")
        self._core.set_weights([as_float32(w, "weights") for w in weights])

    @property
    def weights(self) -> list:
        return self.get_weights()

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def count_params(self) -> int:
        if not self._core.built:
            raise ValueError("count_params: the model is not built yet; call build() or fit() first")
        return self._core.count_params()

    def summary(self, line_length=None, print_fn=None) -> None:
        """Prints the layers, their output shapes and parameter counts, as Keras does."""
        out = print_fn or print
        widths = (33, 24, 15)
        if line_length is not None:
            line_length = integer(line_length, "summary: line_length", minimum=1, maximum=10**6)
        if print_fn is not None and not callable(print_fn):
            raise TypeError(f"summary: print_fn must be callable, got {print_fn!r}")
        if line_length:
            widths = (max(line_length - 41, 20), 24, 15)
        built = self._core.built

        def row(cells, left="│", mid="│", right="│"):
            a, b, c = cells
            return (f"{left} {a:<{widths[0] - 2}} {mid} {b:<{widths[1] - 2}} {mid} {c:>{widths[2] - 2}} {right}")

        def rule(left, m, r, ch):
            return left + m.join(ch * w for w in widths) + r

        lines = [f'Model: "{self.name}"',
                 rule("┏", "┳", "┓", "━"),
                 row(("Layer (type)", "Output Shape", "Param #"), "┃", "┃", "┃"),
                 rule("┡", "╇", "┩", "━")]
        for i, layer in enumerate(self._layers):
            info = self._core.layer_info(i)
            shape = f"(None, {', '.join(map(str, info['output_shape']))})" if info["output_shape"] else "?"
            params = f"{info['param_count']:,}" if built else "0 (unbuilt)"
            # A name too long for its column wraps onto more lines at a space, as Keras's table does.
            words, cells = f"{layer.name} ({info['type']})".split(" "), [""]
            for word in words:
                if cells[-1] and len(cells[-1]) + 1 + len(word) > widths[0] - 2:
                    cells.append(word)
                else:
                    cells[-1] = f"{cells[-1]} {word}" if cells[-1] else word
            lines.append(row((cells[0], shape, params)))
            lines.extend(row((cell, "", "")) for cell in cells[1:])
            if i + 1 < len(self._layers):
                lines.append(rule("├", "┼", "┤", "─"))
        lines.append(rule("└", "┴", "┘", "─"))
        total = self._core.count_params() if built else 0
        fixed = sum(self._core.layer_info(i)["non_trainable_param_count"] for i in range(len(self._layers)))
        lines.append(f" Total params: {total:,} ({_bytes(total * 4)})")
        lines.append(f" Trainable params: {total - fixed:,} ({_bytes((total - fixed) * 4)})")
        lines.append(f" Non-trainable params: {fixed:,} ({_bytes(fixed * 4)})")
        for line in lines:
            out(line)

    # --- the model file -----------------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True, **kwargs) -> None:
        """Saves the architecture, the weights, the compile configuration and (include_optimizer) the optimizer
        state to one file that `fastann.models.load_model` and the C++ `fastann::load_model` read. The file has
        the safetensors layout (the `safetensors` package reads the weights); the write is atomic."""
        if kwargs:
            raise TypeError(f"save got unexpected arguments: {', '.join(sorted(kwargs))}")
        path = os.fsencode(filepath)  # any path os.open takes: str, bytes, os.PathLike, undecodable names
        if not overwrite and os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "save: the file exists and overwrite=False", os.fsdecode(path))
        self._core.name = self.name
        _core.save_model(self._core, path, bool(include_optimizer))

    def save_weights(self, filepath, overwrite=True) -> None:
        """Saves the model file without the optimizer state (load_weights reads the weights back)."""
        self.save(filepath, overwrite=overwrite, include_optimizer=False)

    def load_weights(self, filepath) -> None:
        """Sets this model's weights from a model file of the same architecture (shapes are checked)."""
        other = _core.load_model(os.fsencode(filepath))
        if not other.built:
            raise ValueError(f"load_weights: '{os.fsdecode(filepath)}' holds no weights (its model was never built)")
        if not self._core.built:
            self._core.build(list(other.input_shape))
        self._core.set_weights(other.get_weights())

    @classmethod
    def _wrap(cls, core) -> Sequential:
        """A Python model over an existing core model (its layers, weights and compile state as they are)."""
        config = json.loads(core.config_json())
        model = cls.__new__(cls)
        model._core = core
        model.name = core.name
        model.history = None
        model.stop_training = False
        model._layers = []
        for i, entry in enumerate(config["layers"]):
            layer = _layers.from_config_entry(entry)
            layer._model = model
            layer._index = i
            model._layers.append(layer)
        model.optimizer = model.loss = None
        model.compiled_metrics = []
        model.weighted_metrics = []
        if config["compile"] is not None:
            model.optimizer = _optimizers.from_config(config["compile"]["optimizer"])
            model.optimizer._model = model
            model.loss = _losses.from_config(config["compile"]["loss"])
            model.compiled_metrics = [_metric_forms._from_core(c) for c in core.metric_configs(False)]
            model.weighted_metrics = [_metric_forms._from_core(c) for c in core.metric_configs(True)]
        return model

    # --- config round trip (Keras's get_config / from_config) ---------------------------------------------------
    def get_config(self) -> dict:
        """The architecture as JSON-serialisable values: the name, each layer as {"class_name", "config"} and, once
        built, "build_input_shape". `Sequential.from_config(model.get_config())` makes the same architecture with
        fresh weights, uncompiled."""
        config = {"name": self.name, "layers": [_layers.serialize(lyr) for lyr in self._layers]}
        if self._core.built:
            config["build_input_shape"] = [None, *map(int, self._core.input_shape)]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None) -> Sequential:
        """A new, uncompiled model with the architecture of `config` (from `get_config`); built when the config
        has a "build_input_shape" or its first layer an `input_dim`."""
        if custom_objects:
            raise NotImplementedError("from_config: custom_objects are not supported (fastann has no custom layers "
                                      "yet)")
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("from_config expects a dict with a 'layers' list, as Sequential.get_config() returns")
        model = cls([_layers.deserialize(entry) for entry in config["layers"]], name=config.get("name"))
        shape = config.get("build_input_shape")
        if shape is not None and not model.built:
            model.build(shape)
        return model

    # --- pickling (pickle, copy.deepcopy, joblib, scikit-learn's clone) -----------------------------------------
    def __getstate__(self) -> dict:
        """The model file's bytes (architecture, weights, compile configuration, optimizer state), the loss as
        given to compile, and the History."""
        self._core.name = self.name
        state = {"model_file": _core.serialize_model(self._core, True), "loss": self.loss}
        if self.history is not None:
            state["history"] = (self.history.history, self.history.epoch)
        return state

    def __setstate__(self, state: dict) -> None:
        restored = Sequential._wrap(_core.load_model_from_bytes(state["model_file"]))
        self.__dict__.update(restored.__dict__)
        for layer in self._layers:
            layer._model = self
        if self.optimizer is not None:
            self.optimizer._model = self
            self.loss = state["loss"]
        if "history" in state:
            self.history = _callbacks.History()
            self.history.history, self.history.epoch = state["history"]
            self.history.set_model(self)

    def export(self, filepath, format="onnx", **kwargs) -> None:
        """Writes the built model to `filepath` for inference elsewhere. format='onnx' (needs the `onnx` package:
        pip install fastann[onnx]) takes `opset=` (default 17); the graph maps "input" (batch, features) float32
        to "output"."""
        if format != "onnx":
            raise ValueError(f"export: unknown format {format!r}; valid formats: 'onnx'")
        from .._onnx import export_onnx
        export_onnx(self, filepath, **kwargs)

    def __repr__(self):
        return f"<Sequential name={self.name}, {len(self._layers)} layers>"


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"
