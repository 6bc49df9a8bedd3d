// fastann._core's training and inference calls on a Sequential: fit and evaluate (Python callbacks at epoch and
// batch boundaries, Ctrl-C between batches, the GIL released), predict, train_on_batch, test_on_batch, and the
// GradientReducer hook (subclassable in Python).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings/bind.hpp"
#include "bindings/numpy.hpp"
#include "fastann/fastann.hpp"

using fastann::Tensor;
using fastann::bindings::as_tensor;
using fastann::bindings::FArray;
using fastann::bindings::to_numpy_f32;

// Ctrl-C check between batches: a pending KeyboardInterrupt (or an earlier error) stops the loop.
std::function<bool()> signal_check(std::exception_ptr& error) {
  return [&error]() {
    py::gil_scoped_acquire gil;
    if (error) return true;
    if (PyErr_CheckSignals() != 0) {
      error = std::make_exception_ptr(py::error_already_set());
      return true;
    }
    return false;
  };
}

namespace {

// The Python hooks' types, for the signatures (and so the stubs): None or a callable. A hook answering a true value
// asks to stop (BatchHook, LogsHook: end the epoch; on_epoch_end: end training).
using Logs = py::typing::Dict<py::str, float>;
using EpochHook = py::typing::Optional<py::typing::Callable<void(int)>>;
using EpochEndHook = py::typing::Optional<py::typing::Callable<bool(int, Logs)>>;
using BatchHook = py::typing::Optional<py::typing::Callable<py::object(int64_t)>>;
using LogsHook = py::typing::Optional<py::typing::Callable<py::object(int64_t, Logs)>>;
using History = py::typing::Dict<py::str, py::object>;  // {'history': {name: [per epoch]}, 'epoch': [...]}
using OptionalReducer = std::optional<std::shared_ptr<fastann::GradientReducer>>;

Logs logs_dict(const fastann::Logs& logs) {
  Logs d;
  for (const auto& kv : logs) d[py::str(kv.first)] = kv.second;
  return d;
}

// Calls a Python hook with the GIL held. An exception it raises is kept in `error` (re-raised by the caller once
// the C++ loop has returned) and turns into `on_error`; after an error no further Python code runs.
template <typename R, typename F>
R call_python(std::exception_ptr& error, R on_error, F&& f) {
  py::gil_scoped_acquire gil;
  if (error) return on_error;
  try {
    return f();
  } catch (...) {
    error = std::current_exception();
    return on_error;
  }
}

// A Python progress / batch hook's answer: a true value asks to stop (end the epoch), None or false to go on.
fastann::FitSignal signal_of(const py::object& result) {
  return (!result.is_none() && py::bool_(result)) ? fastann::FitSignal::stop : fastann::FitSignal::proceed;
}

// fit with Python callbacks at epoch boundaries, optional progress (at a bounded rate) and per-batch hooks, and a
// Ctrl-C check between batches. An exception raised by a callback or by a signal handler stops training after the
// current batch and is re-raised here.
History fit(fastann::Sequential& m, const FArray& x, const FArray& y, int64_t batch_size, int64_t epochs,
            int64_t initial_epoch, bool shuffle, std::optional<uint64_t> seed, double validation_split,
            std::optional<FArray> val_x, std::optional<FArray> val_y, EpochHook on_epoch_begin,
            EpochEndHook on_epoch_end, LogsHook on_progress, int progress_interval_ms, BatchHook on_train_batch_begin,
            LogsHook on_train_batch_end, LogsHook on_nonfinite_loss, int64_t shard_index, int64_t shard_count,
            std::optional<FArray> sample_weight, const std::vector<float>& class_weight,
            std::optional<FArray> val_sample_weight) {
  fastann::FitOptions o;
  o.shard_index = shard_index;
  o.shard_count = shard_count;
  o.batch_size = batch_size;
  o.epochs = epochs;
  o.initial_epoch = initial_epoch;
  o.shuffle = shuffle;
  o.seed = seed;
  o.validation_split = validation_split;
  if (val_x && val_y) {
    o.validation_x = as_tensor(*val_x);
    o.validation_y = as_tensor(*val_y);
  }
  if (sample_weight) o.sample_weight = as_tensor(*sample_weight);
  o.class_weight = class_weight;
  if (val_sample_weight) o.validation_sample_weight = as_tensor(*val_sample_weight);
  if (progress_interval_ms < 0) {
    throw fastann::ValueError("fit: progress_interval_ms must be >= 0, got " + std::to_string(progress_interval_ms));
  }
  using fastann::FitSignal;
  std::exception_ptr error;
  fastann::FitCallbacks cb;
  if (!on_epoch_begin.is_none()) {
    cb.on_epoch_begin = [&](int64_t epoch) {
      call_python(error, 0, [&] {
        on_epoch_begin(epoch);
        return 0;
      });
    };
  }
  cb.on_epoch_end = [&](int64_t epoch, const fastann::Logs& logs) {
    return call_python(error, true, [&] {
      if (on_epoch_end.is_none()) return false;
      return py::bool_(on_epoch_end(epoch, logs_dict(logs))).cast<bool>();
    });
  };
  if (!on_progress.is_none()) {
    cb.progress_interval_ms = progress_interval_ms;
    cb.on_progress = [&](int64_t step, const fastann::Logs& logs) {
      return call_python(error, FitSignal::abort, [&] { return signal_of(on_progress(step, logs_dict(logs))); });
    };
  }
  if (!on_train_batch_begin.is_none()) {
    cb.on_train_batch_begin = [&](int64_t batch) {
      return call_python(error, FitSignal::abort, [&] { return signal_of(on_train_batch_begin(batch)); });
    };
  }
  if (!on_train_batch_end.is_none()) {
    cb.on_train_batch_end = [&](int64_t batch, const fastann::Logs& logs) {
      return call_python(error, FitSignal::abort,
                         [&] { return signal_of(on_train_batch_end(batch, logs_dict(logs))); });
    };
  }
  if (!on_nonfinite_loss.is_none()) {
    cb.on_nonfinite_loss = [&](int64_t batch, const fastann::Logs& logs) {
      return call_python(error, FitSignal::abort, [&] { return signal_of(on_nonfinite_loss(batch, logs_dict(logs))); });
    };
  }
  cb.should_stop = signal_check(error);
  fastann::History h;
  {
    py::gil_scoped_release release;
    h = m.fit(as_tensor(x), as_tensor(y), o, cb);
  }
  if (error) std::rethrow_exception(error);
  py::dict hist;
  for (const auto& kv : h.history) hist[py::str(kv.first)] = kv.second;
  History out;
  out["history"] = hist;
  out["epoch"] = h.epoch;
  return out;
}

// evaluate with optional progress (at a bounded rate) and a Ctrl-C check between batches.
std::vector<double> evaluate(fastann::Sequential& m, const FArray& x, const FArray& y, int64_t batch_size,
                             LogsHook on_progress, int progress_interval_ms, std::optional<FArray> sample_weight) {
  const Tensor tx = as_tensor(x), ty = as_tensor(y);
  const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
  if (progress_interval_ms < 0) {
    throw fastann::ValueError("evaluate: progress_interval_ms must be >= 0, got " +
                              std::to_string(progress_interval_ms));
  }
  std::exception_ptr error;
  fastann::EvaluateCallbacks cb;
  if (!on_progress.is_none()) {
    cb.progress_interval_ms = progress_interval_ms;
    cb.on_progress = [&](int64_t step, const fastann::Logs& logs) {
      return call_python(error, fastann::FitSignal::abort, [&] {
        on_progress(step, logs_dict(logs));
        return fastann::FitSignal::proceed;
      });
    };
  }
  cb.should_stop = signal_check(error);  // Ctrl-C between batches, with or without progress
  std::vector<double> out;
  {
    py::gil_scoped_release release;
    out = m.evaluate(tx, ty, tw, batch_size, cb);
  }
  if (error) std::rethrow_exception(error);
  return out;
}

// GradientReducer subclassed in Python (tests, experiments): each call takes the GIL. reduce(grads) gets a writable
// float32 memoryview of the whole gradient buffer; reduce_sums(values) a float64 one; gradients_ready(grads, begin,
// end) is optional.
class PyGradientReducer : public fastann::GradientReducer {
 public:
  void reduce(float* grads, int64_t n) override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const fastann::GradientReducer*>(this), "reduce");
    if (!f) throw fastann::StateError("GradientReducer subclass does not define reduce(grads)");
    f(py::memoryview::from_buffer(grads, {n}, {static_cast<py::ssize_t>(sizeof(float))}));
  }
  void reduce_sums(double* values, int64_t n) override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const fastann::GradientReducer*>(this), "reduce_sums");
    if (f) f(py::memoryview::from_buffer(values, {n}, {static_cast<py::ssize_t>(sizeof(double))}));
  }
  void gradients_ready(float* grads, int64_t begin, int64_t end) override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const fastann::GradientReducer*>(this), "gradients_ready");
    if (f) f(py::memoryview::from_buffer(grads, {end}, {static_cast<py::ssize_t>(sizeof(float))}), begin, end);
  }
};

}  // namespace

