// The Keras-style model API: build a Sequential of layers, compile it with a loss, an optimizer and metrics, then
// fit / evaluate / predict. Everything runs in C++; the Python package is a thin layer over this same class.
//
//   fastann::Sequential model;
//   model.add(fastann::Dense(32, "relu").with_input_dim(10));
//   model.add(fastann::Dense(1, "sigmoid"));
//   model.compile(fastann::OptimizerConfig::defaults("adam"), {"binary_crossentropy"}, {"accuracy"});
//   fastann::FitOptions opts;
//   opts.epochs = 10;
//   model.fit(x, y, opts);
//   fastann::Tensor p = model.predict(x);
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fastann/export.hpp"
#include "fastann/fit.hpp"
#include "fastann/layers.hpp"
#include "fastann/losses.hpp"
#include "fastann/metrics.hpp"
#include "fastann/optimizers.hpp"
#include "fastann/tensor.hpp"

namespace fastann {

class GradientReducer;  // fastann/distributed.hpp

struct LayerInfo {
  std::string name;
  std::string type;        // "Dense", "Activation", "Dropout", "BatchNormalization"
  std::string activation;  // Keras name
  Shape input_shape;       // per sample (without the batch axis); empty before the model is built
  Shape output_shape;
  int64_t input_dim = 0;  // the last axis of input_shape / output_shape (the features of one-axis shapes)
  int64_t output_dim = 0;
  int64_t param_count = 0;                // all weights, as Keras's count_params
  int64_t non_trainable_param_count = 0;  // of which non-trainable (BatchNormalization's moving statistics)
  bool use_bias = false;
  // Keras order, trainable weights first: Dense kernel (in, out), bias (out,); BatchNormalization gamma, beta,
  // moving_mean, moving_variance (each (features,)).
  std::vector<Shape> weight_shapes;
  std::vector<std::string> weight_names;  // "kernel", "bias", "gamma", ... (the model file's "<layer>/<name>")
  size_t trainable_weights = 0;           // the first trainable_weights of weight_shapes are trainable
};

class FASTANN_API Sequential {
 public:
  Sequential();
  ~Sequential();
  Sequential(Sequential&&) noexcept;
  Sequential& operator=(Sequential&&) noexcept;
  Sequential(const Sequential&) = delete;
  Sequential& operator=(const Sequential&) = delete;

  // Appends a layer: any registered layer class by its spec (class name + JSON config; ValueError for an unknown
  // class or a bad config), or one of the layer structs.
  void add(const LayerSpec& layer);
  void add(const Dense& layer);
  void add(const Activation& layer);
  void add(const Dropout& layer);
  void add(const BatchNormalization& layer);
  // Removes the last layer (Keras's pop): the others keep their weights; the optimizer's variables start again.
  // StateError when there is no layer.
  void pop();
  // Sets the input shape, as Keras's `model.add(Input(shape=...))`: only before the first layer.
  void add(const Input& input);
  // Undoes add(Input) while the model has no layers (StateError once it has): e.g. when the first layer that was to
  // take that shape could not be added.
  void remove_input();
  // A model of these layers (as Keras's Sequential.from_config), built once (weights drawn from `seed`, else the
  // global generator) when the first layer declares its input shape.
  static Sequential from_config(const std::vector<LayerSpec>& layers, std::optional<uint64_t> seed = std::nullopt);

  // Creates the weights for inputs of `input_shape` per sample (done automatically on first use when the first
  // layer declares its input shape, or when fit/predict first see data). Weights are initialised from `seed` when
  // given, else from the global generator (fastann::set_random_seed). build(n) is build({n}).
  void build(const Shape& input_shape, std::optional<uint64_t> seed = std::nullopt);
  void build(int64_t input_dim, std::optional<uint64_t> seed = std::nullopt);
  bool built() const;
  // Runs the model on `device` from now on: its parameters, gradients, optimizer state and workspaces move there
  // (values kept; a model not built yet is placed there when it is built). fit/evaluate/predict still take and
  // return host tensors (inputs may also be tensors on the model's device): fit copies its data to the device once
  // when it fits within dataset_memory_limit(), else streams each batch through page-locked host memory. A CUDA
  // model queues its work on a CUDA stream of its own. Throws UnavailableError when the device cannot be used.
  void to(Device device);
  Device device() const;
  // Per-sample shapes (without the batch axis); empty when not yet known.
  Shape input_shape() const;
  Shape output_shape() const;
  int64_t input_dim() const;   // elements per input sample (the features of a one-axis input); 0 when not known
  int64_t output_dim() const;  // elements per output sample; 0 when there are no layers

  // metrics: see MetricConfig; they ignore sample weights. weighted_metrics (Keras's compile argument) use them:
  // weighted means, weighted confusion counts. A name used twice gets "_1", "_2", ...; a weighted metric named as
  // an unweighted one is reported as "weighted_<name>" (as Keras 3). keep_optimizer_state: a model compiled before
  // keeps its optimizer's variables (iterations, moments) when the new optimizer has the same ones (Keras: compile
  // given the same optimizer object again). A compile that fails leaves the model as it was.
  void compile(const OptimizerConfig& optimizer, const LossConfig& loss, const std::vector<MetricConfig>& metrics = {},
               const std::vector<MetricConfig>& weighted_metrics = {}, bool keep_optimizer_state = false);
  bool compiled() const;
  // "loss" followed by the metrics' names as logs report them (e.g. "accuracy"), then the weighted metrics'.
  std::vector<std::string> metrics_names() const;
  // The compiled metrics as given to compile (display_name set to the reported name).
  std::vector<MetricConfig> metric_configs(bool weighted) const;

