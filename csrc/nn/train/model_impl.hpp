// Sequential::Impl: the state of a model (layers, flat buffers, compile state, workspaces) that the files of
// nn/train/ operate on, cut along Keras's seams: structure.cpp (parameters, workspaces), data_adapter.cpp,
// train_step.cpp, evaluate.cpp, predict.cpp, compile.cpp, fit.cpp; nn/sequential.cpp holds the public methods.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "fastann/distributed.hpp"
#include "fastann/model.hpp"
#include "nn/call_gate.hpp"
#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"
#include "nn/optimizer.hpp"
#include "ops/ops.hpp"
#include "runtime/backend.hpp"

namespace fastann {

inline constexpr int64_t kParamAlign = 16;  // floats: 64 bytes
// fit reads a CUDA model's loss and metric sums back at least this often (steps), besides wherever logs are needed.
inline constexpr int64_t kLossReadSteps = 32;
// A predict with a should_stop hook works in chunks of about this many floating-point operations (~10 ms on one
// core) between polls.
inline constexpr int64_t kPolledChunkFlops = int64_t{2} << 30;

struct Sequential::Impl {
  std::string name = nn::unique_name("sequential");
  std::vector<std::unique_ptr<nn::Layer>> layers;
  bool built = false;
  Shape input_shape;      // per sample, fixed at build
  int64_t input_dim = 0;  // elements per input sample
  Tensor params, grads;   // flat
  Tensor state;           // flat non-trainable weights
  // Where each layer's weights start in `params` and `state` (elements), fixed at build.
  std::vector<std::vector<int64_t>> param_offsets, state_offsets;
  Device device;                 // where the buffers live and the ops run
  std::shared_ptr<void> stream;  // the CUDA stream of a CUDA model (null on the CPU)
  Tensor host_grads;             // a reducer that takes host memory gets a CUDA model's gradients here
  Shape input_from_input;        // set by add(Input): the first layer's input shape

  // Weight regularizers (kernel_regularizer, bias_regularizer), gathered at build: the step adds their penalties
  // and gradients without looking the layers up.
  struct RegTerm {
    Tensor w, g;
    float l1, l2;
  };
  std::vector<RegTerm> reg_terms;

  bool compiled = false;
  std::unique_ptr<nn::Optimizer> optimizer;
  LossConfig loss_cfg;
  ops::LossParams loss;
  // The compiled metrics (unweighted first, then weighted) with their reported names and their place in a
  // streaming state: [sum of w * loss, samples, each metric's state...].
  struct CompiledMetric {
    ops::MetricParams p;
    MetricConfig cfg;  // as compiled; cfg.display_name is the reported name
    bool weighted = false;
    int64_t offset = 0;
  };
  std::vector<CompiledMetric> metrics;
  std::vector<std::string> metric_names;
  int64_t state_size = 2;
  std::vector<double> batch_state;  // train_on_batch's, sized at compile

  // A batch workspace: each layer's output (and for training its gradient), the staged batch (x, y, sample weights)
  // and the fused loss's probabilities, for up to `rows` rows. The model keeps one, claimed by fit, train_on_batch
  // and evaluate (CallGate::Workspace::train); a call that finds it claimed (an evaluate beside a fit or another
  // evaluate) uses one of its own.
  struct Workspace {
    int64_t rows = 0;
    bool training = false;  // gradients sized too, and the layers' training scratch (Layer::prepare)
    std::vector<Tensor> outs, douts;
    Tensor xb, yb, probs, wb;  // wb: the batch's sample weights
  };
  Workspace ws;
  std::vector<int64_t> order;
  ops::RowIndex order_index;  // `order` where the data is (uploaded once per epoch for device data)
  ops::StateSums fit_sums;    // fit's and train_on_batch's device sums (device_sums)
  // The calls in flight and the rules between them (nn/call_gate.hpp): readers together, one trainer, structural
  // changes alone; a call that may not run raises at once, nothing waits.
  mutable nn::CallGate gate;
  // Data-parallel training (fastann/distributed.hpp); null when unused. tail_*: the last layer with parameters and
  // where its gradients start in `grads` (the range gradients_ready reports). grad_scale: the loss-gradient scale of
  // a sharded step (shards / rows of the global batch); 0 means 1 / rows of the batch.
  std::shared_ptr<GradientReducer> reducer;
  int64_t tail_layer = -1, tail_begin = 0;
  float grad_scale = 0.0f;

