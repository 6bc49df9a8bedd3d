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
#include "fastann/tensor.hpp"

namespace fastann {

class GradientReducer;  // fastann/distributed.hpp

// Activation names (Keras): linear, relu, sigmoid, tanh, softmax, leaky_relu, elu, selu, gelu, softplus, swish
// (alias silu). `alpha` is leaky_relu's negative slope (default 0.2) or elu's alpha (default 1.0); NaN = default.
struct ActivationSpec {
  std::string name = "linear";
  double alpha = std::numeric_limits<double>::quiet_NaN();
};

// Initializer names (Keras): glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal,
// random_uniform (minval, maxval), random_normal (mean, stddev), truncated_normal (mean, stddev), zeros, ones,
// constant (value). Unset parameters take Keras's defaults.
struct InitializerSpec {
  std::string name;
  std::optional<double> minval, maxval, mean, stddev, value;
  std::optional<uint64_t> seed;
  InitializerSpec(const char* n = "zeros") : name(n) {}  // NOLINT: implicit from a name, like Keras strings
  InitializerSpec(std::string n) : name(std::move(n)) {}  // NOLINT
};

// A weight or activity penalty, Keras's regularizers: l1 * sum|w| + l2 * sum w^2, added to the loss (and its gradient
// to the weights' gradients). name: "l1", "l2" or "l1_l2" (Keras's classes L1, L2, L1L2; kept in the model file).
struct Regularizer {
  std::string name = "l1_l2";
  double l1 = 0.0;
  double l2 = 0.0;
  static Regularizer L1(double l1 = 0.01) { return {"l1", l1, 0.0}; }
  static Regularizer L2(double l2 = 0.01) { return {"l2", 0.0, l2}; }
  static Regularizer L1L2(double l1 = 0.0, double l2 = 0.0) { return {"l1_l2", l1, l2}; }
};

// A fully connected layer: y = activation(x @ kernel + bias), kernel (input_dim, units), bias (units).
// Regularizers (Keras): kernel/bias add their penalty to the loss of every batch; activity penalises the layer's
// output, divided by the batch size (Keras 3).
struct Dense {
  int64_t units = 0;
  ActivationSpec activation;
  bool use_bias = true;
  InitializerSpec kernel_initializer{"glorot_uniform"};
  InitializerSpec bias_initializer{"zeros"};
  std::optional<Regularizer> kernel_regularizer, bias_regularizer, activity_regularizer;
  int64_t input_dim = 0;  // 0: taken from the previous layer or the data
  std::string name;       // empty: "dense", "dense_1", ...

