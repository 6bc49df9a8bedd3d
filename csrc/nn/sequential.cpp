// Sequential's public methods: adding layers, building, devices, weights and layer info (the loops: nn/train/).
//
// All parameters live in one flat buffer (each tensor 64-byte aligned inside it) and all gradients in a second one
// of the same layout, so one fused optimizer op updates the whole model per step. Non-trainable weights (batch norm's
// moving statistics) live in a third flat buffer that the optimizer never sees. Training buffers (per-layer
// outputs and gradients, the gathered batch) are allocated once per fit for the largest batch; the steady state of
// an epoch allocates nothing.
//
// Devices: every buffer of a model lives on the model's device (Sequential::to); layers and the loops call ops only,
// which run where their tensors are. Data from the host reaches a CUDA model one way of two: fit copies the whole
// dataset to the device once (when it fits within dataset_memory_limit), else batches are staged into the device
// workspace (gather_rows from host memory goes through page-locked buffers); evaluate, predict and train_on_batch
// stage each batch. A CUDA model queues all its work on a stream of its own (a StreamScope in each entry point).
#include "nn/train/model_impl.hpp"

namespace fastann {

const std::vector<double>& History::operator[](const std::string& key) const {
  for (const auto& kv : history) {
    if (kv.first == key) return kv.second;
  }
  throw ValueError("History has no entry '" + key + "'");
}

Sequential::Sequential() : impl_(std::make_unique<Impl>()) {}
Sequential::~Sequential() = default;
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;

// The calls take a pass of the model's gate for their whole run (nn/call_gate.hpp): readers together, one trainer,
// structural changes alone.
using Gate = nn::CallGate;

void Sequential::add(const LayerSpec& spec) {
  Impl& m = *impl_;
  const Gate::Pass pass(m.gate, Gate::Kind::change, "add");
  const runtime::StreamScope on_stream(m.stream);
  std::unique_ptr<nn::Layer> layer = nn::make_layer(spec);
  // The first layer takes the shape of a preceding Input.
  if (m.layers.empty() && !m.input_from_input.empty()) {
    const Shape& declared = layer->declared_input_shape();
    FASTANN_CHECK_ARG(declared.empty() || declared == m.input_from_input,
                      "the layer's input shape " << shape_str(declared) << " disagrees with the model's Input (shape="
                                                 << shape_str(m.input_from_input) << ")");
    if (declared.empty()) {
      nn::Json c = nn::Json::parse(spec.config, "layer config");
      nn::set_input_shape(c, m.input_from_input);
      layer = nn::make_layer({spec.class_name, c.dump()});
    }
  }
  // Shapes are checked now, when the input is known, so a layer that cannot take it is not added.
  const Shape in = m.layers.empty() ? layer->declared_input_shape() : m.layers.back()->output_shape();
  if (!in.empty()) layer->build(in);
  m.add(std::move(layer));
}

void Sequential::pop() {
  Impl& m = *impl_;
  const Gate::Pass pass(m.gate, Gate::Kind::change, "pop");
  const runtime::StreamScope on_stream(m.stream);
  FASTANN_CHECK_STATE(!m.layers.empty(), "pop: the model has no layers");
  m.pop();
}

void Sequential::add(const Dense& layer) { add(to_spec(layer)); }
void Sequential::add(const Activation& layer) { add(to_spec(layer)); }
void Sequential::add(const Dropout& layer) { add(to_spec(layer)); }
void Sequential::add(const BatchNormalization& layer) { add(to_spec(layer)); }

void Sequential::add(const Input& input) {
  const Gate::Pass pass(impl_->gate, Gate::Kind::change, "add");
  bool positive = !input.shape.empty();
  for (int64_t d : input.shape) positive = positive && d > 0;
  if (input.shape.size() <= 1) {
    FASTANN_CHECK_ARG(positive, "Input: shape must be (features,) with features > 0, got " << shape_str(input.shape));
  }
  FASTANN_CHECK_ARG(
      positive && input.shape.size() < static_cast<size_t>(Tensor::kMaxDims),
      "Input: shape must have 1 to " << Tensor::kMaxDims - 1 << " positive dimensions, got " << shape_str(input.shape));
  FASTANN_CHECK_ARG(impl_->layers.empty() && impl_->input_from_input.empty(),
                    "an Input can only be added first, before any layer (and only once)");
  Shape shape = input.shape;
  impl_->input_from_input = std::move(shape);
}

void Sequential::remove_input() {
  const Gate::Pass pass(impl_->gate, Gate::Kind::change, "remove_input");
  FASTANN_CHECK_STATE(impl_->layers.empty(), "remove_input: the model has layers; its input shape is theirs");
  impl_->input_from_input.clear();
}

Sequential Sequential::from_config(const std::vector<LayerSpec>& layers, std::optional<uint64_t> seed) {
  Sequential model;
  Impl& m = *model.impl_;
  // A new model: a failure anywhere leaves nothing behind.
  for (const LayerSpec& spec : layers) {
    std::unique_ptr<nn::Layer> l = nn::make_layer(spec);
    const Shape in = m.layers.empty() ? l->declared_input_shape() : m.layers.back()->output_shape();
    if (!in.empty()) l->build(in);
    m.layers.push_back(std::move(l));
  }
  if (!m.layers.empty() && !m.layers.front()->declared_input_shape().empty()) {
    m.build(m.layers.front()->declared_input_shape(), seed);
  }
  return model;
}

void Sequential::build(const Shape& input_shape, std::optional<uint64_t> seed) {
  Impl& m = *impl_;
  const Gate::Pass pass(m.gate, Gate::Kind::change, "build");
  const runtime::StreamScope on_stream(m.stream);
  m.build(input_shape, seed);
}

void Sequential::build(int64_t input_dim, std::optional<uint64_t> seed) { build(Shape{input_dim}, seed); }

bool Sequential::built() const { return impl_->built; }

void Sequential::to(Device device) {
  Impl& m = *impl_;
  const Gate::Pass pass(m.gate, Gate::Kind::change, "to");
  if (device.type == DeviceType::CUDA) runtime::backend(device).require_device(device.index);
  if (device == m.device) return;
  if (m.device.type == DeviceType::CUDA) {  // the old stream's work first: its buffers are read and then freed
    const runtime::StreamScope old(m.stream);
    runtime::backend(m.device).synchronize(m.device.index);
  }
  std::shared_ptr<void> stream =
      device.type == DeviceType::CUDA ? runtime::backend(device).create_stream(device.index) : nullptr;
  const runtime::StreamScope on_stream(stream);
  if (m.built) m.move_to(device);  // everything that can fail (allocation on the new device) happens in there
  for (const auto& l : m.layers) l->set_device(device);
  m.device = device;
  m.release_workspace();
  m.stream = std::move(stream);
}

Device Sequential::device() const { return impl_->device; }
Shape Sequential::input_shape() const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "input_shape");
  if (impl_->built) return impl_->input_shape;
  return impl_->layers.empty() ? impl_->input_from_input : impl_->layers.front()->declared_input_shape();
}
Shape Sequential::output_shape() const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "output_shape");
  return impl_->output_shape();
}
int64_t Sequential::input_dim() const {
  const Shape s = input_shape();
  return s.empty() ? 0 : nn::shape_numel(s);
}
int64_t Sequential::output_dim() const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "output_dim");
  return impl_->output_dim();
}