  // The scale of a step's loss (and activity-penalty) gradients for a batch of b rows on this worker.
  float step_grad_scale(int64_t b) const;

  // predict's intermediate activations, kept between calls like the training workspace: fresh multi-megabyte buffers
  // cost a page fault per 4 KB on every call (10000 mnist_mlp rows: ~12% of predict's time). A predict running
  // concurrently on the same model uses buffers of its own (the gate's Workspace::predict claim guards these).
  mutable Tensor predict_ws;
  // predict's views of predict_ws for each hidden layer's output, made for predict_hidden_chunk rows (reused while the
  // workspace and the chunk stay the same).
  mutable std::vector<Tensor> predict_hidden;
  mutable int64_t predict_hidden_chunk = -1;

  // Elements per output sample, and the output's shape per sample.
  int64_t output_dim() const;
  const Shape& output_shape() const;

  // Cross-entropy fused with the final sigmoid/softmax: the loss reads the logits.
  bool fused() const;

  void require_layers() const;

  // Builds the model (a built one: the same input shape, weights drawn again): weights from `seed`, else the global
  // generator. A build that fails leaves the model as it was.
  void build(const Shape& in_shape, std::optional<uint64_t> seed);

  // The flat buffers of the layers' weights and each layer's views of them, made aside by a structural change and
  // installed by commit() (which cannot throw): a change that fails leaves the model as it was.
  struct Buffers {
    Tensor params, grads, state;
    std::vector<std::vector<int64_t>> param_offsets, state_offsets;
    int64_t tail_layer = -1, tail_begin = 0;
    std::vector<std::vector<Tensor>> p, g, st;  // per layer: views of params, grads, state
    std::vector<RegTerm> reg_terms;
  };
  // The layers' (built) weights laid out in fresh zeroed host buffers.
  Buffers layout() const;
  // The views of b's buffers for each layer, and the regularizer terms.
  void make_views(Buffers& b) const;
  // b's buffers on device d (values kept, gradients fresh zeros there); the views must be made again.
  void to_device(Buffers& b, Device d) const;
  // Draws the weights of layers [first, end) into b (host) from Rng(seed), as a build of them all would.
  void init_layers(Buffers& b, size_t first, uint64_t seed);
  void commit(Buffers&& b) noexcept;

  // Moves the weights and the optimizer state to `d` (gradients are scratch: fresh zeros there).
  void move_to(Device d);

  // Drops the training and predict workspaces (prepare / predict_into allocate them again on the model's device).
  void release_workspace();

  // Builds the model for inputs shaped as x's samples when it is not built yet (x must have a batch axis and at
  // least one more; check_x then checks x against the built model).
  void ensure_built(const Tensor& x, const char* what);

  void check_x(const Tensor& x, const char* what) const;

  void check_xy(const Tensor& x, const Tensor& y, const char* what) const;

  // t itself when it is on the host, else a host copy (for checks that read values).
  static Tensor on_host(const Tensor& t);

  static void check_finite(const Tensor& t, const char* what, const char* arg);

  void require_compiled(const char* what) const;

  // Sizes `w` for batches of up to `rows` rows (for training: gradients and the layers' scratch too); a failure
  // leaves it as it was.
  void prepare(Workspace& w, int64_t rows, int64_t ycols, bool training);

  // (rows, *per_sample)
  static Shape batch_shape(int64_t rows, const Shape& per_sample);

  // Whether t is (rows, *per_sample), without allocating (predict's per-call path).
  static bool has_batch_shape(const Tensor& t, int64_t rows, const Shape& per_sample);

  // Forward through the workspace; returns the final output view (logits when fused).
  Tensor forward_ws(Workspace& w, const Tensor& x, bool training, bool fused_now);

  // For a CUDA model: `sums` reset for a streaming state, so that batches add their loss and metrics on the device
  // and the values reach the host only where they are read (flush), not once per batch. Null for a CPU model,
  // whose batches add straight into the state.
  ops::StateSums* device_sums(ops::StateSums& sums) const;

  // Adds the device sums (if any) into the state; returns the first step since the last flush whose loss was not
  // finite, or -1.
  static int64_t flush(ops::StateSums* sums, double* state);