  explicit Dense(int64_t units_, std::string activation_ = "linear") : units(units_) {
    activation.name = std::move(activation_);
  }
  Dense& with_input_dim(int64_t d) { input_dim = d; return *this; }
  Dense& with_name(std::string n) { name = std::move(n); return *this; }
};

// An activation applied on its own: y = activation(x).
struct Activation {
  ActivationSpec activation;
  int64_t input_dim = 0;
  std::string name;
  explicit Activation(std::string activation_) { activation.name = std::move(activation_); }
};

// Inverted dropout: in training each input is zeroed with probability `rate` and the others are scaled by
// 1 / (1 - rate), so E[y] = x; identity in predict and evaluate. The masks come from the layer's own generator,
// seeded with `seed` (else from the global generator), so training is repeatable. rate in [0, 1).
struct Dropout {
  double rate = 0.0;
  std::optional<uint64_t> seed;
  int64_t input_dim = 0;
  std::string name;  // empty: "dropout", "dropout_1", ...
  explicit Dropout(double rate_, std::optional<uint64_t> seed_ = std::nullopt) : rate(rate_), seed(seed_) {}
};

// Batch normalisation over the batch axis (Keras semantics). Training: y = gamma * (x - mean) / sqrt(var + epsilon)
// + beta with the batch's mean and biased variance, and moving = moving * momentum + batch * (1 - momentum).
// predict / evaluate use the moving statistics. Weights (Keras order): gamma (scale), beta (center) trainable;
// moving_mean, moving_variance non-trainable (in get_weights and the model file, never touched by the optimizer).
struct BatchNormalization {
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool center = true;
  bool scale = true;
  InitializerSpec beta_initializer{"zeros"};
  InitializerSpec gamma_initializer{"ones"};
  InitializerSpec moving_mean_initializer{"zeros"};
  InitializerSpec moving_variance_initializer{"ones"};
  int64_t input_dim = 0;
  std::string name;  // empty: "batch_normalization", "batch_normalization_1", ...
};

// The input of a Sequential (Keras's `Input(shape=(dim,))`): added first, it sets the first layer's input size.
// Not a layer of the model.
struct Input {
  int64_t dim = 0;
  explicit Input(int64_t dim_) : dim(dim_) {}
};

// Optimizer hyperparameters; defaults(name) gives Keras's defaults for sgd, adam, adamw, rmsprop, adagrad.
// The update rules are Keras's (docs/user-guide/numerics.md).
struct FASTANN_API OptimizerConfig {
  std::string name = "rmsprop";
  double learning_rate = 0.001;
  double momentum = 0.0;       // sgd, rmsprop
  bool nesterov = false;       // sgd
  double beta_1 = 0.9;         // adam, adamw
  double beta_2 = 0.999;       // adam, adamw
  double epsilon = 1e-7;       // adam, adamw, rmsprop, adagrad
  double rho = 0.9;            // rmsprop
  bool centered = false;       // rmsprop
  double initial_accumulator_value = 0.1;  // adagrad
  double weight_decay = 0.0;   // decoupled decay, w -= lr * wd * w (adamw default 0.004)
  static OptimizerConfig defaults(const std::string& name);  // throws ValueError on an unknown name
};

// Loss names (Keras): mean_squared_error (mse), mean_absolute_error (mae), huber (delta), binary_crossentropy,
// categorical_crossentropy, sparse_categorical_crossentropy. from_logits: y_pred are logits.
struct LossConfig {
  std::string name;
  bool from_logits = false;
  double delta = 1.0;
  LossConfig(const char* n = "mean_squared_error") : name(n) {}  // NOLINT
  LossConfig(std::string n) : name(std::move(n)) {}  // NOLINT
};

// A metric as compile takes it: a Keras name with its parameters (Keras's defaults). Names: "accuracy"/"acc"
// (binary, categorical or sparse accuracy, resolved from the loss), "binary_accuracy", "categorical_accuracy",
// "sparse_categorical_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc",
// "precision", "recall", "mse" ("mean_squared_error"), "mae" ("mean_absolute_error"). Every metric streams: its
// value covers all the samples of the epoch (or evaluation) so far, as Keras computes it.
struct MetricConfig {
  std::string name;
  int64_t k = 5;                 // top_k_categorical_accuracy, sparse_top_k_categorical_accuracy
  int64_t num_thresholds = 200;  // auc (ROC, trapezoidal summation over evenly spaced thresholds, as Keras's AUC)
  double threshold = 0.5;        // binary_accuracy, precision, recall: a prediction above it is positive
  std::string display_name;      // the key in logs and History; empty: `name`
  MetricConfig(const char* n = "accuracy") : name(n) {}   // NOLINT: implicit from a name, like Keras strings
  MetricConfig(std::string n) : name(std::move(n)) {}     // NOLINT
};

// Ordered name -> value pairs, as Keras's `logs` dict: loss, metrics, then val_loss, val_metrics.
using Logs = std::vector<std::pair<std::string, double>>;

struct FASTANN_API History {
  std::vector<int> epoch;
  std::vector<std::pair<std::string, std::vector<double>>> history;
  const std::vector<double>& operator[](const std::string& key) const;  // throws ValueError when absent
};

struct FitOptions {
  int64_t batch_size = 32;
  int epochs = 1;
  int initial_epoch = 0;
  bool shuffle = true;
  std::optional<uint64_t> seed;  // shuffling seed; unset: drawn from the global generator
  double validation_split = 0.0;  // the last fraction of x/y (before shuffling) is held out, as Keras does
  Tensor validation_x, validation_y;  // explicit validation data (overrides validation_split)
  // Data-parallel fit (fastann/distributed.hpp): this worker's index and the number of workers. Each global batch of
  // batch_size * shard_count rows of the (shared) shuffled order is split so that worker r trains on rows
  // [r*batch_size, (r+1)*batch_size) of it. shard_count > 1 needs a gradient reducer (set_gradient_reducer).
  int64_t shard_index = 0;
  int64_t shard_count = 1;
  // Per-sample weights (n,) of x/y, >= 0; undefined: 1 each. validation_split holds out their tail with the data.
  // A sample's loss and gradient are multiplied by its weight; the loss of a batch is sum(w * loss) / batch size,
  // as Keras 3 ("sum_over_batch_size"), and so the epoch's loss is sum(w * loss) / samples.
  Tensor sample_weight;
  // Weights by class index (>= 0): a training sample's weight is class_weight[label], where label is the argmax of a
  // one-hot y row, the class index (sparse targets) or the rounded value (one output column); labels past the end
  // weigh 1. Empty: none. Not together with sample_weight (as Keras 3). Validation data is not class-weighted.
  std::vector<float> class_weight;
  Tensor validation_sample_weight;  // (n_val,) weights of validation_x/validation_y; undefined: 1 each
};

// What a batch-level hook asks of fit (or evaluate) next.
enum class FitSignal {
  proceed,  // carry on
  stop,     // end this epoch after the current batch, as Keras does when a batch hook sets model.stop_training:
            // the epoch's logs cover the batches done, validation runs, on_epoch_end is called, then fit returns
  abort,    // return now without on_epoch_end (an error or Ctrl-C): the weights are those of the last finished step
};

// Live progress: called after the first batch, then at most every `interval_ms`, and after the last batch, with the
// number of batches done so far (1-based) and the running means of the metrics and the loss over those batches.
// `running` is one object reused for every call (fit allocates nothing per batch for it).
using ProgressHook = std::function<FitSignal(int64_t step, const Logs& running)>;

// Called by fit; every hook may be empty. Returning true from on_epoch_end or should_stop ends training after the
// current epoch / batch (the weights are those of the last finished step).
struct FitCallbacks {
  std::function<void(int epoch)> on_epoch_begin;
  std::function<bool(int epoch, const Logs& logs)> on_epoch_end;
  // Polled between batches, at most every `poll_interval_ms` (e.g. to check for Ctrl-C).
  std::function<bool()> should_stop;
  int poll_interval_ms = 50;
  // Progress of the training batches of each epoch (see ProgressHook); keys and order as on_epoch_end's training
  // entries (metrics, then "loss"). The rate bound keeps its cost negligible however small the batches are.
  ProgressHook on_progress;
  int progress_interval_ms = 50;
  // Per-batch hooks: a call for every batch, so leave them empty unless they are needed. `batch` counts from 0 in
  // each epoch; `running` is as on_progress's (the running means of the epoch so far, as Keras 3 passes them).
  std::function<FitSignal(int64_t batch)> on_train_batch_begin;
  std::function<FitSignal(int64_t batch, const Logs& running)> on_train_batch_end;
  // Called once per epoch, after the first batch whose loss is NaN or infinite (fit checks this itself after every
  // batch at no cost), e.g. to stop training as Keras's TerminateOnNaN does. `batch` names that batch. On a CUDA
  // device the loss stays on the GPU between reads (no round trip per batch), so the call may come up to 31 batches
  // later (sooner with per-batch hooks or progress, which read the loss).
  std::function<FitSignal(int64_t batch, const Logs& running)> on_nonfinite_loss;
};

// Called by evaluate; empty hooks cost nothing. should_stop, polled as in fit, returning true makes evaluate return
// the means over the batches done so far.
struct EvaluateCallbacks {
  ProgressHook on_progress;  // running means over the batches done: metrics, then "loss" (as fit's)
  int progress_interval_ms = 50;
  std::function<bool()> should_stop;
  int poll_interval_ms = 50;
};

// A layer's configuration as added to the model, with the name it was given.
using LayerConfig = std::variant<Dense, Activation, Dropout, BatchNormalization>;

// The optimizer's variables (Keras's slots) for every trainable weight, in get_weights() order, plus its step count.
// Slot names by optimizer: sgd with momentum {"momentum"}; adam/adamw {"momentum", "velocity"}; rmsprop
// {"velocity"} + "momentum" when momentum > 0 + "average_gradient" when centered; adagrad {"accumulator"}.
struct OptimizerState {
  int64_t iterations = 0;
  std::vector<std::string> slot_names;
  std::vector<std::vector<Tensor>> slots;  // slots[s][w] has the shape of get_weights()[w]
};

struct LayerInfo {
  std::string name;
  std::string type;        // "Dense", "Activation", "Dropout", "BatchNormalization"
  std::string activation;  // Keras name
  int64_t input_dim = 0;
  int64_t output_dim = 0;
  int64_t param_count = 0;               // all weights, as Keras's count_params
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