size_t Sequential::num_layers() const { return impl_->layers.size(); }

LayerInfo Sequential::layer_info(size_t index) const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "layer_info");
  FASTANN_CHECK_ARG(index < impl_->layers.size(),
                    "layer index " << index << " out of range (the model has " << impl_->layers.size() << " layers)");
  LayerInfo li = impl_->layers[index]->info();
  if (!impl_->built) li.weight_shapes.clear(), li.param_count = 0, li.non_trainable_param_count = 0, li.input_dim = 0;
  return li;
}

int64_t Sequential::count_params() const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "count_params");
  FASTANN_CHECK_STATE(impl_->built, "count_params: the model is not built yet (no input size known)");
  int64_t n = 0;
  for (size_t i = 0; i < impl_->layers.size(); ++i) n += impl_->layers[i]->info().param_count;
  return n;
}

std::vector<Tensor> Sequential::get_layer_weights(size_t index) const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "get_weights");
  FASTANN_CHECK_ARG(index < impl_->layers.size(), "layer index " << index << " out of range");
  std::vector<Tensor> out;
  if (!impl_->built) return out;
  const Gate::Reading reading(impl_->gate);  // the values between two updates of a fit in another thread
  for (const Tensor& p : impl_->layers[index]->params()) out.push_back(p.to(Device::cpu(), /*copy=*/true));
  for (const Tensor& p : impl_->layers[index]->state()) out.push_back(p.to(Device::cpu(), /*copy=*/true));
  return out;
}

std::vector<Tensor> Sequential::get_weights() const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "get_weights");
  const Gate::Reading reading(impl_->gate);  // all layers' weights between the same two updates
  std::vector<Tensor> out;
  for (size_t i = 0; i < impl_->layers.size(); ++i) {
    for (Tensor& t : get_layer_weights(i)) out.push_back(std::move(t));
  }
  return out;
}