void bind_train(py::module_& mod, py::class_<fastann::Sequential>& seq) {
  // --- Sequential --------------------------------------------------------------------------------------------
  py::class_<fastann::GradientReducer, PyGradientReducer, std::shared_ptr<fastann::GradientReducer>>(
      mod, "GradientReducer",
      "fit's per-step gradient hook (fastann/distributed.hpp); fastann._mpi.MpiReducer, or a Python subclass "
      "defining reduce(grads) and optionally reduce_sums(values), gradients_ready(grads, begin, end).")
      .def(py::init<>());

  seq.def("fit", &fit, py::arg("x"), py::arg("y"), py::arg("batch_size"), py::arg("epochs"), py::arg("initial_epoch"),
          py::arg("shuffle"), py::arg("seed"), py::arg("validation_split"), py::arg("val_x"), py::arg("val_y"),
          py::arg("on_epoch_begin"), py::arg("on_epoch_end"), py::arg("on_progress") = py::none(),
          py::arg("progress_interval_ms") = 50, py::arg("on_train_batch_begin") = py::none(),
          py::arg("on_train_batch_end") = py::none(), py::arg("on_nonfinite_loss") = py::none(),
          py::arg("shard_index") = 0, py::arg("shard_count") = 1, py::arg("sample_weight") = py::none(),
          py::arg("class_weight") = std::vector<float>{}, py::arg("val_sample_weight") = py::none(),
          "Trains in C++ with the GIL released; on_epoch_begin(epoch) / on_epoch_end(epoch, logs) -> stop are called "
          "between epochs, Ctrl-C is checked between batches. on_progress(step, running_logs) is called after the "
          "first batch of an epoch, at most every progress_interval_ms, and after the last. The per-batch hooks "
          "on_train_batch_begin(batch) / on_train_batch_end(batch, running_logs) and on_nonfinite_loss(batch, "
          "running_logs) (once per epoch, when the running loss stops being finite) return a true value to end the "
          "epoch early. shard_index/shard_count: this worker's share of each global batch (data-parallel fit, with "
          "a gradient reducer). Returns {'history': {...}, 'epoch': [...]}.")
      .def(
          "set_gradient_reducer",
          [](fastann::Sequential& m, OptionalReducer r) { m.set_gradient_reducer(r ? std::move(*r) : nullptr); },
          py::arg("reducer").none(true), "The per-step gradient hook of fit (None removes it).")
      .def_property_readonly("gradient_reducer",
                             [](const fastann::Sequential& m) -> OptionalReducer {
                               std::shared_ptr<fastann::GradientReducer> r = m.gradient_reducer();
                               if (!r) return std::nullopt;
                               return r;
                             })
      .def("evaluate", &evaluate, py::arg("x"), py::arg("y"), py::arg("batch_size"),
           py::arg("on_progress") = py::none(), py::arg("progress_interval_ms") = 50,
           py::arg("sample_weight") = py::none(),
           "[loss, *metrics] over all of x (GIL released); on_progress(step, running_logs) as in fit.")
      .def(
          "predict",
          [](const fastann::Sequential& m, const FArray& x, int64_t batch_size) {
            const Tensor tx = as_tensor(x);
            Tensor out;
            std::exception_ptr error;
            fastann::PredictCallbacks cb;
            cb.should_stop = signal_check(error);  // Ctrl-C between chunks
            try {
              py::gil_scoped_release release;
              out = m.predict(tx, batch_size, cb);
            } catch (const fastann::Interrupted&) {
              if (!error) throw;
            }
            if (error) std::rethrow_exception(error);
            return to_numpy_f32(std::move(out));
          },
          py::arg("x"), py::arg("batch_size"),
          "Outputs for x, (n, output_dim) float32 (GIL released, Ctrl-C checked between chunks; batch_size only "
          "bounds memory, 0 = default).")
      .def(
          "train_on_batch",
          [](fastann::Sequential& m, const FArray& x, const FArray& y, std::optional<FArray> sample_weight,
             const std::vector<float>& class_weight) {
            const Tensor tx = as_tensor(x), ty = as_tensor(y);
            const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
            py::gil_scoped_release release;
            return m.train_on_batch(tx, ty, tw, class_weight);
          },
          py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none(),
          py::arg("class_weight") = std::vector<float>{},
          "One optimizer step on this batch; returns [loss, *metrics] computed before the update.")
      .def(
          "test_on_batch",
          [](fastann::Sequential& m, const FArray& x, const FArray& y, std::optional<FArray> sample_weight) {
            const Tensor tx = as_tensor(x), ty = as_tensor(y);
            const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
            py::gil_scoped_release release;
            return m.test_on_batch(tx, ty, tw);
          },
          py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none(),
          "[loss, *metrics] of this batch, no update.");
}
