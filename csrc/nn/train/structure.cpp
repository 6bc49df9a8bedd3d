// The model's parameters and workspaces: building (flat parameter, gradient and state buffers, views per layer),
// moving between devices, adding layers.
#include "nn/train/model_impl.hpp"

namespace fastann {

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

// Mutations of the structure follow one pattern (the strong guarantee): everything that can fail (allocation,
// initialisation, copies to a device) is done aside into a Buffers, which commit() then installs without throwing.
Sequential::Impl::Buffers Sequential::Impl::layout() const {
  Buffers b;
  int64_t total = 0, state_total = 0;
  b.param_offsets.resize(layers.size());
  b.state_offsets.resize(layers.size());
  auto place = [](const Shape& s, int64_t& end) {
    const int64_t at = end;
    const int64_t n = checked_add(nn::shape_numel(s), kParamAlign - 1, "the model's parameter count");
    end = checked_add(end, n / kParamAlign * kParamAlign, "the model's parameter count");
    return at;
  };
  for (size_t i = 0; i < layers.size(); ++i) {
    for (const Shape& s : layers[i]->param_shapes()) b.param_offsets[i].push_back(place(s, total));
    for (const Shape& s : layers[i]->state_shapes()) b.state_offsets[i].push_back(place(s, state_total));
  }
  for (size_t i = layers.size(); i-- > 0 && b.tail_layer < 0;) {
    if (!b.param_offsets[i].empty()) b.tail_layer = static_cast<int64_t>(i), b.tail_begin = b.param_offsets[i].front();
  }
  nn::require_weight_memory(layers, total, state_total);  // MemoryError before any of it is allocated
  b.params = Tensor({std::max<int64_t>(total, 1)});
  b.grads = Tensor({std::max<int64_t>(total, 1)});
  b.state = Tensor({std::max<int64_t>(state_total, 1)});
  return b;
}

void Sequential::Impl::make_views(Buffers& b) const {
  b.p.assign(layers.size(), {});
  b.g.assign(layers.size(), {});
  b.st.assign(layers.size(), {});
  b.reg_terms.clear();
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto shapes = layers[i]->param_shapes();
    for (size_t j = 0; j < shapes.size(); ++j) {
      b.p[i].push_back(Tensor::view(b.params.data() + b.param_offsets[i][j], shapes[j], b.params.device()));
      b.g[i].push_back(Tensor::view(b.grads.data() + b.param_offsets[i][j], shapes[j], b.grads.device()));
      if (const Regularizer* r = layers[i]->param_regularizer(j)) {
        b.reg_terms.push_back({b.p[i].back(), b.g[i].back(), static_cast<float>(r->l1), static_cast<float>(r->l2)});
      }
    }
    const auto sshapes = layers[i]->state_shapes();
    for (size_t j = 0; j < sshapes.size(); ++j) {
      b.st[i].push_back(Tensor::view(b.state.data() + b.state_offsets[i][j], sshapes[j], b.state.device()));
    }
  }
}

void Sequential::Impl::to_device(Buffers& b, Device d) const {
  if (b.params.device() == d) return;
  b.params = b.params.to(d);
  b.grads = Tensor(b.grads.shape(), d);
  b.state = b.state.to(d);
}

void Sequential::Impl::commit(Buffers&& b) noexcept {
  params = std::move(b.params);
  grads = std::move(b.grads);
  state = std::move(b.state);
  host_grads = Tensor();
  param_offsets = std::move(b.param_offsets);
  state_offsets = std::move(b.state_offsets);
  tail_layer = b.tail_layer;
  tail_begin = b.tail_begin;
  for (size_t i = 0; i < layers.size(); ++i) layers[i]->bind(std::move(b.p[i]), std::move(b.g[i]), std::move(b.st[i]));
  reg_terms = std::move(b.reg_terms);
}

void Sequential::Impl::init_layers(Buffers& b, size_t first, uint64_t seed) {
  // Initialised on the host (the initializers draw there) through each layer's views of the new buffers: layers
  // [first, end) are not part of the built model yet, so pointing them there is not seen. Layer i draws from the
  // (i + 1)-th number of Rng(seed), whatever `first` is.
  make_views(b);
  Rng rng(seed);
  for (size_t i = 0; i < layers.size(); ++i) {
    const uint64_t s = rng.next_u64();
    if (i < first) continue;
    layers[i]->bind(b.p[i], b.g[i], b.st[i]);
    layers[i]->init_params(s);
  }
}