namespace {

// Copies weights[k] into dst[k] after every check: the destinations are gathered first (which allocates), so the
// copies, which cannot fail on the host, are all that remains once the first weight changes.
void copy_weights(std::vector<Tensor>& dst, const std::vector<Tensor>& weights) {
  for (size_t k = 0; k < dst.size(); ++k) dst[k].copy_from(weights[k]);
}

}  // namespace

void Sequential::set_layer_weights(size_t index, const std::vector<Tensor>& weights) {
  Impl& m = *impl_;
  const Gate::Pass pass(m.gate, Gate::Kind::write, "set_weights");
  const Gate::Updating updating(m.gate);  // not while another thread reads the values
  const runtime::StreamScope on_stream(m.stream);
  FASTANN_CHECK_ARG(index < m.layers.size(), "layer index " << index << " out of range");
  const nn::Layer& l = *m.layers[index];
  FASTANN_CHECK_STATE(m.built,
                      "set_weights: the model is not built yet; build it (or give the first layer an "
                      "input_dim) before setting weights");
  std::vector<Tensor> dst = l.params();
  for (const Tensor& t : l.state()) dst.push_back(t);
  FASTANN_CHECK_ARG(weights.size() == dst.size(),
                    "layer '" << l.name() << "' expects " << dst.size() << " weight arrays, got " << weights.size());
  for (size_t j = 0; j < dst.size(); ++j) {
    FASTANN_CHECK_ARG(weights[j].shape() == dst[j].shape(),
                      "layer '" << l.name() << "' weight " << j << " must have shape " << shape_str(dst[j].shape())
                                << ", got " << shape_str(weights[j].shape()));
  }
  copy_weights(dst, weights);
}

void Sequential::set_weights(const std::vector<Tensor>& weights) {
  Impl& m = *impl_;
  const Gate::Pass pass(m.gate, Gate::Kind::write, "set_weights");
  const Gate::Updating updating(m.gate);  // not while another thread reads the values
  const runtime::StreamScope on_stream(m.stream);
  FASTANN_CHECK_STATE(m.built, "set_weights: the model is not built yet");
  std::vector<Tensor> dst;
  for (const auto& l : m.layers) {
    for (const auto* group : {&l->params(), &l->state()}) dst.insert(dst.end(), group->begin(), group->end());
  }
  FASTANN_CHECK_ARG(weights.size() == dst.size(),
                    "set_weights: the model has " << dst.size() << " weight arrays, got " << weights.size());
  // Validate everything before changing anything.
  size_t k = 0;
  for (const auto& l : m.layers) {
    for (const auto* group : {&l->params(), &l->state()}) {
      for (const Tensor& p : *group) {
        FASTANN_CHECK_ARG(weights[k].shape() == p.shape(),
                          "set_weights: weight " << k << " (layer '" << l->name() << "') must have shape "
                                                 << shape_str(p.shape()) << ", got " << shape_str(weights[k].shape()));
        ++k;
      }
    }
  }
  copy_weights(dst, weights);
}

const OptimizerConfig& Sequential::optimizer_config() const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "optimizer_config");
  impl_->require_compiled("reading its optimizer");
  return impl_->optimizer->config();
}

const LossConfig& Sequential::loss_config() const {
  impl_->require_compiled("reading its loss");
  return impl_->loss_cfg;
}

double Sequential::learning_rate() const { return optimizer_config().learning_rate; }

void Sequential::set_learning_rate(double lr) {
  const Gate::Pass pass(impl_->gate, Gate::Kind::write, "set_learning_rate");
  const Gate::Updating updating(impl_->gate);  // not while another thread reads the values
  impl_->require_compiled("setting the learning rate");
  impl_->optimizer->set_learning_rate(lr);
}

int64_t Sequential::optimizer_iterations() const { return impl_->compiled ? impl_->optimizer->iterations() : 0; }

LayerSpec Sequential::layer_config(size_t index) const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "layer_config");
  FASTANN_CHECK_ARG(index < impl_->layers.size(),
                    "layer index " << index << " out of range (the model has " << impl_->layers.size() << " layers)");
  const nn::Layer& l = *impl_->layers[index];
  return {l.type(), l.config().at("config", "layer").dump()};
}

const std::string& Sequential::name() const { return impl_->name; }

void Sequential::set_name(std::string name) {
  FASTANN_CHECK_ARG(!name.empty(), "the model name must not be empty");
  {  // the same name again (every Python save, also from a fit's callbacks) changes nothing: a read
    const Gate::Pass pass(impl_->gate, Gate::Kind::read, "set_name");
    if (name == impl_->name) return;
  }
  // A value, not the structure, but one that concurrent readers of name() read in place.
  const Gate::Pass pass(impl_->gate, Gate::Kind::write, "set_name");
  const Gate::Updating updating(impl_->gate);  // not while another thread reads the values
  impl_->name = std::move(name);
}