  // Adds one batch to a streaming state (loss, then metrics) from the final output; writes dL/d(output) when grad
  // is given. w: the batch's sample weights or null (the loss is sum(w * loss) / batch size, as Keras 3). sums: the
  // device sums that take this batch (as batch `step`) in place of the state (see device_sums).
  void score(Workspace& ws, const Tensor& out, const Tensor& y, const Tensor* w, bool fused_now, Tensor* grad,
             double* state, ops::StateSums* sums = nullptr, int64_t step = 0);

  // Activity regularizers of the batch's outputs (in the workspace): the sum of their penalties over the batch,
  // i.e. batch size x the loss term (Keras 3 divides each by the batch size). With device sums it goes there and 0
  // is returned.
  double activity_penalty(const Workspace& w, int64_t b, ops::StateSums* sums);

  // The weight regularizers' penalty (a loss term, as Keras adds it to every batch's loss).
  double weight_penalty();

  // Entry k of [loss, metrics...] from a streaming state.
  double result(size_t k, const double* state) const;

  std::vector<double> results(const double* state) const;

  void train_step(const Tensor& x, const Tensor& y, const Tensor* w, double* state, ops::StateSums* sum = nullptr,
                  int64_t step = 0);

  // The reducer's in-place mean of the gradients. A CUDA model's gradients go to a reducer that takes host memory
  // through a host copy; one that takes device memory (NCCL) works on its own stream, so this model's stream is
  // drained first.
  void reduce_gradients();

  // The step of a data-parallel worker that has no rows in the (short) last global batch: its zero gradient (plus
  // the weight penalties every worker adds) takes part in the same reduction calls as every other worker's, then
  // the same update follows.
  void empty_step();

  // The running logs that progress hooks see: the metrics, then "loss" (the order of the epoch logs). Built once
  // per call; fill_running only overwrites the values.
  Logs running_logs() const;

  void fill_running(Logs& logs, const double* state) const;

  // src itself when it is on the model's device, else a copy of it in the leading rows of the workspace buffer
  // `ws` (on the device), shaped as src.
  Tensor stage(const Tensor& src, const Tensor& ws) const;

  // Mean loss and metrics of x/y, in batches (no update). With callbacks: progress at a bounded rate, and an
  // early return (means over the batches done) when a hook asks to stop.
  // ws: the model's workspace when the caller has claimed it, else one of the call's own.
  std::vector<double> evaluate(Workspace& ws, const Tensor& x, const Tensor& y, const Tensor& w, int64_t batch_size,
                               const EvaluateCallbacks* cb = nullptr);

  void predict_into(const Tensor& x, Tensor& out, int64_t batch_size, const PredictCallbacks* cb = nullptr) const;
  // predict's checks of its arguments against the model.
  void check_predict(const Tensor& x, int64_t batch_size) const;

  // Adding a layer to a built model rebuilds it, keeping the existing layers' weights.
  void add(std::unique_ptr<nn::Layer> layer);
  // Removes the last layer (there is one), keeping the others' weights.
  void pop();

  // Copies the defined tensors of `data` that are not on the model's device there, when the model is on a CUDA
  // device and their bytes fit within dataset_memory_limit() (-1: half the device's free memory) and the device's
  // memory; they then refer to the copies. Returns false when the data stays where it is (the caller stages
  // batches): always for a CPU model.
  bool place_data(std::initializer_list<Tensor*> data) const;

  // Checks per-sample weights of n samples: shape (n,) or (n, 1), finite and >= 0.
  static void check_sample_weight(const Tensor& w, int64_t n, const char* what, const char* arg);

  // The number of classes class weights are indexed by: the output width, or 2 for one output column.
  int64_t num_classes() const;

  // Per-sample weights of y's rows (y (n, cols) or (n,) class indices) from class weights, checked first.
  Tensor class_sample_weights(const Tensor& y, const std::vector<float>& cw, const char* what) const;

  // The weights of one train/test batch: sample_weight (checked) or class weights (train only), or undefined.
  Tensor batch_weights(const Tensor& y, const Tensor& sample_weight, const std::vector<float>& class_weight,
                       const char* what) const;

  std::vector<double> one_batch(const Tensor& x, const Tensor& y, bool train, const Tensor& sample_weight,
                                const std::vector<float>& class_weight);
};

}  // namespace fastann
