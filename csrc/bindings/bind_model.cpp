// fastann._core.Sequential's structure: adding layers (Python dicts -> layer, initializer and regularizer configs),
// build, device, compile (optimizer, loss and metric configs), layer info and weights. fit and the other data
// calls are bound in bind_train.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bindings/bind.hpp"
#include "bindings/numpy.hpp"
#include "fastann/fastann.hpp"

using fastann::bindings::FArray;
using fastann::bindings::to_numpy_list;
using fastann::bindings::to_tensors;

namespace {

// The Python types of the signatures (and so of the stubs).
using ConfigDict = py::typing::Dict<py::str, py::object>;  // an initializer, regularizer or metric config, layer info
using OptionalConfig = py::typing::Optional<ConfigDict>;   // a regularizer or None
using MetricList = py::typing::List<py::typing::Union<py::str, ConfigDict>>;  // metric names or configs
using ShapeTuple = py::typing::Tuple<int, py::ellipsis>;

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
    if (key == "learning_rate")
      c.learning_rate = v.cast<double>();
    else if (key == "momentum")
      c.momentum = v.cast<double>();
    else if (key == "nesterov")
      c.nesterov = v.cast<bool>();
    else if (key == "beta_1")
      c.beta_1 = v.cast<double>();
    else if (key == "beta_2")
      c.beta_2 = v.cast<double>();
    else if (key == "epsilon")
      c.epsilon = v.cast<double>();
    else if (key == "rho")
      c.rho = v.cast<double>();
    else if (key == "centered")
      c.centered = v.cast<bool>();
    else if (key == "initial_accumulator_value")
      c.initial_accumulator_value = v.cast<double>();
    else if (key == "weight_decay")
      c.weight_decay = v.cast<double>();
    else
      throw fastann::TypeError("optimizer '" + name + "' got an unexpected argument '" + key + "'");
  }
  return c;
}

