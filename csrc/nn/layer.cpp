// The Layer base (shapes, info, config) and the layer registry's lookups (see layer.hpp).
#include "nn/layer.hpp"

#include <cmath>
#include <map>
#include <mutex>
#include <sstream>

#include "core/check.hpp"
#include "nn/layers/config_json.hpp"
#include "ops/ops.hpp"
#include "runtime/backend.hpp"

namespace fastann::nn {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n = checked_mul(n, d, [&] { return "shape " + shape_str(s); });
  return n;
}

Layer::Layer(std::string name, const ActivationSpec& act, Shape declared_input_shape)
    : name_(std::move(name)),
      act_name_(ops::act_name(ops::parse_activation(act.name, act.alpha).kind)),
      act_(ops::parse_activation(act.name, act.alpha)),
      declared_input_shape_(std::move(declared_input_shape)) {
  for (int64_t d : declared_input_shape_) {
    FASTANN_CHECK_ARG(d > 0, "input shape must have positive dimensions, got " << shape_str(declared_input_shape_));
  }
}

void Layer::build(const Shape& input_shape) {
  FASTANN_CHECK_ARG(!input_shape.empty() && input_shape.size() < static_cast<size_t>(Tensor::kMaxDims),
                    type() << " '" << name_ << "': input shape must have 1 to " << Tensor::kMaxDims - 1
                           << " dimensions per sample, got " << shape_str(input_shape));
  for (int64_t d : input_shape) {
    FASTANN_CHECK_ARG(
        d > 0, type() << " '" << name_ << "': input dimensions must be positive, got shape " << shape_str(input_shape));
  }
  (void)shape_numel(input_shape);  // ValueError for a shape past int64_t, before compute_output_shape multiplies it
  Shape out = compute_output_shape(input_shape);
  Shape old_in = std::move(input_shape_), old_out = std::move(output_shape_);
  input_shape_ = input_shape;
  output_shape_ = std::move(out);
  // Every size the model derives from this layer is checked here, where the layer can be named, so that the buffer
  // sums and workspaces after it only add and multiply numbers known to fit (they check again, cheaply).
  try {
    (void)shape_numel(output_shape_);
    for (const Shape& s : param_shapes()) (void)shape_numel(s);
    for (const Shape& s : state_shapes()) (void)shape_numel(s);
  } catch (const ValueError& e) {
    input_shape_ = std::move(old_in);
    output_shape_ = std::move(old_out);
    FASTANN_THROW(ValueError,
                  type() << " '" << name_ << "' (input shape " << shape_str(input_shape) << "): " << e.what());
  }
  on_build();
}

Json Layer::config() const {
  Json c = Json::object();
  c.set("name", name_);
  write_config(c);
  set_input_shape(c, declared_input_shape_);
  Json out = Json::object();
  out.set("class_name", type());
  out.set("config", std::move(c));
  return out;
}

LayerInfo Layer::info() const {
  LayerInfo li;
  li.name = name_;
  li.type = type();
  li.activation = act_name_;
  li.input_shape = input_shape_;
  li.output_shape = output_shape_;
  li.input_dim = input_dim();
  li.output_dim = output_dim();
  li.use_bias = use_bias();
  li.weight_shapes = param_shapes();
  li.trainable_weights = li.weight_shapes.size();
  for (const Shape& s : state_shapes()) li.weight_shapes.push_back(s);
  li.weight_names = weight_names();
  for (size_t j = 0; j < li.weight_shapes.size(); ++j) {
    const int64_t n = shape_numel(li.weight_shapes[j]);
    li.param_count = checked_add(li.param_count, n, "the parameter count");
    if (j >= li.trainable_weights) li.non_trainable_param_count += n;
  }
  return li;
}

void check_regularizer(const std::optional<Regularizer>& r, const std::string& what) {
  if (!r) return;
  FASTANN_CHECK_ARG(r->name == "l1" || r->name == "l2" || r->name == "l1_l2",
                    what << ": unknown regularizer '" << r->name << "'; valid regularizers: l1, l2, l1_l2");
  FASTANN_CHECK_ARG(std::isfinite(r->l1) && r->l1 >= 0.0,
                    what << ": l1 must be a non-negative finite number, got " << r->l1);
  FASTANN_CHECK_ARG(std::isfinite(r->l2) && r->l2 >= 0.0,
                    what << ": l2 must be a non-negative finite number, got " << r->l2);
}

