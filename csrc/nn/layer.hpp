// Internal layer interface used by Sequential. Layers call ops only (device-agnostic). Shapes: x is (batch, in),
// y is (batch, out); parameters are views into the model's flat parameter and gradient buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "fastann/model.hpp"
#include "fastann/tensor.hpp"
#include "ops/types.hpp"

namespace fastann::nn {

class Layer {
 public:
  virtual ~Layer() = default;

  virtual const char* type() const = 0;
  // The configuration this layer was created from, with its final name.
  virtual LayerConfig config() const = 0;
  const std::string& name() const { return name_; }
  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return output_dim_; }
  // The activation applied last by this layer (what a cross-entropy loss may fuse with).
  const ops::ActParams& activation() const { return act_; }
  const std::string& activation_name() const { return act_name_; }
  // The input size this layer was declared with (0: from the previous layer).
  int64_t declared_input_dim() const { return declared_input_dim_; }

  // Fixes the input size and with it the parameter shapes.
  virtual void build(int64_t input_dim) = 0;
  // Trainable parameter shapes in Keras order (empty for parameter-free layers).
  virtual std::vector<Shape> param_shapes() const { return {}; }
  // Non-trainable weights (e.g. batch norm's moving statistics): in get_weights after the parameters, never seen by
  // the optimizer; updated by the layer itself in training.
  virtual std::vector<Shape> state_shapes() const { return {}; }
  // Names of the parameters then the state weights ("kernel", "bias", "moving_mean", ...).
  virtual std::vector<std::string> weight_names() const { return {}; }
  // Points the layer at its parameters, their gradients and its state (views into the model's flat buffers).
  void bind(std::vector<Tensor> params, std::vector<Tensor> grads, std::vector<Tensor> state = {}) {
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
  Layer(std::string name, const ActivationSpec& act, int64_t declared_input_dim);
  // A copy of a layer's configuration struct carrying the layer's final name (what config() returns).
  template <typename Cfg>
  LayerConfig named(Cfg cfg) const {
    cfg.name = name_;
    return cfg;
  }

  std::string name_;
  std::string act_name_;
  ops::ActParams act_;
  int64_t declared_input_dim_ = 0;
  int64_t input_dim_ = 0;
  int64_t output_dim_ = 0;
  Device device_;
  std::vector<Tensor> params_, grads_, state_;
  std::vector<std::optional<Regularizer>> param_regs_;  // per parameter
  std::optional<Regularizer> activity_reg_;
};

class DenseLayer final : public Layer {
 public:
  DenseLayer(const Dense& cfg, std::string name);
  const char* type() const override { return "Dense"; }
  void build(int64_t input_dim) override;
  std::vector<Shape> param_shapes() const override;
  std::vector<std::string> weight_names() const override;
  void init_params(uint64_t seed) override;
  void prepare(int64_t max_batch) override;
  void set_device(Device device) override;
  void forward(const Tensor& x, Tensor& y, bool training, bool logits) override;
  void backward(const Tensor& x, const Tensor& y, Tensor& dy, Tensor* dx, bool logits) override;
  bool use_bias() const { return cfg_.use_bias; }
  LayerConfig config() const override;

 private:
  Dense cfg_;
  Tensor z_;  // (max_batch, units): pre-activation, kept in training when the derivative needs it
};

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(const Activation& cfg, std::string name);
  const char* type() const override { return "Activation"; }
  LayerConfig config() const override;
  void build(int64_t input_dim) override;
  void forward(const Tensor& x, Tensor& y, bool training, bool logits) override;
  void backward(const Tensor& x, const Tensor& y, Tensor& dy, Tensor* dx, bool logits) override;

 private:
  Activation cfg_;
};

// Inverted dropout (training only); identity in inference.
class DropoutLayer final : public Layer {
 public:
  DropoutLayer(const Dropout& cfg, std::string name);
  const char* type() const override { return "Dropout"; }
  LayerConfig config() const override;
  void build(int64_t input_dim) override;
  void prepare(int64_t max_batch) override;
  void set_device(Device device) override;
  void forward(const Tensor& x, Tensor& y, bool training, bool logits) override;
  void backward(const Tensor& x, const Tensor& y, Tensor& dy, Tensor* dx, bool logits) override;

 private:
  Dropout cfg_;
  Rng rng_;      // one seed per training step for the mask
  Tensor mask_;  // (max_batch, features): 0 or 1 / (1 - rate), kept for backward
};

// Batch normalisation (Keras): batch statistics in training, the moving statistics in inference.
class BatchNormLayer final : public Layer {
 public:
  BatchNormLayer(const BatchNormalization& cfg, std::string name);
  const char* type() const override { return "BatchNormalization"; }
  LayerConfig config() const override;
  void build(int64_t input_dim) override;
  std::vector<Shape> param_shapes() const override;
  std::vector<Shape> state_shapes() const override;
  std::vector<std::string> weight_names() const override;
  void init_params(uint64_t seed) override;
  void set_device(Device device) override;
  void forward(const Tensor& x, Tensor& y, bool training, bool logits) override;
  void backward(const Tensor& x, const Tensor& y, Tensor& dy, Tensor* dx, bool logits) override;

 private:
  const Tensor* gamma() const { return cfg_.scale ? &params_[0] : nullptr; }
  const Tensor* beta() const { return cfg_.center ? &params_[cfg_.scale ? 1 : 0] : nullptr; }
  BatchNormalization cfg_;
  float one_minus_momentum_ = 0.0f;
  Tensor batch_mean_, batch_invstd_;  // (features,): of the last training batch, for backward
};

// Fills w (fan_in, fan_out for 2-D kernels) per a Keras initializer spec. Throws ValueError for an unknown name.
void initialize(const InitializerSpec& spec, Tensor& w, int64_t fan_in, int64_t fan_out, uint64_t seed);

}  // namespace fastann::nn