// A metric from Python: its name, or a dict {"name", "display_name", "k", "num_thresholds", "threshold"} (keys
// optional but the name).
fastann::MetricConfig to_metric(const py::handle& h) {
  if (py::isinstance<py::str>(h)) return fastann::MetricConfig(h.cast<std::string>());
  const auto d = h.cast<py::dict>();
  fastann::MetricConfig c(d["name"].cast<std::string>());
  if (d.contains("display_name") && !d["display_name"].is_none())
    c.display_name = d["display_name"].cast<std::string>();
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

ConfigDict metric_dict(const fastann::MetricConfig& c) {
  ConfigDict d;
  d["name"] = c.name;
  d["display_name"] = c.display_name;
  d["k"] = c.k;
  d["num_thresholds"] = c.num_thresholds;
  d["threshold"] = c.threshold;
  return d;
}

ConfigDict layer_info_dict(const fastann::LayerInfo& li) {
  ConfigDict d;
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

}  // namespace

py::class_<fastann::Sequential> bind_model(py::module_& mod) {
  py::class_<fastann::Sequential> seq(mod, "Sequential");
  seq.def(py::init<>())
      .def(
          "add_dense",
          [](fastann::Sequential& m, int64_t units, const std::string& activation, std::optional<double> alpha,
             bool use_bias, const ConfigDict& kernel_init, const ConfigDict& bias_init, int64_t input_dim,
             const std::string& name, const OptionalConfig& kernel_reg, const OptionalConfig& bias_reg,
             const OptionalConfig& activity_reg) {
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
          },
          py::arg("units"), py::arg("activation"), py::arg("alpha"), py::arg("use_bias"), py::arg("kernel_init"),
          py::arg("bias_init"), py::arg("input_dim"), py::arg("name"), py::arg("kernel_regularizer") = py::none(),
          py::arg("bias_regularizer") = py::none(), py::arg("activity_regularizer") = py::none(),
          "Appends a Dense layer (initializers as {'name': ..., 'seed': ..., ...} dicts, regularizers as "
          "{'name': 'l1'|'l2'|'l1_l2', 'l1': ..., 'l2': ...} or None).")
      .def(
          "add_activation",
          [](fastann::Sequential& m, const std::string& activation, std::optional<double> alpha, int64_t input_dim,
             const std::string& name) {
            fastann::Activation a(activation);
            a.activation.alpha = alpha ? *alpha : std::numeric_limits<double>::quiet_NaN();
            a.input_dim = input_dim;
            a.name = name;
            m.add(a);
          },
          py::arg("activation"), py::arg("alpha"), py::arg("input_dim"), py::arg("name"),
          "Appends an Activation layer.")
      .def(
          "add_dropout",
          [](fastann::Sequential& m, double rate, std::optional<uint64_t> seed, int64_t input_dim,
             const std::string& name) {
            fastann::Dropout d(rate, seed);
            d.input_dim = input_dim;
            d.name = name;
            m.add(d);
          },
          py::arg("rate"), py::arg("seed"), py::arg("input_dim"), py::arg("name"), "Appends a Dropout layer.")
      .def(
          "add_batch_normalization",
          [](fastann::Sequential& m, double momentum, double epsilon, bool center, bool scale,
             const ConfigDict& beta_init, const ConfigDict& gamma_init, const ConfigDict& moving_mean_init,
             const ConfigDict& moving_variance_init, int64_t input_dim, const std::string& name) {
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
          },
          py::arg("momentum"), py::arg("epsilon"), py::arg("center"), py::arg("scale"), py::arg("beta_init"),
          py::arg("gamma_init"), py::arg("moving_mean_init"), py::arg("moving_variance_init"), py::arg("input_dim"),
          py::arg("name"), "Appends a BatchNormalization layer.")
      .def(
          "add_layer",
          [](fastann::Sequential& m, const std::string& class_name, const std::string& config) {
            m.add(fastann::LayerSpec{class_name, config});
          },
          py::arg("class_name"), py::arg("config_json"),
          "Appends a layer of any registered class from its Keras config as JSON (ValueError for a bad one).")
      .def("remove_input", &fastann::Sequential::remove_input,
           "Undoes add_input while the model has no layers (its first layer could not be added).")
      .def("pop", &fastann::Sequential::pop, "Removes the last layer (the others keep their weights).")
      .def(
          "add_input",
          [](fastann::Sequential& m, const std::vector<int64_t>& shape) {
            m.add(fastann::Input(fastann::Shape(shape)));
          },
          py::arg("shape"), "Sets the input shape (per sample) before the first layer (Keras's Input(shape=...)).")
      .def(
          "build",
          [](fastann::Sequential& m, const std::vector<int64_t>& shape, std::optional<uint64_t> seed) {
            m.build(fastann::Shape(shape), seed);
          },
          py::arg("input_shape"), py::arg("seed") = py::none(),
          "Creates and initialises the weights for inputs of input_shape (per sample).")
      .def_property_readonly("built", &fastann::Sequential::built)
      .def(
          "to",
          [](fastann::Sequential& m, const std::string& device) {
            const fastann::Device d = fastann::Device::parse(device);
            py::gil_scoped_release release;
            m.to(d);
          },
          py::arg("device"), "Moves the model's weights, optimizer state and work to the device ('cpu', 'cuda:N').")
      .def_property_readonly("device", [](const fastann::Sequential& m) { return m.device().str(); })
      .def_property_readonly("input_dim", &fastann::Sequential::input_dim)
      .def_property_readonly("input_shape",
                             [](const fastann::Sequential& m) { return ShapeTuple(py::cast(m.input_shape())); })
      .def_property_readonly("output_shape",
                             [](const fastann::Sequential& m) { return ShapeTuple(py::cast(m.output_shape())); })
      .def_property_readonly("output_dim", &fastann::Sequential::output_dim)
      .def(
          "compile",
          [](fastann::Sequential& m, const std::string& opt, const ConfigDict& opt_kwargs, const std::string& loss,
             bool from_logits, double delta, const MetricList& metrics, const MetricList& weighted_metrics,
             bool keep_optimizer_state) {
            fastann::LossConfig lc(loss);
            lc.from_logits = from_logits;
            lc.delta = delta;
            // Recompiling with the same optimizer object keeps its state (iterations, moments), as in Keras.
            m.compile(to_optimizer(opt, opt_kwargs), lc, to_metrics(metrics), to_metrics(weighted_metrics),
                      keep_optimizer_state);
          },
          py::arg("optimizer"), py::arg("optimizer_kwargs"), py::arg("loss"), py::arg("from_logits"), py::arg("delta"),
          py::arg("metrics"), py::arg("weighted_metrics") = py::list(), py::arg("keep_optimizer_state") = false,
          "Sets the optimizer (name + Keras keyword arguments), the loss and the metrics (names or dicts "
          "{'name', 'display_name', 'k', 'num_thresholds', 'threshold'}).")
      .def(
          "metric_configs",
          [](const fastann::Sequential& m, bool weighted) {
            py::typing::List<ConfigDict> out;
            for (const auto& c : m.metric_configs(weighted)) out.append(metric_dict(c));
            return out;
          },
          py::arg("weighted") = false, "The compiled metrics as dicts, with the names logs report.")
      .def_property_readonly("compiled", &fastann::Sequential::compiled)
      .def_property_readonly("metrics_names", &fastann::Sequential::metrics_names);
  seq.def_property_readonly("num_layers", &fastann::Sequential::num_layers)
      .def(
          "layer_info", [](const fastann::Sequential& m, size_t i) { return layer_info_dict(m.layer_info(i)); },
          py::arg("index"), "name, type, activation, input/output dims, parameter count and weight shapes of layer i.")
      .def("count_params", &fastann::Sequential::count_params)
      .def(
          "get_weights", [](const fastann::Sequential& m) { return to_numpy_list(m.get_weights()); },
          "Copies of all weights in Keras order (kernel (in, out), bias (out,) per Dense layer).")
      .def(
          "set_weights", [](fastann::Sequential& m, const std::vector<FArray>& w) { m.set_weights(to_tensors(w)); },
          py::arg("weights"), "Replaces all weights (validated before anything changes).")
      .def(
          "get_layer_weights",
          [](const fastann::Sequential& m, size_t i) { return to_numpy_list(m.get_layer_weights(i)); },
          py::arg("index"), "Copies of layer index's weights (as get_weights).")
      .def(
          "set_layer_weights",
          [](fastann::Sequential& m, size_t i, const std::vector<FArray>& w) { m.set_layer_weights(i, to_tensors(w)); },
          py::arg("index"), py::arg("weights"), "Replaces layer index's weights (validated before anything changes).")
      .def_property("learning_rate", &fastann::Sequential::learning_rate, &fastann::Sequential::set_learning_rate)
      .def_property_readonly("iterations", &fastann::Sequential::optimizer_iterations)
      .def_property("name", &fastann::Sequential::name, &fastann::Sequential::set_name)
      .def("config_json", &fastann::model_config_json,
           "The architecture and compile configuration as JSON (as the model file stores it).");
  return seq;
}
