// pybind11 module fastann._core: NumPy <-> Tensor conversion and thin wrappers over the C++ API. No logic here:
// arguments are converted, the GIL is released around every call that can take long, and C++ exceptions become
// the matching Python exceptions.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "backends/cpu/dispatch.hpp"
#include "fastann/fastann.hpp"
#include "runtime/backend.hpp"
#include "ops/ops.hpp"

namespace py = pybind11;
using fastann::Tensor;

void bind_device_ops(py::module_& parent);  // device_ops.cpp

namespace {

// Float32 C-contiguous array; pybind11 converts other dtypes/layouts (one copy) and leaves such arrays alone.
using FArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// A view of the array's memory (no copy); the array must outlive the view.
Tensor as_tensor(const FArray& a) {
  fastann::Shape shape(a.shape(), a.shape() + a.ndim());
  return Tensor::view(const_cast<float*>(a.data()), shape);
}

// Hands the Tensor's buffer to NumPy without a copy.
py::array to_numpy(Tensor t) {
  auto* holder = new Tensor(std::move(t));
  py::capsule owner(holder, [](void* p) { delete static_cast<Tensor*>(p); });
  const fastann::Shape s = holder->shape();
  std::vector<py::ssize_t> shape(s.begin(), s.end());
  return py::array_t<float>(shape, holder->data(), owner);
}

py::list to_numpy_list(std::vector<Tensor> ts) {
  py::list out;
  for (Tensor& t : ts) out.append(to_numpy(std::move(t)));
  return out;
}

std::vector<Tensor> to_tensors(const std::vector<FArray>& arrays) {
  std::vector<Tensor> out;
  for (const FArray& a : arrays) out.push_back(as_tensor(a));
  return out;
}

template <typename T>
void set_opt(const py::dict& d, const char* key, std::optional<T>& field) {
  if (d.contains(key) && !d[key].is_none()) field = d[key].cast<T>();
}

fastann::InitializerSpec to_initializer(const py::dict& d) {
  fastann::InitializerSpec s(d["name"].cast<std::string>());
  set_opt(d, "minval", s.minval);
  set_opt(d, "maxval", s.maxval);
  set_opt(d, "mean", s.mean);
  set_opt(d, "stddev", s.stddev);
  set_opt(d, "value", s.value);
  set_opt(d, "seed", s.seed);
  return s;
}

// {'name': 'l1'|'l2'|'l1_l2', 'l1': float, 'l2': float} or None.
std::optional<fastann::Regularizer> to_regularizer(const py::object& o) {
  if (o.is_none()) return std::nullopt;
  const py::dict d = o.cast<py::dict>();
  fastann::Regularizer r;
  r.name = d["name"].cast<std::string>();
  r.l1 = d["l1"].cast<double>();
  r.l2 = d["l2"].cast<double>();
  return r;
}

fastann::OptimizerConfig to_optimizer(const std::string& name, const py::dict& kw) {
  fastann::OptimizerConfig c = fastann::OptimizerConfig::defaults(name);
  for (auto item : kw) {
    const auto key = item.first.cast<std::string>();
    const py::handle v = item.second;
    if (key == "learning_rate") c.learning_rate = v.cast<double>();
    else if (key == "momentum") c.momentum = v.cast<double>();
    else if (key == "nesterov") c.nesterov = v.cast<bool>();
    else if (key == "beta_1") c.beta_1 = v.cast<double>();
    else if (key == "beta_2") c.beta_2 = v.cast<double>();
    else if (key == "epsilon") c.epsilon = v.cast<double>();
    else if (key == "rho") c.rho = v.cast<double>();
    else if (key == "centered") c.centered = v.cast<bool>();
    else if (key == "initial_accumulator_value") c.initial_accumulator_value = v.cast<double>();
    else if (key == "weight_decay") c.weight_decay = v.cast<double>();
    else throw fastann::TypeError("optimizer '" + name + "' got an unexpected argument '" + key + "'");
  }
  return c;
}

// A metric from Python: its name, or a dict {"name", "display_name", "k", "num_thresholds", "threshold"} (keys
// optional but the name).
fastann::MetricConfig to_metric(const py::handle& h) {
  if (py::isinstance<py::str>(h)) return fastann::MetricConfig(h.cast<std::string>());
  const auto d = h.cast<py::dict>();
  fastann::MetricConfig c(d["name"].cast<std::string>());
  if (d.contains("display_name") && !d["display_name"].is_none()) c.display_name = d["display_name"].cast<std::string>();
  if (d.contains("k")) c.k = d["k"].cast<int64_t>();
  if (d.contains("num_thresholds")) c.num_thresholds = d["num_thresholds"].cast<int64_t>();
  if (d.contains("threshold")) c.threshold = d["threshold"].cast<double>();
  return c;
}

std::vector<fastann::MetricConfig> to_metrics(const py::list& l) {
  std::vector<fastann::MetricConfig> out;
  for (const py::handle h : l) out.push_back(to_metric(h));
  return out;
}

py::dict metric_dict(const fastann::MetricConfig& c) {
  py::dict d;
  d["name"] = c.name;
  d["display_name"] = c.display_name;
  d["k"] = c.k;
  d["num_thresholds"] = c.num_thresholds;
  d["threshold"] = c.threshold;
  return d;
}

py::dict layer_info_dict(const fastann::LayerInfo& li) {
  py::dict d;
  d["name"] = li.name;
  d["type"] = li.type;
  d["activation"] = li.activation;
  d["input_dim"] = li.input_dim;
  d["output_dim"] = li.output_dim;
  d["input_shape"] = py::tuple(py::cast(li.input_shape));
  d["output_shape"] = py::tuple(py::cast(li.output_shape));
  d["param_count"] = li.param_count;
  d["use_bias"] = li.use_bias;
  d["weight_shapes"] = li.weight_shapes;
  d["weight_names"] = li.weight_names;
  d["trainable_weights"] = li.trainable_weights;
  d["non_trainable_param_count"] = li.non_trainable_param_count;
  return d;
}

py::dict logs_dict(const fastann::Logs& logs) {
  py::dict d;
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

// fit with Python callbacks at epoch boundaries, optional progress (at a bounded rate) and per-batch hooks, and a
// Ctrl-C check between batches. An exception raised by a callback or by a signal handler stops training after the
// current batch and is re-raised here.
py::dict fit(fastann::Sequential& m, const FArray& x, const FArray& y, int64_t batch_size, int epochs,
             int initial_epoch, bool shuffle, std::optional<uint64_t> seed, double validation_split,
             std::optional<FArray> val_x, std::optional<FArray> val_y, py::object on_epoch_begin,
             py::object on_epoch_end, py::object on_progress, int progress_interval_ms,
             py::object on_train_batch_begin, py::object on_train_batch_end, py::object on_nonfinite_loss,
             int64_t shard_index, int64_t shard_count, std::optional<FArray> sample_weight,
             const std::vector<float>& class_weight, std::optional<FArray> val_sample_weight) {
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
    cb.on_epoch_begin = [&](int epoch) {
      call_python(error, 0, [&] {
        on_epoch_begin(epoch);
        return 0;
      });
    };
  }
  cb.on_epoch_end = [&](int epoch, const fastann::Logs& logs) {
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
      return call_python(error, FitSignal::abort,
                         [&] { return signal_of(on_nonfinite_loss(batch, logs_dict(logs))); });
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
  py::dict out;
  out["history"] = hist;
  out["epoch"] = h.epoch;
  return out;
}

// evaluate with optional progress (at a bounded rate) and a Ctrl-C check between batches.
std::vector<double> evaluate(fastann::Sequential& m, const FArray& x, const FArray& y, int64_t batch_size,
                             py::object on_progress, int progress_interval_ms, std::optional<FArray> sample_weight) {
  const Tensor tx = as_tensor(x), ty = as_tensor(y);
  const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
  if (on_progress.is_none()) {
    py::gil_scoped_release release;
    return m.evaluate(tx, ty, tw, batch_size);
  }
  if (progress_interval_ms < 0) {
    throw fastann::ValueError("evaluate: progress_interval_ms must be >= 0, got " +
                              std::to_string(progress_interval_ms));
  }
  std::exception_ptr error;
  fastann::EvaluateCallbacks cb;
  cb.progress_interval_ms = progress_interval_ms;
  cb.on_progress = [&](int64_t step, const fastann::Logs& logs) {
    return call_python(error, fastann::FitSignal::abort, [&] {
      on_progress(step, logs_dict(logs));
      return fastann::FitSignal::proceed;
    });
  };
  cb.should_stop = signal_check(error);
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

fastann::ops::ActParams act_params(const std::string& name, std::optional<double> alpha) {
  return fastann::ops::parse_activation(name, alpha ? *alpha : std::numeric_limits<double>::quiet_NaN());
}

}  // namespace

PYBIND11_MODULE(_core, mod) {
  mod.doc() = "fastann C++ core (private: use the fastann package)";
  mod.attr("__version__") = fastann::version();

  py::register_exception<fastann::StateError>(mod, "StateError", PyExc_RuntimeError);
  py::register_exception<fastann::UnavailableError>(mod, "UnavailableError", PyExc_RuntimeError);
  py::register_exception<fastann::CudaError>(mod, "CudaError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastann::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const fastann::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const fastann::IOError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const fastann::OutOfMemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });

  mod.def("set_num_threads", &fastann::set_num_threads, py::arg("n"), "Threads used by the CPU kernels.");
  mod.def("get_num_threads", &fastann::get_num_threads);
  mod.def("set_check_finite", &fastann::set_check_finite, py::arg("enabled"),
          "fit/evaluate/train_on_batch/test_on_batch reject NaN or infinity in x or y (default True).");
  mod.def("get_check_finite", &fastann::get_check_finite);
  mod.def("set_dataset_memory_limit", &fastann::set_dataset_memory_limit, py::arg("bytes"),
          "Most bytes of data fit copies to a CUDA model's device (-1: half its free memory; 0: always stream).");
  mod.def("dataset_memory_limit", &fastann::dataset_memory_limit);
  mod.attr("CUDA_BUILT") = fastann::runtime::has_backend(fastann::DeviceType::CUDA);
  {
    // How this module was configured: the FASTANN_CUDA option and the CUDA compiler CMake found ("" if none).
    py::dict info;
    info["option"] = FASTANN_CUDA_OPTION;
    info["nvcc"] = FASTANN_CUDA_COMPILER;
    info["architectures"] = FASTANN_CUDA_ARCHITECTURES;
    mod.attr("CUDA_BUILD_INFO") = info;
  }
  bind_device_ops(mod);
  mod.def("parse_device", [](const std::string& name) { return fastann::Device::parse(name).str(); },
          py::arg("name"), "Canonical device name ('cpu', 'cuda:N'); ValueError for anything else.");
  mod.def("set_random_seed", &fastann::set_random_seed, py::arg("seed"),
          "Seeds the global generator for weight initialisation and shuffling.");
  mod.def("cpu_isa", [] { return fastann::cpu::isa_name(fastann::cpu::active_isa()); },
          "The instruction set the CPU kernels use: generic, avx2 or avx512.");
  mod.def("set_cpu_isa", [](const std::string& name) { fastann::cpu::set_isa(fastann::cpu::isa_from_name(name)); },
          py::arg("name"), "Forces the CPU kernel path (ValueError when this CPU lacks it).");
  mod.def("cpu_isa_supported", [](const std::string& name) {
    return fastann::cpu::isa_supported(fastann::cpu::isa_from_name(name));
  });

  // --- ops ---------------------------------------------------------------------------------------------------
  mod.def("matmul", [](const FArray& a, const FArray& b) {
    const Tensor ta = as_tensor(a), tb = as_tensor(b);
    Tensor c;
    {
      py::gil_scoped_release release;
      c = fastann::ops::matmul(ta, tb);
    }
    return to_numpy(std::move(c));
  }, py::arg("a"), py::arg("b"), "a @ b with NumPy matmul semantics (float32 C-contiguous operands).");

  mod.def("gemm", [](const FArray& a, const FArray& b, bool trans_a, bool trans_b, float alpha, float beta,
                     std::optional<FArray> c, std::optional<FArray> bias, const std::string& activation,
                     std::optional<double> act_alpha) {
    if (a.ndim() != 2 || b.ndim() != 2) throw fastann::ValueError("gemm: a and b must be 2-D");
    const int64_t m = trans_a ? a.shape(1) : a.shape(0), n = trans_b ? b.shape(0) : b.shape(1);
    Tensor out = Tensor::empty({m, n});
    if (c) {
      if (c->ndim() != 2 || c->shape(0) != m || c->shape(1) != n) {
        throw fastann::ValueError("gemm: c must have shape (" + std::to_string(m) + ", " + std::to_string(n) + ")");
      }
      out.copy_from(as_tensor(*c));
    } else if (beta != 0.0f) {
      throw fastann::ValueError("gemm: beta != 0 needs c");
    }
    const Tensor ta = as_tensor(a), tb = as_tensor(b);
    const Tensor tbias = bias ? as_tensor(*bias) : Tensor();
    const fastann::ops::ActParams act = act_params(activation, act_alpha);
    {
      py::gil_scoped_release release;
      fastann::ops::gemm(trans_a, trans_b, alpha, ta, tb, beta, out, bias ? &tbias : nullptr, &act);
    }
    return to_numpy(std::move(out));
  }, py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0f,
     py::arg("beta") = 0.0f, py::arg("c") = py::none(), py::arg("bias") = py::none(),
     py::arg("activation") = "linear", py::arg("activation_alpha") = py::none(),
     "alpha * op(a) @ op(b) + beta * c, then + bias and the activation (fused epilogue); 2-D operands.");

  mod.def("activation", [](const std::string& name, const FArray& x, std::optional<double> alpha) {
    const auto p = act_params(name, alpha);
    const Tensor tx = as_tensor(x);
    Tensor y = Tensor::empty(tx.shape());
    {
      py::gil_scoped_release release;
      fastann::ops::activation_forward(p, tx, y);
    }
    return to_numpy(std::move(y));
  }, py::arg("name"), py::arg("x"), py::arg("alpha") = py::none(), "The named activation of x (softmax: last axis).");

  mod.def("activation_grad", [](const std::string& name, const FArray& x, const FArray& dy,
                                std::optional<double> alpha) {
    const auto p = act_params(name, alpha);
    const Tensor tx = as_tensor(x), tdy = as_tensor(dy);
    if (tx.shape() != tdy.shape()) throw fastann::ValueError("activation_grad: x and dy must have the same shape");
    Tensor y = Tensor::empty(tx.shape()), dx = Tensor::empty(tx.shape());
    {
      py::gil_scoped_release release;
      fastann::ops::activation_forward(p, tx, y);
      fastann::ops::activation_backward(p, tx, y, tdy, dx);
    }
    return to_numpy(std::move(dx));
  }, py::arg("name"), py::arg("x"), py::arg("dy"), py::arg("alpha") = py::none(),
     "dy * activation'(x) (softmax: the row-wise vector-Jacobian product).");

  mod.def("loss", [](const std::string& name, const FArray& y_true, const FArray& y_pred, bool from_logits,
                     double delta, std::optional<FArray> sample_weight) {
    fastann::ops::LossParams p;
    p.kind = fastann::ops::parse_loss(name);
    p.from_logits = from_logits;
    p.delta = static_cast<float>(delta);
    const Tensor yt = as_tensor(y_true), yp = as_tensor(y_pred);
    if (yp.ndim() < 1 || yp.numel() == 0) throw fastann::ValueError(name + ": y_pred is empty");
    const int64_t rows = yp.numel() / yp.dim(-1);
    Tensor grad = Tensor::empty(yp.shape());
    const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
    double sum;
    {
      py::gil_scoped_release release;
      sum = fastann::ops::loss(p, yp, yt, &grad, nullptr, 1.0f / static_cast<float>(rows),
                               sample_weight ? &tw : nullptr);
    }
    return py::make_tuple(sum / static_cast<double>(rows), to_numpy(std::move(grad)));
  }, py::arg("name"), py::arg("y_true"), py::arg("y_pred"), py::arg("from_logits") = false,
     py::arg("delta") = 1.0, py::arg("sample_weight") = py::none(),
     "(batch-mean loss, gradient with respect to y_pred); with sample weights sum(w * loss) / rows, as Keras 3.");

  mod.def("metric", [](const std::string& name, const FArray& y_true, const FArray& y_pred,
                       std::optional<FArray> sample_weight, int64_t k, int64_t num_thresholds, double threshold) {
    fastann::ops::MetricParams p;
    if (!fastann::ops::find_metric(name, &p.kind)) {
      throw fastann::ValueError("unknown metric '" + name + "'; valid metrics: " + fastann::ops::metric_names_list());
    }
    if (k < 1) throw fastann::ValueError(name + ": k must be a positive integer, got " + std::to_string(k));
    if (num_thresholds < 2 || num_thresholds > 1000000) {
      throw fastann::ValueError(name + ": num_thresholds must be in [2, 1000000], got " + std::to_string(num_thresholds));
    }
    p.k = k;
    p.num_thresholds = num_thresholds;
    p.threshold = static_cast<float>(threshold);
    const Tensor yt = as_tensor(y_true), yp = as_tensor(y_pred);
    const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
    if (yp.ndim() < 1 || yp.numel() == 0) throw fastann::ValueError(name + ": y_pred is empty");
    std::vector<double> state(static_cast<size_t>(fastann::ops::metric_state_size(p)), 0.0);
    fastann::ops::metric_update(p, yp, yt, sample_weight ? &tw : nullptr, state.data());
    return fastann::ops::metric_result(p, state.data());
  }, py::arg("name"), py::arg("y_true"), py::arg("y_pred"), py::arg("sample_weight") = py::none(),
     py::arg("k") = 5, py::arg("num_thresholds") = 200, py::arg("threshold") = 0.5,
     "The named metric of one batch (as compile's metrics compute it over an epoch).");

  // Layer kernels, for tests against NumPy references (the layers call the same ops).
  mod.def("dropout", [](const FArray& x, double rate, uint64_t seed) {
    const Tensor tx = as_tensor(x);
    Tensor y = Tensor::empty(tx.shape()), mask = Tensor::empty(tx.shape());
    fastann::ops::dropout_forward(rate, seed, tx, mask, y);
    return py::make_tuple(to_numpy(std::move(y)), to_numpy(std::move(mask)));
  }, py::arg("x"), py::arg("rate"), py::arg("seed"), "(y, mask) of inverted dropout; y = x * mask.");
  mod.def("batchnorm_train", [](const FArray& x, std::optional<FArray> gamma, std::optional<FArray> beta,
                                float epsilon, double momentum, const FArray& moving_mean,
                                const FArray& moving_variance) {
    const Tensor tx = as_tensor(x);
    if (tx.ndim() != 2) throw fastann::ValueError("batchnorm_train: x must be 2-D");
    const Tensor tg = gamma ? as_tensor(*gamma) : Tensor(), tb = beta ? as_tensor(*beta) : Tensor();
    Tensor y = Tensor::empty(tx.shape()), mean = Tensor::empty({tx.dim(1)}), invstd = Tensor::empty({tx.dim(1)});
    Tensor mm = as_tensor(moving_mean).clone(), mv = as_tensor(moving_variance).clone();
    fastann::ops::batchnorm_forward_train(tx, gamma ? &tg : nullptr, beta ? &tb : nullptr, epsilon,
                                          static_cast<float>(momentum), static_cast<float>(1.0 - momentum), mean,
                                          invstd, mm, mv, y);
    return py::make_tuple(to_numpy(std::move(y)), to_numpy(std::move(mean)), to_numpy(std::move(invstd)),
                          to_numpy(std::move(mm)), to_numpy(std::move(mv)));
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("epsilon"), py::arg("momentum"),
     py::arg("moving_mean"), py::arg("moving_variance"),
     "Training-mode batch norm: (y, batch mean, invstd, new moving_mean, new moving_variance).");
  mod.def("batchnorm_infer", [](const FArray& x, std::optional<FArray> gamma, std::optional<FArray> beta,
                                const FArray& mean, const FArray& variance, float epsilon) {
    const Tensor tx = as_tensor(x);
    if (tx.ndim() != 2) throw fastann::ValueError("batchnorm_infer: x must be 2-D");
    const Tensor tg = gamma ? as_tensor(*gamma) : Tensor(), tb = beta ? as_tensor(*beta) : Tensor();
    Tensor y = Tensor::empty(tx.shape());
    fastann::ops::batchnorm_forward_infer(tx, gamma ? &tg : nullptr, beta ? &tb : nullptr, as_tensor(mean),
                                          as_tensor(variance), epsilon, y);
    return to_numpy(std::move(y));
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("mean"), py::arg("variance"), py::arg("epsilon"));
  mod.def("batchnorm_backward", [](const FArray& x, const FArray& mean, const FArray& invstd,
                                   std::optional<FArray> gamma, const FArray& dy) {
    const Tensor tx = as_tensor(x);
    if (tx.ndim() != 2) throw fastann::ValueError("batchnorm_backward: x must be 2-D");
    const Tensor tg = gamma ? as_tensor(*gamma) : Tensor();
    Tensor dx = Tensor::empty(tx.shape()), dgamma = Tensor::empty({tx.dim(1)}), dbeta = Tensor::empty({tx.dim(1)});
    fastann::ops::batchnorm_backward(tx, as_tensor(mean), as_tensor(invstd), gamma ? &tg : nullptr, as_tensor(dy),
                                     &dgamma, &dbeta, &dx);
    return py::make_tuple(to_numpy(std::move(dx)), to_numpy(std::move(dgamma)), to_numpy(std::move(dbeta)));
  }, py::arg("x"), py::arg("mean"), py::arg("invstd"), py::arg("gamma"), py::arg("dy"), "(dx, dgamma, dbeta).");
  mod.def("regularizer", [](float l1, float l2, const FArray& w, float grad_scale) {
    const Tensor tw = as_tensor(w);
    Tensor g(tw.shape());
    const double penalty = fastann::ops::regularizer(l1, l2, tw, &g, grad_scale);
    return py::make_tuple(penalty, to_numpy(std::move(g)));
  }, py::arg("l1"), py::arg("l2"), py::arg("w"), py::arg("grad_scale") = 1.0f,
     "(l1 * sum|w| + l2 * sum w^2, grad_scale * its gradient).");

  // --- Sequential --------------------------------------------------------------------------------------------
  py::class_<fastann::GradientReducer, PyGradientReducer, std::shared_ptr<fastann::GradientReducer>>(
      mod, "GradientReducer",
      "fit's per-step gradient hook (fastann/distributed.hpp); fastann._mpi.MpiReducer, or a Python subclass "
      "defining reduce(grads) and optionally reduce_sums(values), gradients_ready(grads, begin, end).")
      .def(py::init<>());

  py::class_<fastann::Sequential>(mod, "Sequential")
      .def(py::init<>())
      .def("add_dense", [](fastann::Sequential& m, int64_t units, const std::string& activation,
                           std::optional<double> alpha, bool use_bias, const py::dict& kernel_init,
                           const py::dict& bias_init, int64_t input_dim, const std::string& name,
                           const py::object& kernel_reg, const py::object& bias_reg, const py::object& activity_reg) {
        fastann::Dense d(units, activation);
        d.kernel_regularizer = to_regularizer(kernel_reg);
        d.bias_regularizer = to_regularizer(bias_reg);
        d.activity_regularizer = to_regularizer(activity_reg);
        d.activation.alpha = alpha ? *alpha : std::numeric_limits<double>::quiet_NaN();
        d.use_bias = use_bias;
        d.kernel_initializer = to_initializer(kernel_init);
        d.bias_initializer = to_initializer(bias_init);
        d.input_dim = input_dim;
        d.name = name;
        m.add(d);
      }, py::arg("units"), py::arg("activation"), py::arg("alpha"), py::arg("use_bias"), py::arg("kernel_init"),
         py::arg("bias_init"), py::arg("input_dim"), py::arg("name"), py::arg("kernel_regularizer") = py::none(),
         py::arg("bias_regularizer") = py::none(), py::arg("activity_regularizer") = py::none(),
         "Appends a Dense layer (initializers as {'name': ..., 'seed': ..., ...} dicts, regularizers as "
         "{'name': 'l1'|'l2'|'l1_l2', 'l1': ..., 'l2': ...} or None).")
      .def("add_activation", [](fastann::Sequential& m, const std::string& activation, std::optional<double> alpha,
                                int64_t input_dim, const std::string& name) {
        fastann::Activation a(activation);
        a.activation.alpha = alpha ? *alpha : std::numeric_limits<double>::quiet_NaN();
        a.input_dim = input_dim;
        a.name = name;
        m.add(a);
      }, "Appends an Activation layer.")
      .def("add_dropout", [](fastann::Sequential& m, double rate, std::optional<uint64_t> seed, int64_t input_dim,
                             const std::string& name) {
        fastann::Dropout d(rate, seed);
        d.input_dim = input_dim;
        d.name = name;
        m.add(d);
      }, py::arg("rate"), py::arg("seed"), py::arg("input_dim"), py::arg("name"), "Appends a Dropout layer.")
      .def("add_batch_normalization", [](fastann::Sequential& m, double momentum, double epsilon, bool center,
                                         bool scale, const py::dict& beta_init, const py::dict& gamma_init,
                                         const py::dict& moving_mean_init, const py::dict& moving_variance_init,
                                         int64_t input_dim, const std::string& name) {
        fastann::BatchNormalization b;
        b.momentum = momentum;
        b.epsilon = epsilon;
        b.center = center;
        b.scale = scale;
        b.beta_initializer = to_initializer(beta_init);
        b.gamma_initializer = to_initializer(gamma_init);
        b.moving_mean_initializer = to_initializer(moving_mean_init);
        b.moving_variance_initializer = to_initializer(moving_variance_init);
        b.input_dim = input_dim;
        b.name = name;
        m.add(b);
      }, "Appends a BatchNormalization layer.")
      .def("add_layer", [](fastann::Sequential& m, const std::string& class_name, const std::string& config) {
        m.add(fastann::LayerSpec{class_name, config});
      }, py::arg("class_name"), py::arg("config_json"),
           "Appends a layer of any registered class from its Keras config as JSON (ValueError for a bad one).")
      .def("add_input", [](fastann::Sequential& m, const std::vector<int64_t>& shape) {
        m.add(fastann::Input(fastann::Shape(shape)));
      }, py::arg("shape"), "Sets the input shape (per sample) before the first layer (Keras's Input(shape=...)).")
      .def("build", [](fastann::Sequential& m, const std::vector<int64_t>& shape, std::optional<uint64_t> seed) {
        m.build(fastann::Shape(shape), seed);
      }, py::arg("input_shape"), py::arg("seed") = py::none(),
           "Creates and initialises the weights for inputs of input_shape (per sample).")
      .def_property_readonly("built", &fastann::Sequential::built)
      .def("to", [](fastann::Sequential& m, const std::string& device) {
        const fastann::Device d = fastann::Device::parse(device);
        py::gil_scoped_release release;
        m.to(d);
      }, py::arg("device"), "Moves the model's weights, optimizer state and work to the device ('cpu', 'cuda:N').")
      .def_property_readonly("device", [](const fastann::Sequential& m) { return m.device().str(); })
      .def_property_readonly("input_dim", &fastann::Sequential::input_dim)
      .def_property_readonly("input_shape", [](const fastann::Sequential& m) { return py::tuple(py::cast(m.input_shape())); })
      .def_property_readonly("output_shape", [](const fastann::Sequential& m) { return py::tuple(py::cast(m.output_shape())); })
      .def_property_readonly("output_dim", &fastann::Sequential::output_dim)
      .def("compile", [](fastann::Sequential& m, const std::string& opt, const py::dict& opt_kwargs,
                         const std::string& loss, bool from_logits, double delta, const py::list& metrics,
                         const py::list& weighted_metrics, bool keep_optimizer_state) {
        fastann::LossConfig lc(loss);
        lc.from_logits = from_logits;
        lc.delta = delta;
        // Recompiling with the same optimizer object keeps its state (iterations, moments), as in Keras.
        std::optional<fastann::OptimizerState> kept;
        if (keep_optimizer_state && m.compiled() && m.built()) kept = m.get_optimizer_state();
        m.compile(to_optimizer(opt, opt_kwargs), lc, to_metrics(metrics), to_metrics(weighted_metrics));
        if (kept) m.set_optimizer_state(*kept);
      }, py::arg("optimizer"), py::arg("optimizer_kwargs"), py::arg("loss"), py::arg("from_logits"), py::arg("delta"),
         py::arg("metrics"), py::arg("weighted_metrics") = py::list(), py::arg("keep_optimizer_state") = false,
         "Sets the optimizer (name + Keras keyword arguments), the loss and the metrics (names or dicts "
         "{'name', 'display_name', 'k', 'num_thresholds', 'threshold'}).")
      .def("metric_configs", [](const fastann::Sequential& m, bool weighted) {
        py::list out;
        for (const auto& c : m.metric_configs(weighted)) out.append(metric_dict(c));
        return out;
      }, py::arg("weighted") = false, "The compiled metrics as dicts, with the names logs report.")
      .def_property_readonly("compiled", &fastann::Sequential::compiled)
      .def_property_readonly("metrics_names", &fastann::Sequential::metrics_names)
      .def("fit", &fit, py::arg("x"), py::arg("y"), py::arg("batch_size"), py::arg("epochs"),
           py::arg("initial_epoch"), py::arg("shuffle"), py::arg("seed"), py::arg("validation_split"),
           py::arg("val_x"), py::arg("val_y"), py::arg("on_epoch_begin"), py::arg("on_epoch_end"),
           py::arg("on_progress") = py::none(), py::arg("progress_interval_ms") = 50,
           py::arg("on_train_batch_begin") = py::none(), py::arg("on_train_batch_end") = py::none(),
           py::arg("on_nonfinite_loss") = py::none(), py::arg("shard_index") = 0, py::arg("shard_count") = 1,
           py::arg("sample_weight") = py::none(), py::arg("class_weight") = std::vector<float>{},
           py::arg("val_sample_weight") = py::none(),
           "Trains in C++ with the GIL released; on_epoch_begin(epoch) / on_epoch_end(epoch, logs) -> stop are called "
           "between epochs, Ctrl-C is checked between batches. on_progress(step, running_logs) is called after the "
           "first batch of an epoch, at most every progress_interval_ms, and after the last. The per-batch hooks "
           "on_train_batch_begin(batch) / on_train_batch_end(batch, running_logs) and on_nonfinite_loss(batch, "
           "running_logs) (once per epoch, when the running loss stops being finite) return a true value to end the "
           "epoch early. shard_index/shard_count: this worker's share of each global batch (data-parallel fit, with "
           "a gradient reducer). Returns {'history': {...}, 'epoch': [...]}.")
      .def("set_gradient_reducer", [](fastann::Sequential& m, std::shared_ptr<fastann::GradientReducer> r) {
             m.set_gradient_reducer(std::move(r));
           }, py::arg("reducer").none(true), "The per-step gradient hook of fit (None removes it).")
      .def_property_readonly("gradient_reducer", &fastann::Sequential::gradient_reducer)
      .def("evaluate", &evaluate, py::arg("x"), py::arg("y"), py::arg("batch_size"),
           py::arg("on_progress") = py::none(), py::arg("progress_interval_ms") = 50,
           py::arg("sample_weight") = py::none(),
           "[loss, *metrics] over all of x (GIL released); on_progress(step, running_logs) as in fit.")
      .def("predict", [](const fastann::Sequential& m, const FArray& x, int64_t batch_size) {
        const Tensor tx = as_tensor(x);
        Tensor out;
        {
          py::gil_scoped_release release;
          out = m.predict(tx, batch_size);
        }
        return to_numpy(std::move(out));
      }, "Outputs for x, (n, output_dim) float32 (GIL released; batch_size only bounds memory, 0 = default).")
      .def("train_on_batch", [](fastann::Sequential& m, const FArray& x, const FArray& y,
                                std::optional<FArray> sample_weight, const std::vector<float>& class_weight) {
        const Tensor tx = as_tensor(x), ty = as_tensor(y);
        const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
        py::gil_scoped_release release;
        return m.train_on_batch(tx, ty, tw, class_weight);
      }, py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none(),
         py::arg("class_weight") = std::vector<float>{},
         "One optimizer step on this batch; returns [loss, *metrics] computed before the update.")
      .def("test_on_batch", [](fastann::Sequential& m, const FArray& x, const FArray& y,
                               std::optional<FArray> sample_weight) {
        const Tensor tx = as_tensor(x), ty = as_tensor(y);
        const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
        py::gil_scoped_release release;
        return m.test_on_batch(tx, ty, tw);
      }, py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none(), "[loss, *metrics] of this batch, no update.")
      .def_property_readonly("num_layers", &fastann::Sequential::num_layers)
      .def("layer_info", [](const fastann::Sequential& m, size_t i) { return layer_info_dict(m.layer_info(i)); },
           "name, type, activation, input/output dims, parameter count and weight shapes of layer i.")
      .def("count_params", &fastann::Sequential::count_params)
      .def("get_weights", [](const fastann::Sequential& m) { return to_numpy_list(m.get_weights()); },
           "Copies of all weights in Keras order (kernel (in, out), bias (out,) per Dense layer).")
      .def("set_weights", [](fastann::Sequential& m, const std::vector<FArray>& w) { m.set_weights(to_tensors(w)); },
           "Replaces all weights (validated before anything changes).")
      .def("get_layer_weights", [](const fastann::Sequential& m, size_t i) {
        return to_numpy_list(m.get_layer_weights(i));
      })
      .def("set_layer_weights", [](fastann::Sequential& m, size_t i, const std::vector<FArray>& w) {
        m.set_layer_weights(i, to_tensors(w));
      })
      .def_property("learning_rate", &fastann::Sequential::learning_rate, &fastann::Sequential::set_learning_rate)
      .def_property_readonly("iterations", &fastann::Sequential::optimizer_iterations)
      .def_property("name", &fastann::Sequential::name, &fastann::Sequential::set_name)
      .def("config_json", &fastann::model_config_json,
           "The architecture and compile configuration as JSON (as the model file stores it).");

  // --- model file --------------------------------------------------------------------------------------------
  mod.attr("MODEL_FORMAT_VERSION") = fastann::kModelFormatVersion;
  mod.def("save_model", [](const fastann::Sequential& m, const std::string& path, bool include_optimizer) {
    py::gil_scoped_release release;
    fastann::save_model(m, path, include_optimizer);
  }, py::arg("model"), py::arg("path"), py::arg("include_optimizer") = true,
     "Writes the model file atomically (temporary file + rename).");
  mod.def("load_model", [](const std::string& path) {
    py::gil_scoped_release release;
    return fastann::load_model(path);
  }, py::arg("path"), "Reads a model file; a file that is not a valid fastann model raises OSError.");
  mod.def("serialize_model", [](const fastann::Sequential& m, bool include_optimizer) {
    std::string bytes;
    {
      py::gil_scoped_release release;
      bytes = fastann::serialize_model(m, include_optimizer);
    }
    return py::bytes(bytes);
  }, py::arg("model"), py::arg("include_optimizer") = true, "The model file's bytes.");
  mod.def("load_model_from_bytes", [](const py::bytes& data) {
    const std::string_view view = data;
    py::gil_scoped_release release;  // `data` is immutable and kept alive by the caller's reference
    return fastann::load_model_from_memory(view.data(), view.size());
  }, py::arg("data"), "As load_model, from the file's bytes.");
}