void require_weight_memory(const std::vector<std::unique_ptr<Layer>>& layers, int64_t params, int64_t state) {
  // In double: the byte count of a model past int64_t is still a model too large for memory, named as such.
  const double bytes = (2.0 * static_cast<double>(params) + static_cast<double>(state)) * sizeof(float);
  if (bytes < static_cast<double>(int64_t{64} << 20)) return;  // small: not worth asking the system
  size_t free_bytes = 0, total_bytes = 0;
  runtime::backend(Device::cpu()).mem_info(0, &free_bytes, &total_bytes);
  if (bytes <= static_cast<double>(free_bytes)) return;
  std::string largest;
  int64_t most = -1;
  for (const auto& l : layers) {
    const std::vector<std::string> names = l->weight_names();
    size_t k = 0;
    std::vector<Shape> all = l->param_shapes();
    for (const Shape& s : l->state_shapes()) all.push_back(s);
    for (const Shape& s : all) {
      const int64_t n = shape_numel(s);
      if (n > most) {
        most = n;
        largest = std::string(l->type()) + " '" + l->name() + "' " + (k < names.size() ? names[k] : "weight") +
                  " of shape " + shape_str(s);
      }
      ++k;
    }
  }
  const auto gib = [](double b) {
    std::ostringstream os;
    os.precision(3);
    os << b / (1u << 30) << " GiB";
    return os.str();
  };
  FASTANN_THROW(OutOfMemoryError, "out of memory: the model's weights, gradients and state need "
                                      << gib(bytes) << " (" << params << " parameters; the largest weight: " << largest
                                      << "), but only " << gib(static_cast<double>(free_bytes))
                                      << " of memory are available");
}

std::string unique_name(const std::string& base) {
  static std::mutex mu;
  static std::map<std::string, int> counts;
  std::lock_guard<std::mutex> lock(mu);
  const int k = counts[base]++;
  return k == 0 ? base : base + "_" + std::to_string(k);
}

std::unique_ptr<Layer> make_layer(const std::string& class_name, const Json& config, const std::string& path) {
  const LayerEntry* e = layer_registry().find(class_name);
  if (!e) {
    FASTANN_THROW(ValueError,
                  "unknown layer class '" << class_name << "'; valid layers: " << layer_registry().names_list());
  }
  config.as_object(path);
  std::string name = name_from(config, path);
  if (name.empty()) name = unique_name(e->base_name);
  return e->create(config, path, std::move(name));
}

std::unique_ptr<Layer> make_layer(const LayerSpec& spec) {
  try {
    return make_layer(spec.class_name, Json::parse(spec.config, "layer config"), spec.class_name + " config");
  } catch (const IOError& e) {
    throw ValueError(std::string("invalid layer config: ") + e.what());
  }
}

std::vector<WeightSpec> planned_weights(const std::vector<LayerSpec>& specs, const Shape& input_shape) {
  std::vector<WeightSpec> out;
  Shape s = input_shape;
  for (const LayerSpec& spec : specs) {
    std::unique_ptr<Layer> l = make_layer(spec);
    l->build(s);
    const std::vector<std::string> names = l->weight_names();
    size_t k = 0;
    for (const Shape& w : l->param_shapes()) out.push_back({l->name() + "/" + names.at(k++), w, true});
    for (const Shape& w : l->state_shapes()) out.push_back({l->name() + "/" + names.at(k++), w, false});
    s = l->output_shape();
  }
  return out;
}

// --- the registry: one line per layer class, each defined in its own file of nn/layers/ ---------------------------
void register_dense(Registry<LayerEntry>& r);
void register_activation(Registry<LayerEntry>& r);
void register_dropout(Registry<LayerEntry>& r);
void register_batch_normalization(Registry<LayerEntry>& r);
void register_flatten(Registry<LayerEntry>& r);
void register_reshape(Registry<LayerEntry>& r);

namespace {
void fill_layers(Registry<LayerEntry>& r) {
  register_dense(r);
  register_activation(r);
  register_dropout(r);
  register_batch_normalization(r);
  register_flatten(r);
  register_reshape(r);
}
}  // namespace

const Registry<LayerEntry>& layer_registry() {
  static const Registry<LayerEntry> registry("layer", &fill_layers);
  return registry;
}

}  // namespace fastann::nn
