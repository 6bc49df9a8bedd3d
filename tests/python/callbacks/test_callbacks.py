"""Callbacks: the Keras 3 hook protocol (order, logs, self.model, stop_training, opt-in batch hooks, errors) and the
semantics of each built-in callback.

Monitor-based callbacks are driven by a scripted metric: a `Script` callback placed before them writes
`logs['score'] = sequence[epoch]` (callbacks run in list order, as in Keras), so the expected epochs follow from the
sequence alone, not from training noise.
"""

import csv
import math
import os

import numpy as np
import pytest

import fastann
from fastann import callbacks
from fastann.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from fastann.initializers import GlorotUniform
from fastann.layers import Dense
from fastann.models import Sequential, load_model


def small_model(optimizer="sgd", seed=0):
    m = Sequential([Dense(8, input_dim=4, activation="relu", kernel_initializer=GlorotUniform(seed=seed)),
                    Dense(1, activation="sigmoid", kernel_initializer=GlorotUniform(seed=seed + 1))])
    m.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return m


def data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:2] > 1).astype(np.float32)
    return x, y


class Script(Callback):
    """Sets logs['score'] from a sequence and records the weights at the end of every epoch."""

    def __init__(self, sequence, key="score"):
        super().__init__()
        self.sequence = sequence
        self.key = key
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.sequence[epoch]
        self.weights.append(self.model.get_weights())


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", logs))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", dict(logs)))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))


def fit(m, epochs=5, cbs=(), validation=False, verbose=0, **kw):
    x, y = data()
    return m.fit(x, y, epochs=epochs, batch_size=32, verbose=verbose, callbacks=list(cbs),
                 validation_split=0.2 if validation else 0.0, **kw)


def same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


# --- the protocol --------------------------------------------------------------------------------------------------

def test_hooks_run_in_keras_order_with_model_params_and_logs():
    m = small_model()
    rec = Recorder()
    h = fit(m, epochs=2, cbs=[rec], validation=True)
    assert rec.model is m and rec.params == {"verbose": 0, "epochs": 2, "steps": 3}
    names = [c[0] for c in rec.calls]
    assert names == ["train_begin", "epoch_begin", "epoch_end", "epoch_begin", "epoch_end", "train_end"]
    assert rec.calls[0] == ("train_begin", None)
    assert list(rec.calls[2][2]) == ["accuracy", "loss", "val_accuracy", "val_loss"]  # by name, as Keras 3
    assert rec.calls[-1][1] == rec.calls[4][2]  # on_train_end gets the last epoch's logs
    assert isinstance(h, History) and m.history is h
    assert h.epoch == [0, 1] and list(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h.history["loss"][1] == rec.calls[4][2]["loss"]


def test_user_callbacks_run_before_history_so_it_records_what_they_add():
    m = small_model()

    class Extra(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["extra"] = epoch * 10

    h = fit(m, epochs=3, cbs=[Extra()])
    assert h.history["extra"] == [0, 10, 20]


def test_a_history_given_by_the_user_is_the_one_fit_returns():
    m = small_model()
    mine = History()
    assert fit(m, epochs=2, cbs=[mine]) is mine and mine.epoch == [0, 1]
    x, y = data()
    assert m.fit(x, y, epochs=1, verbose=0, callbacks=mine) is mine  # a single callback is accepted too


def test_callbacks_must_be_callback_instances():
    with pytest.raises(TypeError, match="Callback instances"):
        fit(small_model(), cbs=[object()])


def test_initial_epoch_numbers_the_epochs():
    m = small_model()
    rec = Recorder()
    h = fit(m, epochs=4, cbs=[rec], initial_epoch=2)
    assert h.epoch == [2, 3] and [c[1] for c in rec.calls if c[0] == "epoch_begin"] == [2, 3]


def test_stop_training_from_on_epoch_end():
    m = small_model()
    h = fit(m, epochs=10, cbs=[LambdaCallback(on_epoch_end=lambda e, logs: setattr(m, "stop_training", e == 2))])
    assert h.epoch == [0, 1, 2]


def test_batch_hooks_are_called_per_batch_with_running_logs_only_when_overridden():
    m = small_model()
    seen = []

    class Batches(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch, logs))

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("end", batch, dict(logs)))

    rec = Recorder()
    h = fit(m, epochs=2, cbs=[Batches(), rec])
    assert [s[:2] for s in seen] == [(w, b) for _ in range(2) for b in range(4) for w in ("begin", "end")]
    assert all(s[2] is None for s in seen if s[0] == "begin")
    ends = [s[2] for s in seen if s[0] == "end"]
    assert list(ends[0]) == ["accuracy", "loss"]
    assert ends[3] == {k: h.history[k][0] for k in ("accuracy", "loss")}  # the last batch's logs = the epoch's