  // x is (n, input_dim); y is (n, output_dim), or (n,) class indices for sparse_categorical_crossentropy.
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {}, const FitCallbacks& callbacks = {});
  // Returns [loss, metrics...] over all of x, as Keras's evaluate.
  std::vector<double> evaluate(const Tensor& x, const Tensor& y, int64_t batch_size = 32);
  // The same, reporting progress (e.g. for a progress bar) through `callbacks`.
  std::vector<double> evaluate(const Tensor& x, const Tensor& y, int64_t batch_size,
                               const EvaluateCallbacks& callbacks);
  // With per-sample weights (n,) (undefined: 1 each): the loss is sum(w * loss) / n, weighted metrics are weighted.
  std::vector<double> evaluate(const Tensor& x, const Tensor& y, const Tensor& sample_weight, int64_t batch_size,
                               const EvaluateCallbacks& callbacks = {});
  // Returns (n, output_dim), on x's device. batch_size only bounds working memory; results do not depend on it.
  Tensor predict(const Tensor& x, int64_t batch_size = 0) const;
  // The same, polling callbacks.should_stop between chunks (fastann::Interrupted when it answers true).
  Tensor predict(const Tensor& x, int64_t batch_size, const PredictCallbacks& callbacks) const;
  // Writes predictions into `out` (n, output_dim), e.g. caller-owned memory: no allocation for the result.
  void predict_into(const Tensor& x, Tensor& out, int64_t batch_size = 0) const;
  // One optimizer step on exactly this batch; returns [loss, metrics...] for it (computed before the update).
  // sample_weight (n,) or class_weight (by class index) weight the samples as in fit (not both).
  std::vector<double> train_on_batch(const Tensor& x, const Tensor& y, const Tensor& sample_weight = Tensor(),
                                     const std::vector<float>& class_weight = {});
  std::vector<double> test_on_batch(const Tensor& x, const Tensor& y, const Tensor& sample_weight = Tensor());

  size_t num_layers() const;
  LayerInfo layer_info(size_t index) const;
  LayerSpec layer_config(size_t index) const;
  // The model's name (Keras: "sequential", "sequential_1", ...); kept in the model file.
  const std::string& name() const;
  void set_name(std::string name);
  int64_t count_params() const;
  // Weights in Keras order (per layer: its trainable weights, then its non-trainable ones), as copies.
  std::vector<Tensor> get_weights() const;
  void set_weights(const std::vector<Tensor>& weights);
  std::vector<Tensor> get_layer_weights(size_t index) const;
  void set_layer_weights(size_t index, const std::vector<Tensor>& weights);

  const OptimizerConfig& optimizer_config() const;  // throws StateError before compile
  const LossConfig& loss_config() const;
  double learning_rate() const;
  void set_learning_rate(double lr);
  int64_t optimizer_iterations() const;
  // Copies of the optimizer's variables (StateError before compile or build).
  OptimizerState get_optimizer_state() const;
  // Replaces them: the slot names must be this optimizer's and every shape must match (checked before anything
  // changes), so training continues exactly where the state was taken.
  void set_optimizer_state(const OptimizerState& state);

  // Data-parallel training (fastann/distributed.hpp): fit (and train_on_batch) hand every step's gradients to this
  // reducer between the backward pass and the optimizer update, and fit reduces each epoch's loss and metric sums
  // with it. nullptr (the default) removes it. Not allowed while the model is being fit.
  void set_gradient_reducer(std::shared_ptr<GradientReducer> reducer);
  const std::shared_ptr<GradientReducer>& gradient_reducer() const;

  // The model held as a reader for a scope (as predict holds it for its run): structural changes (add, compile,
  // build, to) from other threads are refused with StateError meanwhile, so that several reads see one model (the
  // model file's writer holds one around the configuration, the weights and the optimizer state). Threads: a model
  // runs any number of readers (predict, evaluate, get_weights, save) at once and beside a fit; one fit or
  // train_on_batch at a time; a structural change only when no other call is in flight. A call that may not run
  // throws StateError naming both calls at once: no call waits for another.
  class FASTANN_API ReadScope {
   public:
    ReadScope(const Sequential& model, const char* call);  // `call` names the reader in errors (a literal)
    ~ReadScope();
    ReadScope(const ReadScope&) = delete;
    ReadScope& operator=(const ReadScope&) = delete;

   private:
    struct Held;
    std::unique_ptr<Held> held_;
  };

 private:
  std::vector<double> evaluate_checked(const Tensor& x, const Tensor& y, const Tensor& sample_weight,
                                       int64_t batch_size, const EvaluateCallbacks* callbacks);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Seeds the global generator that weight initialisation and shuffling draw from when no seed is given.
FASTANN_API void set_random_seed(uint64_t seed);

// Threads used by the CPU kernels (default: available cores, or FASTANN_NUM_THREADS).
FASTANN_API void set_num_threads(int n);
FASTANN_API int get_num_threads();

// fit / evaluate / train_on_batch / test_on_batch reject x or y holding NaN or infinity with a ValueError naming
// the row and column (default on; one threaded pass over the data per call). Off: such data is used as given.
FASTANN_API void set_check_finite(bool enabled);
FASTANN_API bool get_check_finite();

// The most bytes of training data (x, y, sample weights and validation data together) fit copies to a CUDA model's
// device; larger data stays on the host and is streamed a batch at a time. -1 (the default): half the device's
// free memory when fit starts. 0 always streams.
FASTANN_API void set_dataset_memory_limit(int64_t bytes);
FASTANN_API int64_t dataset_memory_limit();

}  // namespace fastann
