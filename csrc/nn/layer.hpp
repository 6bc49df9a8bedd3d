// The layer interface Sequential drives, over per-sample shapes (N-D), and the registry that finds a layer by its
// Keras class name. Each layer lives in one file of nn/layers/ with its config, weight specs, forward/backward (ops
// only: device-agnostic) and its JSON form. Shapes: x is (batch, *input_shape), y is (batch, *output_shape);
// parameters are views into the model's flat parameter and gradient buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.hpp"
#include "core/registry.hpp"
#include "core/rng.hpp"
#include "fastann/layers.hpp"
#include "fastann/model.hpp"
#include "fastann/tensor.hpp"
#include "ops/types.hpp"

namespace fastann::nn {

using io::Json;

int64_t shape_numel(const Shape& s);  // the product of the dimensions (1 for a scalar shape)

// Views for the training step's hot path, made only when needed. A view shares its tensor's storage, so each one
// costs an atomic reference-count update on creation and destruction, and constructing any Tensor zeroes its
// 128 bytes (std::optional<Tensor> zeroes them too): matrix_of / first_rows return `t` itself when it already has
// the shape asked for, else the view, made in a LazyView, whose construction writes only its flag.
class LazyView {
 public:
  LazyView() {}  // NOLINT: buf_ is deliberately left unwritten
  ~LazyView() {
    if (made_) get()->~Tensor();
  }
  LazyView(const LazyView&) = delete;
  LazyView& operator=(const LazyView&) = delete;
  Tensor* operator->() { return get(); }  // after make()
  Tensor& operator*() { return *get(); }
  Tensor& make(Tensor t) {
    if (made_) get()->~Tensor();
    made_ = false;
    new (buf_) Tensor(std::move(t));
    made_ = true;
    return *get();
  }

 private:
  Tensor* get() { return std::launder(reinterpret_cast<Tensor*>(buf_)); }
  alignas(Tensor) unsigned char buf_[sizeof(Tensor)];
  bool made_ = false;
};
template <typename T>                 // Tensor or const Tensor
T& matrix_of(T& t, LazyView& keep) {  // t as (rows of the leading axes, last axis)
  if (t.ndim() == 2) return t;
  return keep.make(t.as_matrix());
}
template <typename T>
T& first_rows(T& t, int64_t rows, LazyView& keep) {  // t.rows(0, rows)
  if (t.ndim() >= 1 && t.dim(0) == rows) return t;
  return keep.make(t.rows(0, rows));
}
// Keras-style unique default names: dense, dense_1, dense_2, ... (one counter per base name, process-wide).
std::string unique_name(const std::string& base);

class Layer {
 public:
  virtual ~Layer() = default;

  // The Keras class name ("Dense", "Flatten", ...): the registry key.
  virtual const char* type() const = 0;
  // The layer's config as JSON (its final name and declared input shape included): what Sequential::layer_config
  // returns and the model file keeps.
  Json config() const;
  const std::string& name() const { return name_; }
  // Per-sample shapes (without the batch axis); empty before build.
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }
  // Elements per sample.
  int64_t input_size() const { return shape_numel(input_shape_); }
  int64_t output_size() const { return output_shape_.empty() ? 0 : shape_numel(output_shape_); }
  // The last axis (what a Dense layer maps): the features of a one-axis shape.
  int64_t input_dim() const { return input_shape_.empty() ? 0 : input_shape_.back(); }
  int64_t output_dim() const { return output_shape_.empty() ? 0 : output_shape_.back(); }
  // The activation applied last by this layer (what a cross-entropy loss may fuse with).
  const ops::ActParams& activation() const { return act_; }
  const std::string& activation_name() const { return act_name_; }
  // The input shape this layer was declared with (empty: from the previous layer).
  const Shape& declared_input_shape() const { return declared_input_shape_; }
  // Fixes the input shape and with it the output and weight shapes (allocates no weights: the model does).
  void build(const Shape& input_shape);

