// The model's parameters and workspaces: building (flat parameter, gradient and state buffers, views per layer),
// moving between devices, adding layers.
#include "nn/train/model_impl.hpp"

namespace fastann {

void Sequential::Impl::require_not_fitting(const char* what) const {
  FASTANN_CHECK_STATE(!fitting, what << " is not allowed while the model is being fit (e.g. from a callback)");
}

int64_t Sequential::Impl::output_dim() const { return layers.empty() ? 0 : layers.back()->output_size(); }

const Shape& Sequential::Impl::output_shape() const {
  static const Shape none;
  return layers.empty() ? none : layers.back()->output_shape();
}

bool Sequential::Impl::fused() const {
  if (!compiled || layers.empty() || loss_cfg.from_logits) return false;
  const ops::Act a = layers.back()->activation().kind;
  // An activity regularizer penalises the final layer's output, so the loss must see that output.
  if (layers.back()->activity_regularizer()) return false;
  return (a == ops::Act::sigmoid && loss.kind == ops::Loss::bce) ||
         (a == ops::Act::softmax && (loss.kind == ops::Loss::cce || loss.kind == ops::Loss::scce));
}

void Sequential::Impl::require_layers() const {
  FASTANN_CHECK_STATE(!layers.empty(), "the model has no layers; add layers with model.add(...) first");
}

void Sequential::Impl::require_compiled(const char* what) const {
  FASTANN_CHECK_STATE(compiled,
                      "the model must be compiled before " << what << "; call model.compile(optimizer, loss) first");
}

void Sequential::Impl::build(const Shape& in_shape, std::optional<uint64_t> seed) {
  require_layers();
  const Shape& declared = layers.front()->declared_input_shape();
  if (declared.size() == 1 && in_shape.size() == 1) {
    FASTANN_CHECK_ARG(declared == in_shape,
                      "the model expects inputs with " << declared[0] << " features, got " << in_shape[0]);
  }
  FASTANN_CHECK_ARG(declared.empty() || declared == in_shape, "the model expects inputs of shape "
                                                                  << shape_str(declared) << " per sample, got "
                                                                  << shape_str(in_shape));
  FASTANN_CHECK_ARG(in_shape.size() != 1 || in_shape[0] > 0,
                    "the input dimension must be positive, got " << in_shape[0]);
  Shape d = in_shape;
  int64_t total = 0, state_total = 0;
  std::vector<std::vector<int64_t>> offsets(layers.size()), soffsets(layers.size());
  auto place = [](const Shape& s, int64_t& end) {
    const int64_t at = end;
    int64_t n = 1;
    for (int64_t v : s) n *= v;
    end += (n + kParamAlign - 1) / kParamAlign * kParamAlign;
    return at;
  };
  for (size_t i = 0; i < layers.size(); ++i) {
    layers[i]->build(d);
    d = layers[i]->output_shape();
    for (const Shape& s : layers[i]->param_shapes()) offsets[i].push_back(place(s, total));
    for (const Shape& s : layers[i]->state_shapes()) soffsets[i].push_back(place(s, state_total));
  }
  tail_layer = -1;
  for (size_t i = layers.size(); i-- > 0 && tail_layer < 0;) {
    if (!offsets[i].empty()) tail_layer = static_cast<int64_t>(i), tail_begin = offsets[i].front();
  }
  // Initialised on the host (the initializers draw there), then moved to the model's device.
  params = Tensor({std::max<int64_t>(total, 1)});
  grads = Tensor({std::max<int64_t>(total, 1)});
  state = Tensor({std::max<int64_t>(state_total, 1)});
  param_offsets = std::move(offsets);
  state_offsets = std::move(soffsets);
  bind_views();
  Rng rng(seed ? *seed : next_global_seed());
  for (const auto& l : layers) l->init_params(rng.next_u64());
  if (device != Device::cpu()) move_buffers(device);
  input_shape = in_shape;
  input_dim = nn::shape_numel(in_shape);
  built = true;
  release_workspace();
  if (optimizer) optimizer->reset(params.numel(), device);
}

void Sequential::Impl::bind_views() {
  reg_terms.clear();
  for (size_t i = 0; i < layers.size(); ++i) {
    std::vector<Tensor> p, g, st;
    const auto shapes = layers[i]->param_shapes();
    for (size_t j = 0; j < shapes.size(); ++j) {
      p.push_back(Tensor::view(params.data() + param_offsets[i][j], shapes[j], params.device()));
      g.push_back(Tensor::view(grads.data() + param_offsets[i][j], shapes[j], grads.device()));
      if (const Regularizer* r = layers[i]->param_regularizer(j)) {
        reg_terms.push_back({p.back(), g.back(), static_cast<float>(r->l1), static_cast<float>(r->l2)});
      }
    }
    const auto sshapes = layers[i]->state_shapes();
    for (size_t j = 0; j < sshapes.size(); ++j) {
      st.push_back(Tensor::view(state.data() + state_offsets[i][j], sshapes[j], state.device()));
    }
    layers[i]->bind(std::move(p), std::move(g), std::move(st));
  }
}

void Sequential::Impl::move_buffers(Device d) {
  params = params.to(d);
  grads = Tensor(grads.shape(), d);
  state = state.to(d);
  host_grads = Tensor();
  bind_views();
  if (optimizer) optimizer->to(d);
}

void Sequential::Impl::release_workspace() {
  ws_rows = 0;
  outs.clear();
  douts.clear();
  xb = yb = probs = wb = Tensor();
  std::lock_guard<std::mutex> lock(predict_mu);
  predict_ws = Tensor();
  predict_hidden.clear();
  predict_hidden_chunk = -1;
}

void Sequential::Impl::ensure_built(const Tensor& x, const char* what) {
  static const Shape none;
  const Shape& known = built ? input_shape : layers.empty() ? none : layers.front()->declared_input_shape();
  if (known.size() <= 1 || x.ndim() < 2) {
    FASTANN_CHECK_ARG(x.ndim() == 2 || (known.empty() && x.ndim() > 2),
                      what << ": x must be 2-D (samples, features), got shape " << shape_str(x.shape()));
  }
  if (built) return;
  const Shape s = x.shape();
  build(Shape(s.begin() + 1, s.end()), std::nullopt);
}

void Sequential::Impl::add(std::unique_ptr<nn::Layer> layer) {
  layer->set_device(device);
  std::vector<std::vector<Tensor>> kept;
  const bool was_built = built;
  if (was_built) {
    for (const auto& l : layers) {
      kept.emplace_back();
      for (const Tensor& p : l->params()) kept.back().push_back(p.clone());
      for (const Tensor& p : l->state()) kept.back().push_back(p.clone());
    }
  }
  const auto restore = [&] {
    for (size_t i = 0; i < kept.size(); ++i) {
      const size_t np = layers[i]->params().size();
      for (size_t j = 0; j < kept[i].size(); ++j) {
        Tensor dst = j < np ? layers[i]->params()[j] : layers[i]->state()[j - np];
        dst.copy_from(kept[i][j]);
      }
    }
  };
  layers.push_back(std::move(layer));
  try {
    if (was_built) {
      built = false;
      build(input_shape, std::nullopt);
      restore();
    } else if (layers.size() == 1 && !layers.front()->declared_input_shape().empty()) {
      build(layers.front()->declared_input_shape(), std::nullopt);
    }
  } catch (...) {  // e.g. out of memory: the model goes back to its layers and weights before the call
    layers.pop_back();
    if (was_built) {
      built = false;
      build(input_shape, std::nullopt);
      restore();
    }
    throw;
  }
}

Shape Sequential::Impl::batch_shape(int64_t rows, const Shape& per_sample) {
  Shape s;
  s.reserve(per_sample.size() + 1);  // one allocation
  s.push_back(rows);
  s.insert(s.end(), per_sample.begin(), per_sample.end());
  return s;
}

bool Sequential::Impl::has_batch_shape(const Tensor& t, int64_t rows, const Shape& per_sample) {
  if (!t.defined() || t.ndim() != static_cast<int>(per_sample.size()) + 1 || t.dim(0) != rows) return false;
  for (size_t i = 0; i < per_sample.size(); ++i) {
    if (t.dim(static_cast<int>(i) + 1) != per_sample[i]) return false;
  }
  return true;
}

}  // namespace fastann