def test_on_batch_end_alias_and_lambda_batch_hooks():
    m = small_model()
    ends, lam = [], []

    class Old(Callback):
        def on_batch_end(self, batch, logs=None):
            ends.append(batch)

    fit(m, epochs=1, cbs=[Old(), LambdaCallback(on_train_batch_end=lambda b, logs: lam.append(logs["loss"]))])
    assert ends == [0, 1, 2, 3] and len(lam) == 4


def test_stop_training_from_a_batch_hook_ends_that_epoch_after_the_batch():
    m = small_model()

    class StopAtBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    rec = Recorder()
    h = fit(m, epochs=5, cbs=[StopAtBatch(), rec])
    assert m.optimizer.iterations == 2 and h.epoch == [0]
    assert [c[0] for c in rec.calls] == ["train_begin", "epoch_begin", "epoch_end", "train_end"]


def test_an_exception_in_a_batch_hook_stops_after_that_batch_and_propagates():
    m = small_model()

    class Boom(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise ValueError("boom at batch 2")

    rec = Recorder()
    with pytest.raises(ValueError, match="boom at batch 2"):
        fit(m, epochs=3, cbs=[Boom(), rec])
    assert m.optimizer.iterations == 3
    assert [c[0] for c in rec.calls] == ["train_begin", "epoch_begin"]
    fit(m, epochs=1)  # the model is still usable


def test_evaluate_and_predict_call_their_begin_end_hooks():
    m = small_model()
    x, y = data()
    rec = []
    cb = LambdaCallback(on_test_begin=lambda logs: rec.append(("test_begin", logs)),
                        on_test_end=lambda logs: rec.append(("test_end", logs)),
                        on_predict_begin=lambda logs: rec.append(("predict_begin", logs)),
                        on_predict_end=lambda logs: rec.append(("predict_end", logs)))
    loss, acc = m.evaluate(x, y, verbose=0, callbacks=[cb])
    m.predict(x, verbose=0, callbacks=[cb])
    assert rec == [("test_begin", None), ("test_end", {"accuracy": acc, "loss": loss}), ("predict_begin", None),
                   ("predict_end", None)]

    class PerBatch(Callback):
        def on_test_batch_end(self, batch, logs=None):
            pass

    with pytest.raises(NotImplementedError, match="on_test_batch_end"):
        m.evaluate(x, y, verbose=0, callbacks=[PerBatch()])


# --- EarlyStopping -------------------------------------------------------------------------------------------------

def test_early_stopping_stops_after_patience_epochs_without_improvement():
    m = small_model()
    es = EarlyStopping(monitor="score", patience=2, mode="min")
    h = fit(m, epochs=20, cbs=[Script([5, 4, 3, 3.5, 3.2, 2.0, 1.0]), es])
    # best 3 at epoch 2; epochs 3 and 4 don't improve: stop at the end of epoch 4
    assert h.epoch == [0, 1, 2, 3, 4] and es.stopped_epoch == 4 and es.best == 3


def test_early_stopping_restore_best_weights_restores_the_best_epoch():
    m = small_model()
    script = Script([5, 4, 3, 3.5, 3.2, 2.0])
    es = EarlyStopping(monitor="score", patience=2, mode="min", restore_best_weights=True)
    fit(m, epochs=20, cbs=[script, es])
    assert es.best_epoch == 2
    assert same_weights(m.get_weights(), script.weights[2])
    assert not same_weights(script.weights[2], script.weights[4])


def test_early_stopping_restores_the_best_weights_when_training_ends_without_stopping():
    """As Keras 3: restore_best_weights applies at the end of training whether or not patience ran out."""
    m = small_model()
    script = Script([5, 1, 3, 4])
    es = EarlyStopping(monitor="score", patience=10, mode="min", restore_best_weights=True)
    h = fit(m, epochs=4, cbs=[script, es])
    assert h.epoch == [0, 1, 2, 3] and es.stopped_epoch == 0
    assert same_weights(m.get_weights(), script.weights[1])


def test_early_stopping_min_delta_mode_auto_and_start_from_epoch():
    # min_delta: 2.95 is not better than 3 by more than 0.1
    m = small_model()
    es = EarlyStopping(monitor="score", patience=1, mode="min", min_delta=0.1)
    assert fit(m, epochs=10, cbs=[Script([3, 2.95, 2.0]), es]).epoch == [0, 1]
    # mode auto: accuracy is maximised
    es = EarlyStopping(monitor="val_accuracy", patience=1)
    assert fit(m, epochs=10, cbs=[Script([0.5, 0.6, 0.55, 0.9], "val_accuracy"), es]).epoch == [0, 1, 2]
    # mode auto: a loss is minimised
    es = EarlyStopping(monitor="val_loss", patience=1)
    assert fit(m, epochs=10, cbs=[Script([0.5, 0.6, 0.4], "val_loss"), es]).epoch == [0, 1]
    # start_from_epoch: the first epochs are not counted
    es = EarlyStopping(monitor="score", patience=1, mode="min", start_from_epoch=3)
    assert fit(m, epochs=10, cbs=[Script([1, 2, 3, 4, 5, 6]), es]).epoch == [0, 1, 2, 3, 4]


def test_early_stopping_baseline():
    """An epoch resets the patience counter only if it also beats the baseline (Keras 3)."""
    m = small_model()
    es = EarlyStopping(monitor="score", patience=2, mode="min", baseline=1.0)
    assert fit(m, epochs=10, cbs=[Script([3, 3, 3, 3, 3]), es]).epoch == [0, 1]
    es = EarlyStopping(monitor="score", patience=2, mode="min", baseline=1.0)
    assert fit(m, epochs=10, cbs=[Script([0.5, 0.6, 0.7, 0.8]), es]).epoch == [0, 1, 2]


def test_early_stopping_is_reusable_and_reports_problems():
    m = small_model()
    es = EarlyStopping(monitor="score", patience=0, mode="min")
    assert fit(m, epochs=10, cbs=[Script([2, 3]), es]).epoch == [0, 1]
    assert fit(m, epochs=10, cbs=[Script([2, 1, 3]), es]).epoch == [0, 1, 2]  # state reset by on_train_begin
    with pytest.warns(UserWarning, match="conditioned on metric `nope` which is not available"):
        assert fit(m, epochs=2, cbs=[EarlyStopping(monitor="nope", mode="min")]).epoch == [0, 1]
    with pytest.raises(ValueError, match="maximized or minimized"):
        fit(m, epochs=2, cbs=[Script([1, 2]), EarlyStopping(monitor="score")])
    with pytest.warns(UserWarning, match="mode 'sideways' is unknown"):
        EarlyStopping(mode="sideways")


def test_early_stopping_verbose_messages(capsys):
    m = small_model()
    fit(m, epochs=10, cbs=[Script([3, 4, 5]), EarlyStopping(monitor="score", mode="min", patience=1, verbose=1,
                                                              restore_best_weights=True)])
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 2: early stopping", "Restoring model weights from the end of the best epoch: 1."]


# --- ModelCheckpoint -----------------------------------------------------------------------------------------------

def test_model_checkpoint_save_best_only_writes_only_on_improvement(tmp_path):
    m = small_model()
    script = Script([3.0, 2.0, 2.5, 1.0])
    path = str(tmp_path / "ckpt-{epoch:02d}-{score:.2f}.fastann")
    fit(m, epochs=4, cbs=[script, ModelCheckpoint(path, monitor="score", mode="min", save_best_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-3.00.fastann", "ckpt-02-2.00.fastann", "ckpt-04-1.00.fastann"]
    saved = load_model(tmp_path / "ckpt-02-2.00.fastann")
    assert same_weights(saved.get_weights(), script.weights[1])


def test_model_checkpoint_one_file_holds_the_best_model(tmp_path):
    m = small_model()
    script = Script([3.0, 2.0, 2.5, 2.2])
    path = tmp_path / "best.fastann"
    fit(m, epochs=4, cbs=[script, ModelCheckpoint(path, monitor="score", mode="min", save_best_only=True)])
    assert os.listdir(tmp_path) == ["best.fastann"]  # atomic writes leave no temporary files behind
    best = load_model(path)
    assert same_weights(best.get_weights(), script.weights[1])
    assert best.optimizer is not None and best.optimizer.iterations == 2 * 4  # the full model, optimizer state too


def test_model_checkpoint_every_epoch_and_weights_only(tmp_path):
    m = small_model()
    script = Script([1, 2, 3])
    fit(m, epochs=3, cbs=[script, ModelCheckpoint(str(tmp_path / "sub" / "w{epoch}.fastann"),
                                                  save_weights_only=True)])
    assert sorted(os.listdir(tmp_path / "sub")) == ["w1.fastann", "w2.fastann", "w3.fastann"]
    other = small_model(seed=7)
    other.load_weights(tmp_path / "sub" / "w2.fastann")
    assert same_weights(other.get_weights(), script.weights[1])


def test_model_checkpoint_initial_value_threshold_and_messages(tmp_path, capsys):
    m = small_model()
    path = str(tmp_path / "m.fastann")
    fit(m, epochs=3, cbs=[Script([0.5, 0.3, 0.4]),
                          ModelCheckpoint(path, monitor="score", mode="min", save_best_only=True, verbose=1,
                                          initial_value_threshold=0.4)])
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "", "Epoch 1: score did not improve from 0.40000",
        "", f"Epoch 2: score improved from 0.40000 to 0.30000, saving model to {path}",
        "", f"Epoch 2: finished saving model to {path}",
        "", "Epoch 3: score did not improve from 0.30000"]


def test_model_checkpoint_errors(tmp_path):
    with pytest.raises(NotImplementedError, match="save_freq=10"):
        ModelCheckpoint("m.fastann", save_freq=10)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.fastann", save_freq="batch")
    m = small_model()
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        fit(m, epochs=1, cbs=[ModelCheckpoint(str(tmp_path / "{nope}.fastann"))])
    with pytest.raises(IsADirectoryError, match="non-directory filepath"):
        fit(m, epochs=1, cbs=[ModelCheckpoint(tmp_path)])
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        fit(m, epochs=1, cbs=[ModelCheckpoint(tmp_path / "x.fastann", save_best_only=True)])
    assert (tmp_path / "x.fastann").exists()


# --- TerminateOnNaN ------------------------------------------------------------------------------------------------

@pytest.fixture
def unchecked_inputs():
    """Non-finite data reaches training (fit rejects it up front by default): the divergence TerminateOnNaN
    watches for, at a known batch."""
    fastann.set_check_finite(False)
    yield
    fastann.set_check_finite(True)


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys, unchecked_inputs):
    m = small_model()
    x, y = data()
    x[40] = np.inf  # in the second batch
    h = m.fit(x, y, epochs=5, batch_size=32, shuffle=False, verbose=0, callbacks=[TerminateOnNaN()])
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"
    assert m.optimizer.iterations == 2 and h.epoch == [0] and not math.isfinite(h.history["loss"][0])
    m2 = small_model()
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 1"):
        m2.fit(x, y, epochs=5, batch_size=32, shuffle=False, verbose=0, callbacks=[TerminateOnNaN(raise_error=True)])
    # a finite run is untouched
    assert small_model().fit(*data(), epochs=2, verbose=0, callbacks=[TerminateOnNaN()]).epoch == [0, 1]


def test_terminate_on_nan_works_alongside_other_batch_hooks(capsys, unchecked_inputs):
    m = small_model()
    x, y = data()
    y[70] = np.nan
    ends = []
    h = m.fit(x, y, epochs=5, batch_size=32, shuffle=False, verbose=0,
              callbacks=[LambdaCallback(on_train_batch_end=lambda b, logs: ends.append(b)), TerminateOnNaN()])
    assert ends == [0, 1, 2] and h.epoch == [0]
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"


# --- LearningRateScheduler -----------------------------------------------------------------------------------------

def test_learning_rate_scheduler_sets_the_rate_every_epoch_and_logs_it():
    m = small_model(optimizer="sgd")  # lr 0.01
    used = []
    record = LambdaCallback(on_epoch_begin=lambda e, logs: used.append(m.optimizer.learning_rate))
    h = fit(m, epochs=4, cbs=[LearningRateScheduler(lambda epoch, lr: lr * 0.5), record])
    np.testing.assert_allclose(used, [0.005, 0.0025, 0.00125, 0.000625])
    np.testing.assert_allclose(h.history["learning_rate"], used)
    assert list(h.history) == ["accuracy", "loss", "learning_rate"]


def test_learning_rate_scheduler_rate_drives_the_optimizer():
    """A zero rate in epoch 0 leaves plain SGD's weights unchanged; the rate of epoch 1 moves them."""
    m = small_model(optimizer="sgd")
    script = Script([0, 0])
    fit(m, epochs=2, cbs=[LearningRateScheduler(lambda epoch: 0.0 if epoch == 0 else 0.1), script])
    start = small_model().get_weights()
    assert same_weights(script.weights[0], start)
    assert not same_weights(script.weights[1], start)
    assert m.optimizer.learning_rate == 0.1


def test_learning_rate_scheduler_errors_and_message(capsys):
    m = small_model()
    with pytest.raises(ValueError, match="should be a float"):
        fit(m, epochs=1, cbs=[LearningRateScheduler(lambda epoch: "fast")])
    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        fit(m, epochs=1, cbs=[LearningRateScheduler(lambda epoch: -1.0)])
    with pytest.raises(TypeError, match="callable"):
        LearningRateScheduler(0.1)
    fit(m, epochs=1, cbs=[LearningRateScheduler(lambda epoch: 0.25, verbose=1)])
    assert capsys.readouterr().out == "\nEpoch 1: LearningRateScheduler setting learning rate to 0.25.\n"


# --- ReduceLROnPlateau ---------------------------------------------------------------------------------------------

def test_reduce_lr_on_plateau_reduces_after_patience_with_cooldown_and_floor():
    m = small_model(optimizer="sgd")  # lr 0.01
    # improves at 0, 1; no improvement at 2, 3 -> reduce at 3 (patience 2) and cool down one epoch: epoch 4 ends
    # the cooldown and counts (as Keras), so epoch 5 reduces again, to the floor
    script = Script([5, 4, 4, 4, 4, 4, 4, 4, 4])
    rlr = ReduceLROnPlateau(monitor="score", mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.003)
    h = fit(m, epochs=9, cbs=[script, rlr])
    # logs['learning_rate'] is the rate the epoch trained with (recorded before a reduction)
    np.testing.assert_allclose(h.history["learning_rate"],
                               [0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.003, 0.003, 0.003])
    assert m.optimizer.learning_rate == 0.003


def test_reduce_lr_on_plateau_errors_and_message(capsys):
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.5)
    m = small_model()
    fit(m, epochs=2, cbs=[Script([1, 1]), ReduceLROnPlateau(monitor="score", mode="min", patience=1, verbose=1)])
    assert capsys.readouterr().out == "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.001.\n"
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned on metric `val_loss`"):
        fit(m, epochs=1, cbs=[ReduceLROnPlateau()])


# --- CSVLogger -----------------------------------------------------------------------------------------------------

def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    m = small_model()
    path = tmp_path / "log.csv"
    h = fit(m, epochs=3, cbs=[CSVLogger(path)], validation=True)
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert [float(r[2]) for r in rows[1:]] == h.history["loss"]


def test_csv_logger_without_validation_adds_na_val_columns_and_appends(tmp_path):
    m = small_model()
    path = tmp_path / "log.csv"
    fit(m, epochs=2, cbs=[CSVLogger(path, separator=";")])
    fit(m, epochs=1, cbs=[CSVLogger(path, separator=";", append=True)])
    rows = read_csv(path, ";")
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]  # as Keras
    assert len(rows) == 4 and rows[3][0] == "0" and rows[1][3:] == ["NA", "NA"]
    fit(m, epochs=1, cbs=[CSVLogger(path)])  # append=False starts over
    assert len(read_csv(path)) == 2


# --- LambdaCallback ------------------------------------------------------------------------------------------------

def test_lambda_callback_hooks_and_arguments():
    m = small_model()
    calls = []
    cb = LambdaCallback(on_train_begin=lambda logs: calls.append("tb"),
                        on_epoch_begin=lambda epoch, logs: calls.append(f"eb{epoch}"),
                        on_epoch_end=lambda epoch, logs: calls.append(f"ee{epoch}:{sorted(logs)}"),
                        on_train_end=lambda logs: calls.append("te"))
    fit(m, epochs=2, cbs=[cb])
    assert calls == ["tb", "eb0", "ee0:['accuracy', 'loss']", "eb1", "ee1:['accuracy', 'loss']", "te"]
    with pytest.raises(TypeError, match="unexpected argument 'on_epoch_middle'"):
        LambdaCallback(on_epoch_middle=print)
    with pytest.raises(TypeError, match="must be callable"):
        LambdaCallback(on_epoch_end=3)


def test_public_names():
    for name in callbacks.__all__:
        assert hasattr(callbacks, name)