  // Appends a layer (any of the configurations of LayerConfig).
  void add(const LayerConfig& layer);
  void add(const Dense& layer);
  void add(const Activation& layer);
  void add(const Dropout& layer);
  void add(const BatchNormalization& layer);
  // Sets the input size, as Keras's `model.add(Input(shape=(dim,)))`: only before the first layer.
  void add(const Input& input);
  // A model of these layers (as Keras's Sequential.from_config), built once (weights drawn from `seed`, else the
  // global generator) when the first layer has an input_dim.
  static Sequential from_config(const std::vector<LayerConfig>& layers, std::optional<uint64_t> seed = std::nullopt);

  // Creates the weights for inputs of `input_dim` features (done automatically on first use when the first layer
  // has an input_dim, or when fit/predict first see data). Weights are initialised from `seed` when given, else
  // from the global generator (fastann::set_random_seed).
  void build(int64_t input_dim, std::optional<uint64_t> seed = std::nullopt);
  bool built() const;
  // Runs the model on `device` from now on: its parameters, gradients, optimizer state and workspaces move there
  // (values kept; a model not built yet is placed there when it is built). fit/evaluate/predict still take and
  // return host tensors (inputs may also be tensors on the model's device): fit copies its data to the device once
  // when it fits within dataset_memory_limit(), else streams each batch through page-locked host memory. A CUDA
  // model queues its work on a CUDA stream of its own. Throws UnavailableError when the device cannot be used.
  void to(Device device);
  Device device() const;
  int64_t input_dim() const;   // 0 when not yet known
  int64_t output_dim() const;  // 0 when there are no layers