// Each slot is a flat buffer laid out as the parameters: the view of weight w sits at w's offset in `params`.
OptimizerState Sequential::get_optimizer_state() const {
  const Gate::Pass pass(impl_->gate, Gate::Kind::read, "get_optimizer_state");
  const Gate::Reading reading(impl_->gate);
  const runtime::StreamScope on_stream(impl_->stream);
  const Impl& m = *impl_;
  m.require_compiled("reading its optimizer state");
  FASTANN_CHECK_STATE(m.built, "the model is not built yet, so its optimizer has no state");
  OptimizerState st;
  st.iterations = m.optimizer->iterations();
  st.slot_names = m.optimizer->slot_names();
  for (size_t s = 0; s < st.slot_names.size(); ++s) {
    const Tensor& flat = m.optimizer->slot(s);
    std::vector<Tensor> views;
    for (const auto& l : m.layers) {
      for (const Tensor& p : l->params()) {
        views.push_back(
            Tensor::view(const_cast<float*>(flat.data()) + (p.data() - m.params.data()), p.shape(), flat.device())
                .to(Device::cpu(), /*copy=*/true));
      }
    }
    st.slots.push_back(std::move(views));
  }
  return st;
}

void Sequential::set_optimizer_state(const OptimizerState& st) {
  Impl& m = *impl_;
  const Gate::Pass pass(m.gate, Gate::Kind::write, "set_optimizer_state");
  const Gate::Updating updating(m.gate);  // not while another thread reads the values
  const runtime::StreamScope on_stream(m.stream);
  m.require_compiled("setting its optimizer state");
  FASTANN_CHECK_STATE(m.built, "the model is not built yet; build it before setting its optimizer state");
  FASTANN_CHECK_ARG(st.iterations >= 0, "optimizer state: iterations must be >= 0, got " << st.iterations);
  const std::vector<std::string> names = m.optimizer->slot_names();
  FASTANN_CHECK_ARG(st.slot_names == names && st.slots.size() == names.size(),
                    "optimizer state: the slots do not match this " << m.optimizer->config().name << " optimizer's ("
                                                                    << names.size() << " slots)");
  std::vector<const Tensor*> params;
  for (const auto& l : m.layers) {
    for (const Tensor& p : l->params()) params.push_back(&p);
  }
  for (size_t s = 0; s < names.size(); ++s) {
    FASTANN_CHECK_ARG(st.slots[s].size() == params.size(), "optimizer state: slot '"
                                                               << names[s] << "' has " << st.slots[s].size()
                                                               << " arrays, expected " << params.size());
    for (size_t w = 0; w < params.size(); ++w) {
      FASTANN_CHECK_ARG(st.slots[s][w].shape() == params[w]->shape(),
                        "optimizer state: slot '" << names[s] << "' of weight " << w << " must have shape "
                                                  << shape_str(params[w]->shape()) << ", got "
                                                  << shape_str(st.slots[s][w].shape()));
    }
  }
  // The destinations first (allocation), then the copies: a failure leaves the state as it was.
  std::vector<Tensor> dst;
  std::vector<const Tensor*> src;
  for (size_t s = 0; s < names.size(); ++s) {
    Tensor& flat = m.optimizer->slot(s);
    for (size_t w = 0; w < params.size(); ++w) {
      dst.push_back(
          Tensor::view(flat.data() + (params[w]->data() - m.params.data()), params[w]->shape(), flat.device()));
      src.push_back(&st.slots[s][w]);
    }
  }
  for (size_t k = 0; k < dst.size(); ++k) dst[k].copy_from(*src[k]);
  m.optimizer->set_iterations(st.iterations);
}

void Sequential::set_gradient_reducer(std::shared_ptr<GradientReducer> reducer) {
  const Gate::Pass pass(impl_->gate, Gate::Kind::change, "set_gradient_reducer");
  impl_->reducer = std::move(reducer);
}

const std::shared_ptr<GradientReducer>& Sequential::gradient_reducer() const { return impl_->reducer; }

struct Sequential::ReadScope::Held {
  Held(Gate& gate, const char* call) : pass(gate, Gate::Kind::read, call), reading(gate) {}
  Gate::Pass pass;
  Gate::Reading reading;  // one set of values throughout, also beside a fit in another thread
};

Sequential::ReadScope::ReadScope(const Sequential& model, const char* call)
    : held_(new Held(model.impl_->gate, call)) {}

Sequential::ReadScope::~ReadScope() = default;

}  // namespace fastann