void Sequential::Impl::build(const Shape& in_shape, std::optional<uint64_t> seed) {
  require_layers();
  // A built model is drawn again (same shapes, fresh weights); it cannot take another input shape.
  FASTANN_CHECK_ARG(!built || in_shape == input_shape, "build: the model is already built for inputs of shape "
                                                           << shape_str(input_shape) << " per sample, got "
                                                           << shape_str(in_shape));
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
  // The layers' shapes: of a model not built yet (a build that fails leaves it unbuilt, and the next build sets
  // them again), or the same as before.
  if (!built) {
    Shape d = in_shape;
    for (const auto& l : layers) {
      l->build(d);
      d = l->output_shape();
    }
  }
  // The weights are drawn through the layers' views of the new buffers: a built model's layers point back at the
  // current ones if a later step fails.
  std::vector<std::vector<Tensor>> old_p, old_g, old_st;
  if (built) {
    for (const auto& l : layers)
      old_p.push_back(l->params()), old_g.push_back(l->grads()), old_st.push_back(l->state());
  }
  Buffers b = layout();
  Shape in = in_shape;
  try {
    init_layers(b, 0, seed ? *seed : next_global_seed());
    to_device(b, device);
    make_views(b);
    if (optimizer) optimizer->reset(b.params.numel(), device);  // the last step that may fail (it is strong itself)
  } catch (...) {
    for (size_t i = 0; i < old_p.size(); ++i) {
      layers[i]->bind(std::move(old_p[i]), std::move(old_g[i]), std::move(old_st[i]));
    }
    throw;
  }
  commit(std::move(b));
  input_shape = std::move(in);
  input_dim = nn::shape_numel(input_shape);
  built = true;
  release_workspace();
}

void Sequential::Impl::move_to(Device d) {
  Buffers b;
  b.params = params, b.grads = grads, b.state = state;
  b.param_offsets = param_offsets, b.state_offsets = state_offsets;
  b.tail_layer = tail_layer, b.tail_begin = tail_begin;
  to_device(b, d);
  make_views(b);
  if (optimizer) optimizer->to(d);  // the last step that may fail (it is strong itself)
  commit(std::move(b));
}

void Sequential::Impl::release_workspace() {
  ws = Workspace();
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
  layers.reserve(layers.size() + 1);  // so that the push_back cannot throw
  layers.push_back(std::move(layer));
  try {
    if (!built) {
      if (layers.size() == 1 && !layers.front()->declared_input_shape().empty()) {
        build(layers.front()->declared_input_shape(), std::nullopt);
      }
      return;
    }
    // A built model: the new layer's weights go after the others, whose offsets stay; the existing weights are
    // copied into the new buffers, the new layer's drawn there, and nothing of the model changes until commit.
    Buffers b = layout();
    if (params.numel() > 0) Tensor::view(b.params.data(), {params.numel()}).copy_from(params);
    if (state.numel() > 0) Tensor::view(b.state.data(), {state.numel()}).copy_from(state);
    init_layers(b, layers.size() - 1, next_global_seed());
    to_device(b, device);
    make_views(b);
    if (optimizer) optimizer->reset(b.params.numel(), device);
    commit(std::move(b));
    release_workspace();
  } catch (...) {  // e.g. out of memory: the model is as before the call
    layers.pop_back();
    throw;
  }
}

void Sequential::Impl::pop() {
  std::unique_ptr<nn::Layer> last = std::move(layers.back());
  layers.pop_back();
  if (!built) return;
  if (layers.empty()) {  // nothing left to build: the model is not built any more
    Buffers none;
    commit(std::move(none));
    built = false;
    release_workspace();
    return;
  }
  try {
    // The remaining layers' weights sit at the same offsets: the front of the current buffers.
    Buffers b = layout();
    Tensor::view(b.params.data(), {b.params.numel()})
        .copy_from(Tensor::view(params.data(), {b.params.numel()}, params.device()));
    Tensor::view(b.state.data(), {b.state.numel()})
        .copy_from(Tensor::view(state.data(), {b.state.numel()}, state.device()));
    to_device(b, device);
    make_views(b);
    if (optimizer) optimizer->reset(b.params.numel(), device);
    commit(std::move(b));
    release_workspace();
  } catch (...) {
    layers.push_back(std::move(last));  // into the capacity the pop_back left: cannot throw
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