  // metrics: see MetricConfig; they ignore sample weights. weighted_metrics (Keras's compile argument) use them:
  // weighted means, weighted confusion counts. A name used twice gets "_1", "_2", ...; a weighted metric named as
  // an unweighted one is reported as "weighted_<name>" (as Keras 3).
  void compile(const OptimizerConfig& optimizer, const LossConfig& loss, const std::vector<MetricConfig>& metrics = {},
               const std::vector<MetricConfig>& weighted_metrics = {});
  bool compiled() const;
  // "loss" followed by the metrics' names as logs report them (e.g. "accuracy"), then the weighted metrics'.
  std::vector<std::string> metrics_names() const;
  // The compiled metrics as given to compile (display_name set to the reported name).
  std::vector<MetricConfig> metric_configs(bool weighted) const;

  // x is (n, input_dim); y is (n, output_dim), or (n,) class indices for sparse_categorical_crossentropy.
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {},
              const FitCallbacks& callbacks = {});
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
  // Writes predictions into `out` (n, output_dim), e.g. caller-owned memory: no allocation for the result.
  void predict_into(const Tensor& x, Tensor& out, int64_t batch_size = 0) const;
  // One optimizer step on exactly this batch; returns [loss, metrics...] for it (computed before the update).
  // sample_weight (n,) or class_weight (by class index) weight the samples as in fit (not both).
  std::vector<double> train_on_batch(const Tensor& x, const Tensor& y, const Tensor& sample_weight = Tensor(),
                                     const std::vector<float>& class_weight = {});
  std::vector<double> test_on_batch(const Tensor& x, const Tensor& y, const Tensor& sample_weight = Tensor());

  size_t num_layers() const;
  LayerInfo layer_info(size_t index) const;
  LayerConfig layer_config(size_t index) const;
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