  // Trainable parameter shapes in Keras order (empty for parameter-free layers).
  virtual std::vector<Shape> param_shapes() const { return {}; }
  // Non-trainable weights (e.g. batch norm's moving statistics): in get_weights after the parameters, never seen by
  // the optimizer; updated by the layer itself in training.
  virtual std::vector<Shape> state_shapes() const { return {}; }
  // Names of the parameters then the state weights ("kernel", "bias", "moving_mean", ...).
  virtual std::vector<std::string> weight_names() const { return {}; }
  // Points the layer at its parameters, their gradients and its state (views into the model's flat buffers).
  void bind(std::vector<Tensor> params, std::vector<Tensor> grads, std::vector<Tensor> state = {}) noexcept {
    params_ = std::move(params);
    grads_ = std::move(grads);
    state_ = std::move(state);
  }
  const std::vector<Tensor>& params() const { return params_; }
  const std::vector<Tensor>& grads() const { return grads_; }
  const std::vector<Tensor>& state() const { return state_; }
  // Initialises the parameters and the state.
  virtual void init_params(uint64_t seed) { (void)seed; }
  // The regularizer of parameter j (null: none) and of the layer's output.
  const Regularizer* param_regularizer(size_t j) const {
    return j < param_regs_.size() && param_regs_[j] ? &*param_regs_[j] : nullptr;
  }
  const Regularizer* activity_regularizer() const { return activity_reg_ ? &*activity_reg_ : nullptr; }
  // Dense's use_bias (false for layers without a bias).
  virtual bool use_bias() const { return false; }
  // Allocates per-batch workspace for training batches of up to max_batch rows (on device()).
  virtual void prepare(int64_t max_batch) { (void)max_batch; }
  // The device the layer runs on: where its workspace lives (its parameters are views of the model's buffers, which
  // the model moves). Drops workspace held elsewhere; prepare() allocates it again.
  virtual void set_device(Device device) { device_ = device; }
  Device device() const { return device_; }

  // y = layer(x). training: keep what backward needs (in this layer's workspace: one training step at a time).
  // logits: skip the final activation because the loss is computed from its input (fused cross-entropy).
  // Inference (training == false) writes only y, so concurrent predicts on one model are safe.
  virtual void forward(const Tensor& x, Tensor& y, bool training, bool logits) = 0;
  // Given dy = dL/dy (overwritten as scratch), accumulates nothing: writes the parameter gradients and, when dx is
  // given, dL/dx. x and y are the forward pass's input and output.
  virtual void backward(const Tensor& x, const Tensor& y, Tensor& dy, Tensor* dx, bool logits) = 0;

  LayerInfo info() const;

 protected:
  Layer(std::string name, const ActivationSpec& act, Shape declared_input_shape);
  // The output shape for an input shape (ValueError naming the layer when the input does not fit).
  virtual Shape compute_output_shape(const Shape& input_shape) const = 0;
  // Called by build once the shapes are set (e.g. to size per-feature state).
  virtual void on_build() {}
  // The layer's own config keys (name and input shape are added by config()).
  virtual void write_config(Json& c) const = 0;

  std::string name_;
  std::string act_name_;
  ops::ActParams act_;
  Shape declared_input_shape_;
  Shape input_shape_, output_shape_;
  Device device_;
  std::vector<Tensor> params_, grads_, state_;
  std::vector<std::optional<Regularizer>> param_regs_;  // per parameter
  std::optional<Regularizer> activity_reg_;
};

// The registry entry of a layer class: its default base name ("dense" -> dense, dense_1, ...) and its factory from
// a config (IOError naming the JSON path for a malformed config, ValueError for a bad value). `name` is the final
// name (the config's, or a unique default).
struct LayerEntry {
  const char* base_name;
  std::unique_ptr<Layer> (*create)(const Json& config, const std::string& path, std::string name);
};
const Registry<LayerEntry>& layer_registry();
// A layer from its spec (class name + JSON config): ValueError for an unknown class or a bad config.
std::unique_ptr<Layer> make_layer(const LayerSpec& spec);
// The same from a parsed config (the model file's reader: errors stay IOError with the JSON path).
std::unique_ptr<Layer> make_layer(const std::string& class_name, const Json& config, const std::string& path);

// The weights a model of these layers would have for inputs of `input_shape` (get_weights order), computed without
// allocating any of them (the model file's reader checks a file's tensors against these first). The specs must name
// their layers (a default name would use up a unique name).
struct WeightSpec {
  std::string name;  // "<layer>/<weight>"
  Shape shape;
  bool trainable;
};
std::vector<WeightSpec> planned_weights(const std::vector<LayerSpec>& specs, const Shape& input_shape);

// OutOfMemoryError naming the largest weight when the host cannot hold a build's float32 buffers: `params`
// parameters and as many gradients, and `state` state values (called before any of them is allocated, so that a
// model far too large fails at once instead of after zero-filling gigabytes, or under the OOM killer).
void require_weight_memory(const std::vector<std::unique_ptr<Layer>>& layers, int64_t params, int64_t state);

// Fills w (fan_in, fan_out for 2-D kernels) per a Keras initializer spec. Throws ValueError for an unknown name.
void initialize(const InitializerSpec& spec, Tensor& w, int64_t fan_in, int64_t fan_out, uint64_t seed);
// ValueError naming `what` for a regularizer with an unknown name or a negative / non-finite factor.
void check_regularizer(const std::optional<Regularizer>& r, const std::string& what);

}  // namespace fastann::nn
