// Sequential: the layer stack, its flat parameter/gradient buffers, and the fit/evaluate/predict loops.
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
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "runtime/backend.hpp"
#include "fastann/distributed.hpp"
#include "fastann/model.hpp"
#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"
#include "nn/optimizer.hpp"
#include "ops/ops.hpp"

namespace fastann {

namespace {

constexpr int64_t kParamAlign = 16;  // floats: 64 bytes
// fit reads a CUDA model's loss and metric sums back at least this often (steps), besides wherever logs are needed.
constexpr int64_t kLossReadSteps = 32;

using nn::unique_name;

struct Batch {
  Tensor x, y;
};

}  // namespace

const std::vector<double>& History::operator[](const std::string& key) const {
  for (const auto& kv : history) {
    if (kv.first == key) return kv.second;
  }
  throw ValueError("History has no entry '" + key + "'");
}

struct Sequential::Impl {
  std::string name = unique_name("sequential");
  std::vector<std::unique_ptr<nn::Layer>> layers;
  bool built = false;
  Shape input_shape;     // per sample, fixed at build
  int64_t input_dim = 0;  // elements per input sample
  Tensor params, grads;  // flat
  Tensor state;          // flat non-trainable weights
  // Where each layer's weights start in `params` and `state` (elements), fixed at build.
  std::vector<std::vector<int64_t>> param_offsets, state_offsets;
  Device device;                  // where the buffers live and the ops run
  std::shared_ptr<void> stream;   // the CUDA stream of a CUDA model (null on the CPU)
  Tensor host_grads;              // a reducer that takes host memory gets a CUDA model's gradients here
  Shape input_from_input;  // set by add(Input): the first layer's input shape

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

  // Training workspace, sized for ws_rows rows.
  int64_t ws_rows = 0;
  std::vector<Tensor> outs, douts;
  Tensor xb, yb, probs, wb;  // wb: the batch's sample weights
  std::vector<int64_t> order;
  ops::RowIndex order_index;  // `order` where the data is (uploaded once per epoch for device data)
  ops::StateSums fit_sums;    // fit's and train_on_batch's device sums (device_sums)
  // One training/evaluation call at a time per model. Recursive: fit's callbacks may evaluate the model (on the
  // same thread, between epochs, when the workspace is not in use).
  std::recursive_mutex train_mu;
  bool fitting = false;  // set while fit runs: callbacks may not change the layers, optimizer or loss
  // Data-parallel training (fastann/distributed.hpp); null when unused. tail_*: the last layer with parameters and
  // where its gradients start in `grads` (the range gradients_ready reports). grad_scale: the loss-gradient scale of
  // a sharded step (shards / rows of the global batch); 0 means 1 / rows of the batch.
  std::shared_ptr<GradientReducer> reducer;
  int64_t tail_layer = -1, tail_begin = 0;
  float grad_scale = 0.0f;

  // The scale of a step's loss (and activity-penalty) gradients for a batch of b rows on this worker.
  float step_grad_scale(int64_t b) const {
    return grad_scale > 0.0f ? grad_scale : 1.0f / static_cast<float>(b);
  }

  // predict's intermediate activations, kept between calls like the training workspace: fresh multi-megabyte buffers
  // cost a page fault per 4 KB on every call (10000 mnist_mlp rows: ~12% of predict's time). A predict running
  // concurrently on the same model uses buffers of its own.
  mutable std::mutex predict_mu;
  mutable Tensor predict_ws;

  void require_not_fitting(const char* what) const {
    FASTANN_CHECK_STATE(!fitting, what << " is not allowed while the model is being fit (e.g. from a callback)");
  }

  // Elements per output sample, and the output's shape per sample.
  int64_t output_dim() const { return layers.empty() ? 0 : layers.back()->output_size(); }
  const Shape& output_shape() const {
    static const Shape none;
    return layers.empty() ? none : layers.back()->output_shape();
  }

  // Cross-entropy fused with the final sigmoid/softmax: the loss reads the logits.
  bool fused() const {
    if (!compiled || layers.empty() || loss_cfg.from_logits) return false;
    const ops::Act a = layers.back()->activation().kind;
    // An activity regularizer penalises the final layer's output, so the loss must see that output.
    if (layers.back()->activity_regularizer()) return false;
    return (a == ops::Act::sigmoid && loss.kind == ops::Loss::bce) ||
           (a == ops::Act::softmax && (loss.kind == ops::Loss::cce || loss.kind == ops::Loss::scce));
  }

  void require_layers() const {
    FASTANN_CHECK_STATE(!layers.empty(), "the model has no layers; add layers with model.add(...) first");
  }

  void build(const Shape& in_shape, std::optional<uint64_t> seed) {
    require_layers();
    const Shape& declared = layers.front()->declared_input_shape();
    if (declared.size() == 1 && in_shape.size() == 1) {
      FASTANN_CHECK_ARG(declared == in_shape, "the model expects inputs with " << declared[0] << " features, got "
                                                                               << in_shape[0]);
    }
    FASTANN_CHECK_ARG(declared.empty() || declared == in_shape, "the model expects inputs of shape "
                                                                    << shape_str(declared) << " per sample, got "
                                                                    << shape_str(in_shape));
    FASTANN_CHECK_ARG(in_shape.size() != 1 || in_shape[0] > 0, "the input dimension must be positive, got "
                                                                    << in_shape[0]);
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

  // Points the layers at views of the flat buffers (on the buffers' device) and gathers the regularizer terms.
  void bind_views() {
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

  // Moves the weights and the optimizer state to `d` (gradients are scratch: fresh zeros there).
  void move_buffers(Device d) {
    params = params.to(d);
    grads = Tensor(grads.shape(), d);
    state = state.to(d);
    host_grads = Tensor();
    bind_views();
    if (optimizer) optimizer->to(d);
  }

  // Drops the training and predict workspaces (prepare / predict_into allocate them again on the model's device).
  void release_workspace() {
    ws_rows = 0;
    outs.clear();
    douts.clear();
    xb = yb = probs = wb = Tensor();
    std::lock_guard<std::mutex> lock(predict_mu);
    predict_ws = Tensor();
  }

  // Builds the model for inputs shaped as x's samples when it is not built yet (x must have a batch axis and at
  // least one more; check_x then checks x against the built model).
  void ensure_built(const Tensor& x, const char* what) {
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

  void check_x(const Tensor& x, const char* what) const {
    if (input_shape.size() == 1) {
      FASTANN_CHECK_ARG(x.ndim() == 2, what << ": x must be 2-D (samples, features), got shape "
                                            << shape_str(x.shape()));
      FASTANN_CHECK_ARG(x.dim(1) == input_dim, what << ": x has " << x.dim(1) << " features but the model expects "
                                                    << input_dim << " (x shape " << shape_str(x.shape()) << ")");
      return;
    }
    FASTANN_CHECK_ARG(x.ndim() >= 1 && has_batch_shape(x, x.dim(0), input_shape),
                      what << ": x must have shape (samples, " << shape_str(input_shape).substr(1)
                           << " to match the model's input, got " << shape_str(x.shape()));
  }

  void check_xy(const Tensor& x, const Tensor& y, const char* what) const {
    check_x(x, what);
    const int64_t n = x.dim(0);
    FASTANN_CHECK_ARG(n > 0, what << ": x is empty");
    FASTANN_CHECK_ARG(output_shape().size() == 1,
                      what << ": the model's output has shape " << shape_str(output_shape())
                           << " per sample; training and evaluating need one output axis (end the model with "
                              "Flatten or Dense)");
    FASTANN_CHECK_ARG(y.ndim() >= 1 && y.dim(0) == n, what << ": x and y have different numbers of samples: "
                                                           << n << " and " << (y.ndim() ? y.dim(0) : 0));
    if (loss.kind == ops::Loss::scce) {
      FASTANN_CHECK_ARG(y.numel() == n, what << ": sparse_categorical_crossentropy expects y of shape (" << n
                                             << ",) with class indices, got " << shape_str(y.shape()));
      // Checked here, over the whole data, so the row named is the caller's (the loss sees shuffled batches).
      const float classes = static_cast<float>(output_dim());
      const Tensor yh = on_host(y);
      for (int64_t i = 0; i < n; ++i) {
        const float v = yh.data()[i];
        FASTANN_CHECK_ARG(v >= 0.0f && v < classes && v == std::floor(v),
                          what << ": sparse_categorical_crossentropy: label " << v << " at row " << i
                               << " is not a class index in [0, " << output_dim() << ")");
      }
    } else {
      FASTANN_CHECK_ARG(y.ndim() == 2 && y.dim(1) == output_dim(),
                        what << ": y must have shape (" << n << ", " << output_dim() << ") to match the model's output, got "
                             << shape_str(y.shape()));
    }
    if (get_check_finite()) {
      check_finite(x, what, "x");
      check_finite(y, what, "y");
    }
  }

  // t itself when it is on the host, else a host copy (for checks that read values).
  static Tensor on_host(const Tensor& t) { return t.is_cpu() ? t : t.to(Device::cpu()); }

  static void check_finite(const Tensor& t, const char* what, const char* arg) {
    const int64_t i = ops::first_non_finite(t);
    if (i < 0) return;
    const int64_t cols = t.ndim() >= 2 ? t.numel() / t.dim(0) : 1;
    const float v = on_host(Tensor::view(const_cast<float*>(t.data()) + i, {1}, t.device())).data()[0];
    throw ValueError(std::string(what) + ": " + arg + " contains " + (std::isnan(v) ? "NaN" : "infinity") +
                     " at row " + std::to_string(i / cols) + ", column " + std::to_string(i % cols) +
                     "; clean the data, or call fastann.set_check_finite(False) (C++: fastann::set_check_finite) "
                     "to use it as given");
  }

  void require_compiled(const char* what) const {
    FASTANN_CHECK_STATE(compiled, "the model must be compiled before " << what
                                                                       << "; call model.compile(optimizer, loss) first");
  }

  void prepare(int64_t rows, int64_t ycols) {
    if (rows <= ws_rows && yb.defined() && yb.numel() / std::max<int64_t>(ws_rows, 1) == ycols) return;
    const size_t L = layers.size();
    outs.resize(L);
    douts.resize(L);
    for (size_t i = 0; i < L; ++i) {
      outs[i] = Tensor::empty(batch_shape(rows, layers[i]->output_shape()), device);
      douts[i] = Tensor::empty(batch_shape(rows, layers[i]->output_shape()), device);
      layers[i]->prepare(rows);
    }
    xb = Tensor::empty(batch_shape(rows, input_shape), device);
    yb = Tensor::empty({rows, ycols}, device);
    probs = Tensor::empty({rows, output_dim()}, device);
    wb = Tensor::empty({rows}, device);
    ws_rows = rows;
  }

  // (rows, *per_sample)
  static Shape batch_shape(int64_t rows, const Shape& per_sample) {
    Shape s;
    s.reserve(per_sample.size() + 1);  // one allocation
    s.push_back(rows);
    s.insert(s.end(), per_sample.begin(), per_sample.end());
    return s;
  }

  // Whether t is (rows, *per_sample), without allocating (predict's per-call path).
  static bool has_batch_shape(const Tensor& t, int64_t rows, const Shape& per_sample) {
    if (!t.defined() || t.ndim() != static_cast<int>(per_sample.size()) + 1 || t.dim(0) != rows) return false;
    for (size_t i = 0; i < per_sample.size(); ++i) {
      if (t.dim(static_cast<int>(i) + 1) != per_sample[i]) return false;
    }
    return true;
  }

  // Forward through the workspace; returns the final output view (logits when fused).
  Tensor forward_ws(const Tensor& x, bool training, bool fused_now) {
    const int64_t b = x.dim(0);
    Tensor in = x;
    for (size_t i = 0; i < layers.size(); ++i) {
      Tensor out = outs[i].rows(0, b);
      layers[i]->forward(in, out, training, fused_now && i + 1 == layers.size());
      in = out;
    }
    return in;
  }

  // For a CUDA model: `sums` reset for a streaming state, so that batches add their loss and metrics on the device
  // and the values reach the host only where they are read (flush), not once per batch. Null for a CPU model,
  // whose batches add straight into the state.
  ops::StateSums* device_sums(ops::StateSums& sums) const {
    if (device.type != DeviceType::CUDA) return nullptr;
    sums.reset(device, state_size);
    return &sums;
  }

  // Adds the device sums (if any) into the state; returns the first step since the last flush whose loss was not
  // finite, or -1.
  static int64_t flush(ops::StateSums* sums, double* state) { return sums ? sums->take(state) : -1; }

  // Adds one batch to a streaming state (loss, then metrics) from the final output; writes dL/d(output) when grad
  // is given. w: the batch's sample weights or null (the loss is sum(w * loss) / batch size, as Keras 3). sums: the
  // device sums that take this batch (as batch `step`) in place of the state (see device_sums).
  void score(const Tensor& out, const Tensor& y, const Tensor* w, bool fused_now, Tensor* grad, double* state,
             ops::StateSums* sums = nullptr, int64_t step = 0) {
    const int64_t b = out.dim(0);
    ops::LossParams lp = loss;
    lp.from_logits = fused_now || loss_cfg.from_logits;
    Tensor pr = probs.rows(0, b);
    const float gs = step_grad_scale(b);
    if (sums) {
      sums->add_loss(lp, out, y, grad, fused_now ? &pr : nullptr, gs, w, step);
    } else {
      state[0] += ops::loss(lp, out, y, grad, fused_now ? &pr : nullptr, gs, w);
    }
    state[1] += static_cast<double>(b);
    const Tensor& pred = fused_now ? pr : out;
    for (const CompiledMetric& cm : metrics) {
      const Tensor* mw = cm.weighted ? w : nullptr;
      if (sums) {
        sums->add_metric(cm.p, pred, y, mw, cm.offset);
      } else {
        ops::metric_update(cm.p, pred, y, mw, state + cm.offset);
      }
    }
  }

  // Activity regularizers of the batch's outputs (in the workspace): the sum of their penalties over the batch,
  // i.e. batch size x the loss term (Keras 3 divides each by the batch size). With device sums it goes there and 0
  // is returned.
  double activity_penalty(int64_t b, ops::StateSums* sums) {
    double sum = 0.0;
    for (size_t i = 0; i < layers.size(); ++i) {
      if (const Regularizer* r = layers[i]->activity_regularizer()) {
        const auto l1 = static_cast<float>(r->l1), l2 = static_cast<float>(r->l2);
        if (sums) {
          sums->add_regularizer(l1, l2, outs[i].rows(0, b), nullptr, 0.0f, 1.0);
        } else {
          sum += ops::regularizer(l1, l2, outs[i].rows(0, b), nullptr, 0.0f);
        }
      }
    }
    return sum;
  }

  // The weight regularizers' penalty (a loss term, as Keras adds it to every batch's loss).
  double weight_penalty() {
    double sum = 0.0;
    for (RegTerm& t : reg_terms) sum += ops::regularizer(t.l1, t.l2, t.w, nullptr, 0.0f);
    return sum;
  }

  // Entry k of [loss, metrics...] from a streaming state.
  double result(size_t k, const double* state) const {
    if (k == 0) return state[1] > 0.0 ? state[0] / state[1] : 0.0;
    const CompiledMetric& cm = metrics[k - 1];
    return ops::metric_result(cm.p, state + cm.offset);
  }

  std::vector<double> results(const double* state) const {
    std::vector<double> out(1 + metrics.size());
    for (size_t k = 0; k < out.size(); ++k) out[k] = result(k, state);
    return out;
  }

  void train_step(const Tensor& x, const Tensor& y, const Tensor* w, double* state, ops::StateSums* sum = nullptr,
                  int64_t step = 0) {
    const int64_t b = x.dim(0);
    const bool f = fused();
    const Tensor out = forward_ws(x, true, f);
    const size_t L = layers.size();
    Tensor g = douts[L - 1].rows(0, b);
    score(out, y, w, f, &g, state, sum, step);
    const float gs = step_grad_scale(b);
    for (size_t i = L; i-- > 0;) {
      const Tensor xi = i ? outs[i - 1].rows(0, b) : x;
      Tensor dy = douts[i].rows(0, b);
      Tensor dx = i ? douts[i - 1].rows(0, b) : Tensor();
      if (const Regularizer* r = layers[i]->activity_regularizer()) {
        // d(penalty / b)/dy joins the loss gradient before the layer's own backward.
        const auto l1 = static_cast<float>(r->l1), l2 = static_cast<float>(r->l2);
        if (sum) {
          sum->add_regularizer(l1, l2, outs[i].rows(0, b), &dy, gs, 1.0);
        } else {
          state[0] += ops::regularizer(l1, l2, outs[i].rows(0, b), &dy, gs);
        }
      }
      layers[i]->backward(xi, outs[i].rows(0, b), dy, i ? &dx : nullptr, f && i + 1 == L);
      // The last layer's gradients are final here, unless weight penalties are still to be added after the loop.
      if (reducer && static_cast<int64_t>(i) == tail_layer && reg_terms.empty() && grads.is_cpu()) {
        reducer->gradients_ready(grads.data(), tail_begin, grads.numel());
      }
    }
    // Weight penalties from the weights before the update, their gradients added to the fresh gradients (before the
    // reduction: every worker adds them, so the average keeps them once).
    double wp = 0.0;
    for (RegTerm& t : reg_terms) {
      if (sum) {
        sum->add_regularizer(t.l1, t.l2, t.w, &t.g, 1.0f, static_cast<double>(b));
      } else {
        wp += ops::regularizer(t.l1, t.l2, t.w, &t.g, 1.0f);
      }
    }
    state[0] += wp * static_cast<double>(b);
    if (reducer) reduce_gradients();
    optimizer->step(params, grads);
  }

  // The reducer's in-place mean of the gradients. A CUDA model's gradients go to a reducer that takes host memory
  // through a host copy; one that takes device memory (NCCL) works on its own stream, so this model's stream is
  // drained first.
  void reduce_gradients() {
    if (grads.is_cpu() || reducer->accepts_device_memory()) {
      if (!grads.is_cpu()) runtime::backend(device).synchronize(device.index);
      reducer->reduce(grads.data(), grads.numel());
      return;
    }
    if (!host_grads.defined()) host_grads = Tensor::empty(grads.shape());
    host_grads.copy_from(grads);
    reducer->reduce(host_grads.data(), host_grads.numel());
    grads.copy_from(host_grads);
  }

  // The step of a data-parallel worker that has no rows in the (short) last global batch: its zero gradient (plus
  // the weight penalties every worker adds) takes part in the same reduction calls as every other worker's, then
  // the same update follows.
  void empty_step() {
    grads.fill(0.0f);
    for (RegTerm& t : reg_terms) ops::regularizer(t.l1, t.l2, t.w, &t.g, 1.0f);
    if (tail_layer >= 0 && reg_terms.empty() && grads.is_cpu()) {
      reducer->gradients_ready(grads.data(), tail_begin, grads.numel());
    }
    reduce_gradients();
    optimizer->step(params, grads);
  }

  // The running logs that progress hooks see: the metrics, then "loss" (the order of the epoch logs). Built once
  // per call; fill_running only overwrites the values.
  Logs running_logs() const {
    Logs logs;
    for (const auto& name : metric_names) logs.emplace_back(name, 0.0);
    logs.emplace_back("loss", 0.0);
    return logs;
  }

  void fill_running(Logs& logs, const double* state) const {
    for (size_t k = 0; k + 1 < logs.size(); ++k) logs[k].second = result(k + 1, state);
    logs.back().second = result(0, state);
  }

  // src itself when it is on the model's device, else a copy of it in the leading rows of the workspace buffer
  // `ws` (on the device), shaped as src.
  Tensor stage(const Tensor& src, const Tensor& ws) const {
    if (src.device() == device) return src;
    const int64_t rows = src.ndim() == 0 ? 1 : src.dim(0);
    Tensor dst = ws.rows(0, rows);
    dst.copy_from(src);
    return src.ndim() == dst.ndim() ? dst : dst.reshape(src.shape());
  }

  // Mean loss and metrics of x/y, in batches (no update). With callbacks: progress at a bounded rate, and an
  // early return (means over the batches done) when a hook asks to stop.
  std::vector<double> evaluate(const Tensor& x, const Tensor& y, const Tensor& w, int64_t batch_size,
                               const EvaluateCallbacks* cb = nullptr) {
    const int64_t n = x.dim(0);
    const int64_t ycols = y.numel() / n;
    prepare(std::min(batch_size, n), ycols);
    const bool f = fused();
    const double penalty = weight_penalty();  // the weights do not change during evaluate
    std::vector<double> state(static_cast<size_t>(state_size), 0.0);
    using clock = std::chrono::steady_clock;
    Logs running;
    if (cb && cb->on_progress) running = running_logs();
    auto last_progress = clock::now(), last_poll = last_progress;
    ops::StateSums device_state;
    ops::StateSums* sum = device_sums(device_state);
    int64_t step = 0;
    for (int64_t s = 0; s < n; s += batch_size) {
      const int64_t e = std::min(n, s + batch_size);
      const Tensor xr = stage(x.rows(s, e), xb), yr = stage(y.rows(s, e), yb);
      const Tensor out = forward_ws(xr, false, f);
      const Tensor wr = w.defined() ? stage(w.rows(s, e), wb) : Tensor();
      score(out, yr, w.defined() ? &wr : nullptr, f, nullptr, state.data(), sum, step);
      state[0] += penalty * static_cast<double>(e - s) + activity_penalty(e - s, sum);
      ++step;
      if (!cb) continue;
      const auto now = clock::now();
      if (cb->on_progress &&
          (step == 1 || e == n || now - last_progress >= std::chrono::milliseconds(cb->progress_interval_ms))) {
        last_progress = now;
        flush(sum, state.data());
        fill_running(running, state.data());
        if (cb->on_progress(step, running) != FitSignal::proceed) break;
      }
      if (cb->should_stop && now - last_poll >= std::chrono::milliseconds(cb->poll_interval_ms)) {
        last_poll = now;
        if (cb->should_stop()) break;
      }
    }
    flush(sum, state.data());
    return results(state.data());
  }

  void predict_into(const Tensor& x, Tensor& out, int64_t batch_size) const {
    const int64_t n = x.dim(0);
    FASTANN_CHECK_ARG(has_batch_shape(out, n, output_shape()),
                      "predict: output buffer must have shape " << shape_str(batch_shape(n, output_shape()))
                                                                << ", got " << shape_str(out.shape()));
    if (n == 0) return;
    const int64_t chunk = batch_size > 0 ? std::min(batch_size, n) : std::min<int64_t>(n, 4096);
    int64_t width = 0;
    for (const auto& l : layers) width = std::max(width, l->output_size());
    const int64_t nbufs = layers.size() > 2 ? 2 : layers.size() > 1 ? 1 : 0, per_buf = chunk * width;
    // Input and output not on the model's device (a CUDA model predicting host data) pass through staging buffers
    // there, a chunk at a time.
    const bool stage_in = x.device() != device, stage_out = out.device() != device;
    const int64_t in_at = nbufs * per_buf, out_at = in_at + (stage_in ? chunk * input_dim : 0);
    const int64_t need = out_at + (stage_out ? chunk * output_dim() : 0);
    std::unique_lock<std::mutex> ws_lock(predict_mu, std::try_to_lock);
    Tensor local;
    Tensor& ws = ws_lock.owns_lock() ? predict_ws : local;
    if (ws.numel() < need || ws.device() != device) ws = Tensor::empty({std::max<int64_t>(need, 1)}, device);
    // Each hidden layer's output as a (chunk, *shape) view of its buffer, shaped once per call: a chunk takes rows
    // of it, which allocates nothing (making a view from a Shape allocates the Shape's std::vector).
    std::vector<Tensor> hidden(layers.size() - 1);
    for (size_t i = 0; i + 1 < layers.size(); ++i) {
      hidden[i] = Tensor::view(ws.data() + static_cast<int64_t>(i % 2) * per_buf,
                               batch_shape(chunk, layers[i]->output_shape()), device);
    }
    const Tensor x_stage =
        stage_in ? Tensor::view(ws.data() + in_at, batch_shape(chunk, input_shape), device) : Tensor();
    const Tensor y_stage =
        stage_out ? Tensor::view(ws.data() + out_at, batch_shape(chunk, output_shape()), device) : Tensor();
    for (int64_t s = 0; s < n; s += chunk) {
      const int64_t e = std::min(n, s + chunk), b = e - s;
      Tensor in = x.rows(s, e);
      if (stage_in) {
        Tensor staged = x_stage.rows(0, b);
        staged.copy_from(in);
        in = staged;
      }
      for (size_t i = 0; i < layers.size(); ++i) {
        const bool last = i + 1 == layers.size();
        Tensor dst = !last ? hidden[i].rows(0, b) : stage_out ? y_stage.rows(0, b) : out.rows(s, e);
        layers[i]->forward(in, dst, false, false);
        in = dst;
      }
      if (stage_out) {
        Tensor dst = out.rows(s, e);
        dst.copy_from(in);
      }
    }
  }

  // Adding a layer to a built model rebuilds it, keeping the existing layers' weights.
  void add(std::unique_ptr<nn::Layer> layer) {
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

  // Copies the defined tensors of `data` that are not on the model's device there, when the model is on a CUDA
  // device and their bytes fit within dataset_memory_limit() (-1: half the device's free memory) and the device's
  // memory; they then refer to the copies. Returns false when the data stays where it is (the caller stages
  // batches): always for a CPU model.
  bool place_data(std::initializer_list<Tensor*> data) const {
    if (device.type != DeviceType::CUDA) {  // a CPU model given device tensors (C++): host copies
      for (Tensor* t : data) {
        if (t->defined() && !t->is_cpu()) *t = t->to(Device::cpu());
      }
      return true;
    }
    int64_t bytes = 0;
    for (const Tensor* t : data) {
      if (t->defined() && t->device() != device) bytes += t->numel() * static_cast<int64_t>(sizeof(float));
    }
    if (bytes == 0) return true;
    int64_t limit = dataset_memory_limit();
    if (limit < 0) {
      size_t free_bytes = 0, total_bytes = 0;
      runtime::backend(device).mem_info(device.index, &free_bytes, &total_bytes);
      limit = static_cast<int64_t>(free_bytes / 2);
    }
    if (bytes > limit) return false;
    std::vector<Tensor> moved;
    try {
      for (const Tensor* t : data) moved.push_back(t->defined() ? t->to(device) : Tensor());
    } catch (const OutOfMemoryError&) {
      return false;  // the copies made so far are freed; batches are staged instead
    }
    size_t i = 0;
    for (Tensor* t : data) *t = std::move(moved[i++]);
    return true;
  }

  // Checks per-sample weights of n samples: shape (n,) or (n, 1), finite and >= 0.
  static void check_sample_weight(const Tensor& w, int64_t n, const char* what, const char* arg) {
    FASTANN_CHECK_ARG((w.ndim() == 1 || (w.ndim() == 2 && w.dim(1) == 1)) && w.dim(0) == n,
                      what << ": " << arg << " must have shape (" << n << ",), one weight per sample, got shape "
                           << shape_str(w.shape()));
    const Tensor wh = on_host(w);
    for (int64_t i = 0; i < n; ++i) {
      const float v = wh.data()[i];
      FASTANN_CHECK_ARG(std::isfinite(v) && v >= 0.0f, what << ": " << arg << " must hold finite weights >= 0, got "
                                                            << v << " at row " << i);
    }
  }

  // The number of classes class weights are indexed by: the output width, or 2 for one output column.
  int64_t num_classes() const { return loss.kind == ops::Loss::scce || output_dim() > 1 ? output_dim() : 2; }

  // Per-sample weights of y's rows (y (n, cols) or (n,) class indices) from class weights, checked first.
  Tensor class_sample_weights(const Tensor& y, const std::vector<float>& cw, const char* what) const {
    const int64_t classes = num_classes();
    FASTANN_CHECK_ARG(static_cast<int64_t>(cw.size()) <= classes,
                      what << ": class_weight has " << cw.size() << " entries but the model has " << classes
                           << " classes (indices 0.." << classes - 1 << ")");
    for (size_t k = 0; k < cw.size(); ++k) {
      FASTANN_CHECK_ARG(std::isfinite(cw[k]) && cw[k] >= 0.0f,
                        what << ": class_weight for class " << k << " must be finite and >= 0, got " << cw[k]);
    }
    const int64_t n = y.dim(0);
    Tensor w = Tensor::empty({n}, y.device());
    ops::class_sample_weights(y.reshape({n, y.numel() / std::max<int64_t>(n, 1)}), cw, w);
    return w;
  }

  // The weights of one train/test batch: sample_weight (checked) or class weights (train only), or undefined.
  Tensor batch_weights(const Tensor& y, const Tensor& sample_weight, const std::vector<float>& class_weight,
                       const char* what) const {
    const int64_t n = y.dim(0);
    FASTANN_CHECK_ARG(!sample_weight.defined() || class_weight.empty(),
                      what << ": class_weight and sample_weight cannot be given together (pass one of them)");
    if (sample_weight.defined()) {
      check_sample_weight(sample_weight, n, what, "sample_weight");
      return sample_weight.ndim() == 1 ? sample_weight : sample_weight.reshape({n});
    }
    if (!class_weight.empty()) return class_sample_weights(y, class_weight, what);
    return Tensor();
  }

  std::vector<double> one_batch(const Tensor& x, const Tensor& y, bool train, const Tensor& sample_weight,
                                const std::vector<float>& class_weight) {
    std::lock_guard<std::recursive_mutex> lock(train_mu);
    const runtime::StreamScope on_stream(stream);
    if (train) require_not_fitting("train_on_batch");
    require_layers();
    const char* what = train ? "train_on_batch" : "test_on_batch";
    require_compiled(what);
    ensure_built(x, what);
    check_xy(x, y, what);
    const int64_t b = x.dim(0);
    const Tensor w = batch_weights(y, sample_weight, class_weight, what);
    if (!train) return evaluate(x, y, w, b);
    prepare(b, y.numel() / b);
    std::fill(batch_state.begin(), batch_state.end(), 0.0);
    const Tensor wd = w.defined() ? stage(w, wb) : Tensor();
    ops::StateSums* sum = device_sums(fit_sums);
    train_step(stage(x, xb), stage(y, yb), w.defined() ? &wd : nullptr, batch_state.data(), sum);
    flush(sum, batch_state.data());
    return results(batch_state.data());
  }
};

Sequential::Sequential() : impl_(std::make_unique<Impl>()) {}
Sequential::~Sequential() = default;
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;

void Sequential::add(const LayerSpec& spec) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  Impl& m = *impl_;
  m.require_not_fitting("adding a layer");
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

void Sequential::add(const Dense& layer) { add(to_spec(layer)); }
void Sequential::add(const Activation& layer) { add(to_spec(layer)); }
void Sequential::add(const Dropout& layer) { add(to_spec(layer)); }
void Sequential::add(const BatchNormalization& layer) { add(to_spec(layer)); }

void Sequential::add(const Input& input) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("adding an Input");
  bool positive = !input.shape.empty();
  for (int64_t d : input.shape) positive = positive && d > 0;
  if (input.shape.size() <= 1) {
    FASTANN_CHECK_ARG(positive, "Input: shape must be (features,) with features > 0, got "
                                    << shape_str(input.shape));
  }
  FASTANN_CHECK_ARG(positive && input.shape.size() < static_cast<size_t>(Tensor::kMaxDims),
                    "Input: shape must have 1 to " << Tensor::kMaxDims - 1 << " positive dimensions, got "
                                                   << shape_str(input.shape));
  FASTANN_CHECK_ARG(impl_->layers.empty() && impl_->input_from_input.empty(),
                    "an Input can only be added first, before any layer (and only once)");
  impl_->input_from_input = input.shape;
}

Sequential Sequential::from_config(const std::vector<LayerSpec>& layers, std::optional<uint64_t> seed) {
  Sequential model;
  Impl& m = *model.impl_;
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
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("building the model");
  impl_->build(input_shape, seed);
}

void Sequential::build(int64_t input_dim, std::optional<uint64_t> seed) { build(Shape{input_dim}, seed); }

bool Sequential::built() const { return impl_->built; }

void Sequential::to(Device device) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  Impl& m = *impl_;
  m.require_not_fitting("moving the model to another device");
  if (device.type == DeviceType::CUDA) runtime::backend(device).require_device(device.index);
  if (device == m.device) return;
  if (m.device.type == DeviceType::CUDA) {  // the old stream's work first: its buffers are read and then freed
    const runtime::StreamScope old(m.stream);
    runtime::backend(m.device).synchronize(m.device.index);
  }
  std::shared_ptr<void> stream =
      device.type == DeviceType::CUDA ? runtime::backend(device).create_stream(device.index) : nullptr;
  const runtime::StreamScope on_stream(stream);
  // Everything that can fail (allocation on the new device) happens before the model changes.
  Tensor params = m.params, grads = m.grads, state = m.state, host_grads = m.host_grads;
  if (m.built) {
    try {
      m.move_buffers(device);
    } catch (...) {
      m.params = params, m.grads = grads, m.state = state, m.host_grads = host_grads;
      m.bind_views();
      if (m.optimizer) m.optimizer->to(m.device);
      throw;
    }
  }
  for (const auto& l : m.layers) l->set_device(device);
  m.device = device;
  m.release_workspace();
  m.stream = std::move(stream);
}

Device Sequential::device() const { return impl_->device; }
Shape Sequential::input_shape() const {
  if (impl_->built) return impl_->input_shape;
  return impl_->layers.empty() ? impl_->input_from_input : impl_->layers.front()->declared_input_shape();
}
Shape Sequential::output_shape() const { return impl_->output_shape(); }
int64_t Sequential::input_dim() const {
  const Shape s = input_shape();
  return s.empty() ? 0 : nn::shape_numel(s);
}
int64_t Sequential::output_dim() const { return impl_->output_dim(); }

namespace {

// The metric a compile entry names, with its parameters checked; `loss` resolves "accuracy" as Keras does.
ops::MetricParams resolve_metric(const MetricConfig& cfg, ops::Loss loss, int64_t output_dim) {
  using ops::Metric;
  const std::string& name = cfg.name;
  ops::MetricParams p;
  if (name == "accuracy" || name == "acc") {
    // Resolved from the loss as Keras does, else from the output width.
    if (loss == ops::Loss::bce) {
      p.kind = Metric::binary_accuracy;
    } else if (loss == ops::Loss::cce) {
      p.kind = Metric::categorical_accuracy;
    } else if (loss == ops::Loss::scce) {
      p.kind = Metric::sparse_categorical_accuracy;
    } else {
      p.kind = output_dim == 1 ? Metric::binary_accuracy : Metric::categorical_accuracy;
    }
  } else if (!ops::find_metric(name, &p.kind)) {
    throw ValueError("unknown metric '" + name + "'; valid metrics: accuracy, acc, " + ops::metric_names_list());
  }
  if (ops::metric_is_sparse(p.kind) && loss != ops::Loss::scce) {
    throw ValueError("metric '" + name + "' needs class-index targets (loss sparse_categorical_crossentropy)");
  }
  if (!ops::metric_is_sparse(p.kind) && loss == ops::Loss::scce) {
    throw ValueError("metric '" + name + "' needs one-hot targets, but the loss takes class indices; use "
                     "'accuracy', 'sparse_categorical_accuracy' or 'sparse_top_k_categorical_accuracy'");
  }
  if (p.kind == Metric::top_k_categorical_accuracy || p.kind == Metric::sparse_top_k_categorical_accuracy) {
    FASTANN_CHECK_ARG(cfg.k >= 1, "metric '" << name << "': k must be a positive integer, got " << cfg.k);
    p.k = cfg.k;
  }
  if (p.kind == Metric::auc) {
    FASTANN_CHECK_ARG(cfg.num_thresholds > 1 && cfg.num_thresholds <= 1000000,
                      "metric '" << name << "': num_thresholds must be in [2, 1000000], got " << cfg.num_thresholds);
    p.num_thresholds = cfg.num_thresholds;
  }
  if (p.kind == Metric::binary_accuracy || p.kind == Metric::precision || p.kind == Metric::recall) {
    FASTANN_CHECK_ARG(std::isfinite(cfg.threshold) && (p.kind == Metric::binary_accuracy ||
                                                       (cfg.threshold >= 0.0 && cfg.threshold <= 1.0)),
                      "metric '" << name << "': threshold must be "
                                 << (p.kind == Metric::binary_accuracy ? "finite" : "in [0, 1]") << ", got "
                                 << cfg.threshold);
    p.threshold = static_cast<float>(cfg.threshold);
  }
  return p;
}

}  // namespace

void Sequential::compile(const OptimizerConfig& optimizer, const LossConfig& loss,
                         const std::vector<MetricConfig>& metrics, const std::vector<MetricConfig>& weighted_metrics) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("compiling the model");
  Impl& m = *impl_;
  auto opt = std::make_unique<nn::Optimizer>(optimizer);
  ops::LossParams lp;
  lp.kind = ops::parse_loss(loss.name);
  lp.from_logits = loss.from_logits;
  FASTANN_CHECK_ARG(loss.delta > 0.0, "huber: delta must be > 0, got " << loss.delta);
  lp.delta = static_cast<float>(loss.delta);
  std::vector<Impl::CompiledMetric> ms;
  std::vector<std::string> names;
  int64_t offset = 2;  // after the loss's [sum of w * loss, samples]
  for (int pass = 0; pass < 2; ++pass) {
    const size_t unweighted = names.size();
    for (const MetricConfig& cfg : pass == 0 ? metrics : weighted_metrics) {
      Impl::CompiledMetric cm;
      cm.p = resolve_metric(cfg, lp.kind, m.output_dim());
      cm.cfg = cfg;
      cm.weighted = pass == 1;
      cm.offset = offset;
      offset += ops::metric_state_size(cm.p);
      // The reported name: unique in the model; a weighted metric named as an unweighted one gets "weighted_".
      std::string base = cfg.display_name.empty() ? cfg.name : cfg.display_name;
      if (cm.weighted && std::find(names.begin(), names.begin() + static_cast<long>(unweighted), base) !=
                             names.begin() + static_cast<long>(unweighted)) {
        base = "weighted_" + base;
      }
      std::string unique = base;
      for (int i = 1; std::find(names.begin(), names.end(), unique) != names.end(); ++i) {
        unique = base + "_" + std::to_string(i);
      }
      cm.cfg.display_name = unique;
      names.push_back(unique);
      ms.push_back(std::move(cm));
    }
  }
  m.optimizer = std::move(opt);
  m.loss = lp;
  m.loss_cfg = loss;
  m.metrics = std::move(ms);
  m.metric_names = std::move(names);
  m.state_size = offset;
  m.batch_state.assign(static_cast<size_t>(offset), 0.0);
  m.compiled = true;
  if (m.built) m.optimizer->reset(m.params.numel(), m.device);
}

bool Sequential::compiled() const { return impl_->compiled; }

std::vector<std::string> Sequential::metrics_names() const {
  std::vector<std::string> names{"loss"};
  names.insert(names.end(), impl_->metric_names.begin(), impl_->metric_names.end());
  return names;
}

std::vector<MetricConfig> Sequential::metric_configs(bool weighted) const {
  std::vector<MetricConfig> out;
  for (const auto& cm : impl_->metrics) {
    if (cm.weighted == weighted) out.push_back(cm.cfg);
  }
  return out;
}

History Sequential::fit(const Tensor& x_all, const Tensor& y_all, const FitOptions& o, const FitCallbacks& cb) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  Impl& m = *impl_;
  const runtime::StreamScope on_stream(m.stream);
  m.require_not_fitting("calling fit");
  m.require_layers();
  m.require_compiled("fit");
  m.ensure_built(x_all, "fit");
  m.check_xy(x_all, y_all, "fit");
  FASTANN_CHECK_ARG(o.batch_size > 0, "fit: batch_size must be a positive integer, got " << o.batch_size);
  FASTANN_CHECK_ARG(o.epochs >= 0, "fit: epochs must be >= 0, got " << o.epochs);
  FASTANN_CHECK_ARG(o.initial_epoch >= 0, "fit: initial_epoch must be >= 0, got " << o.initial_epoch);
  FASTANN_CHECK_ARG(o.validation_split >= 0.0 && o.validation_split < 1.0,
                    "fit: validation_split must be in [0, 1), got " << o.validation_split);
  FASTANN_CHECK_ARG(o.shard_count >= 1 && o.shard_index >= 0 && o.shard_index < o.shard_count,
                    "fit: shard_index must be in [0, shard_count) and shard_count >= 1, got shard_index="
                        << o.shard_index << ", shard_count=" << o.shard_count);
  FASTANN_CHECK_STATE(o.shard_count == 1 || m.reducer, "fit: shard_count=" << o.shard_count
                          << " (data-parallel) needs a gradient reducer: call set_gradient_reducer first");

  FASTANN_CHECK_ARG(!o.sample_weight.defined() || o.class_weight.empty(),
                    "fit: class_weight and sample_weight cannot be given together (pass one of them)");
  if (o.sample_weight.defined()) Impl::check_sample_weight(o.sample_weight, x_all.dim(0), "fit", "sample_weight");
  FASTANN_CHECK_ARG(!o.validation_sample_weight.defined() || o.validation_x.defined(),
                    "fit: validation_sample_weight needs validation_x and validation_y");

  // Hold out the last fraction (before any shuffling), as Keras does; with the sample weights.
  Tensor x = x_all, y = y_all, vx, vy, sw = o.sample_weight, vw;
  if (o.validation_x.defined()) {
    vx = o.validation_x;
    vy = o.validation_y;
    m.check_xy(vx, vy, "fit (validation_data)");
    vw = o.validation_sample_weight;
    if (vw.defined()) Impl::check_sample_weight(vw, vx.dim(0), "fit (validation_data)", "sample weights");
  } else if (o.validation_split > 0.0) {
    const auto split = static_cast<int64_t>(static_cast<double>(x_all.dim(0)) * (1.0 - o.validation_split));
    FASTANN_CHECK_ARG(split > 0 && split < x_all.dim(0),
                      "fit: validation_split=" << o.validation_split << " leaves no samples for training or validation");
    x = x_all.rows(0, split);
    y = y_all.rows(0, split);
    vx = x_all.rows(split, x_all.dim(0));
    vy = y_all.rows(split, y_all.dim(0));
    if (sw.defined()) {
      vw = sw.rows(split, x_all.dim(0));
      sw = sw.rows(0, split);
    }
  }
  const bool has_val = vx.defined();

  const int64_t n = x.dim(0);
  const int64_t bs = std::min(o.batch_size, n);
  const int64_t ycols = y.numel() / n;
  m.prepare(bs, ycols);
  m.order.resize(static_cast<size_t>(n));
  std::iota(m.order.begin(), m.order.end(), int64_t{0});
  Rng rng(o.seed ? *o.seed : next_global_seed());
  Tensor y2 = y.reshape({n, ycols});
  // Class weights become per-sample weights of the training rows (once per fit), gathered with each batch.
  if (!o.class_weight.empty()) sw = m.class_sample_weights(y2, o.class_weight, "fit");
  if (sw.defined()) sw = sw.reshape({n});
  if (vw.defined()) vw = vw.reshape({vx.dim(0)});
  // A CUDA model trains on device copies of the data when they fit, else on batches gathered from the host.
  const bool staged = !m.place_data({&x, &y2, &sw, &vx, &vy, &vw});

  struct FittingFlag {
    bool& f;
    explicit FittingFlag(bool& flag) : f(flag) { f = true; }
    ~FittingFlag() { f = false; }
  } fitting_flag(m.fitting);
  // Sharded: worker r takes rows [r*bs, (r+1)*bs) of each global batch of gbs rows (fastann/distributed.hpp).
  const int64_t shards = o.shard_count, gbs = bs * shards, shard_lo = o.shard_index * bs;
  struct ScaleReset {
    float& s;
    ~ScaleReset() { s = 0.0f; }
  } scale_reset{m.grad_scale};

  History hist;
  std::vector<std::string> keys;
  for (const auto& name : m.metric_names) keys.push_back(name);
  keys.push_back("loss");
  if (has_val) {
    for (const auto& name : m.metric_names) keys.push_back("val_" + name);
    keys.push_back("val_loss");
  }
  for (const auto& k : keys) hist.history.emplace_back(k, std::vector<double>{});

  using clock = std::chrono::steady_clock;
  auto last_poll = clock::now();
  bool stop = false;
  std::vector<double> state(static_cast<size_t>(m.state_size));
  // Reused for every progress / batch-hook call: only the values change per batch.
  const bool want_running = cb.on_progress || cb.on_train_batch_end || cb.on_nonfinite_loss;
  Logs running;
  if (want_running) running = m.running_logs();
  const auto progress_every = std::chrono::milliseconds(std::max(cb.progress_interval_ms, 0));
  const auto poll_every = std::chrono::milliseconds(std::max(cb.poll_interval_ms, 0));
  for (int epoch = o.initial_epoch; epoch < o.epochs && !stop; ++epoch) {
    if (cb.on_epoch_begin) cb.on_epoch_begin(epoch);
    if (o.shuffle) rng.shuffle(m.order.data(), n);
    // The epoch's order where the data is: uploaded once for data on a CUDA device (host data is gathered on the
    // host and copied a batch at a time).
    if (o.shuffle || staged) m.order_index.assign(m.order.data(), n, staged ? Device::cpu() : x.device());
    ops::StateSums* const sum = m.device_sums(m.fit_sums);
    std::fill(state.begin(), state.end(), 0.0);
    int64_t seen = 0;
    bool aborted = false, end_epoch = false, nonfinite_seen = false;
    auto last_progress = clock::now();
    // Applies a hook's answer; true when the batch loop must end.
    auto apply = [&](FitSignal sig) {
      if (sig == FitSignal::abort) aborted = true;
      else if (sig == FitSignal::stop) end_epoch = true;
      return aborted;
    };
    int64_t step = 0;
    for (int64_t gs = 0; gs < n; gs += gbs, ++step) {
      if (cb.on_train_batch_begin && apply(cb.on_train_batch_begin(step))) break;
      const int64_t g = std::min(gbs, n - gs);  // rows of this global batch (all of it when not sharded)
      const int64_t s = gs + std::min(shard_lo, g), b = std::min(bs, gs + g - s);
      if (shards > 1) m.grad_scale = static_cast<float>(shards) / static_cast<float>(g);
      if (b == 0) {
        m.empty_step();
      } else if (o.shuffle || staged) {  // m.order is the identity without shuffling
        Tensor xb = m.xb.rows(0, b), yb = m.yb.rows(0, b), wb = m.wb.rows(0, b);
        ops::gather_rows(x, m.order_index, s, b, xb);
        ops::gather_rows(y2, m.order_index, s, b, yb);
        if (sw.defined()) ops::gather_rows(sw, m.order_index, s, b, wb);
        m.train_step(xb, m.loss.kind == ops::Loss::scce ? yb.reshape({b}) : yb, sw.defined() ? &wb : nullptr,
                     state.data(), sum, step);
      } else {
        const Tensor yb = y2.rows(s, s + b);
        const Tensor wb = sw.defined() ? sw.rows(s, s + b) : Tensor();
        m.train_step(x.rows(s, s + b), m.loss.kind == ops::Loss::scce ? yb.reshape({b}) : yb,
                     sw.defined() ? &wb : nullptr, state.data(), sum, step);
      }
      seen += b;
      const bool last = gs + g >= n;
      const auto now = (cb.on_progress || cb.should_stop) ? clock::now() : clock::time_point{};
      const bool progress = cb.on_progress && (step == 0 || last || now - last_progress >= progress_every);
      // A CUDA model's loss and metrics reach the host where they are read, and at least every kLossReadSteps steps
      // so that a non-finite loss is noticed soon (named by the exact step it appeared in).
      int64_t bad_step = -1;
      if (sum && (cb.on_train_batch_end || progress || last || (step + 1) % kLossReadSteps == 0)) {
        bad_step = Impl::flush(sum, state.data());
      }
      const bool nonfinite = cb.on_nonfinite_loss && !nonfinite_seen && !std::isfinite(state[0]);
      if (cb.on_train_batch_end || nonfinite || progress) m.fill_running(running, state.data());
      if (cb.on_train_batch_end && apply(cb.on_train_batch_end(step, running))) break;
      if (nonfinite) {
        nonfinite_seen = true;
        if (apply(cb.on_nonfinite_loss(bad_step >= 0 ? bad_step : step, running))) break;
      }
      if (progress) {
        last_progress = now;
        if (apply(cb.on_progress(step + 1, running))) break;
      }
      if (cb.should_stop && now - last_poll >= poll_every) {
        last_poll = now;
        if (cb.should_stop()) {
          aborted = true;
          break;
        }
      }
      if (end_epoch) break;
    }
    Impl::flush(sum, state.data());
    if (m.reducer && !aborted) {  // global sums and counts (all additive): every worker reports the same logs
      m.reducer->reduce_sums(state.data(), static_cast<int64_t>(state.size()));
      seen = static_cast<int64_t>(state[1]);
    }
    if (aborted || seen == 0) break;
    if (end_epoch) stop = true;
    Logs logs;
    for (size_t k = 0; k < m.metrics.size(); ++k) logs.emplace_back(m.metric_names[k], m.result(k + 1, state.data()));
    logs.emplace_back("loss", m.result(0, state.data()));
    if (has_val) {
      const std::vector<double> v = m.evaluate(vx, vy, vw, o.batch_size);
      for (size_t k = 0; k < m.metrics.size(); ++k) logs.emplace_back("val_" + m.metric_names[k], v[k + 1]);
      logs.emplace_back("val_loss", v[0]);
      m.prepare(bs, ycols);
    }
    hist.epoch.push_back(epoch);
    for (size_t k = 0; k < logs.size(); ++k) hist.history[k].second.push_back(logs[k].second);
    if (cb.on_epoch_end && cb.on_epoch_end(epoch, logs)) stop = true;
  }
  return hist;
}

std::vector<double> Sequential::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size) {
  return evaluate_checked(x, y, Tensor(), batch_size, nullptr);
}

std::vector<double> Sequential::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size,
                                         const EvaluateCallbacks& callbacks) {
  return evaluate_checked(x, y, Tensor(), batch_size, &callbacks);
}

std::vector<double> Sequential::evaluate(const Tensor& x, const Tensor& y, const Tensor& sample_weight,
                                         int64_t batch_size, const EvaluateCallbacks& callbacks) {
  return evaluate_checked(x, y, sample_weight, batch_size, &callbacks);
}

std::vector<double> Sequential::evaluate_checked(const Tensor& x, const Tensor& y, const Tensor& sample_weight,
                                                 int64_t batch_size, const EvaluateCallbacks* callbacks) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  Impl& m = *impl_;
  const runtime::StreamScope on_stream(m.stream);
  m.require_layers();
  m.require_compiled("evaluate");
  FASTANN_CHECK_ARG(batch_size > 0, "evaluate: batch_size must be a positive integer, got " << batch_size);
  m.ensure_built(x, "evaluate");
  m.check_xy(x, y, "evaluate");
  Tensor w;
  if (sample_weight.defined()) {
    Impl::check_sample_weight(sample_weight, x.dim(0), "evaluate", "sample_weight");
    w = sample_weight.reshape({x.dim(0)});
  }
  return m.evaluate(x, y, w, batch_size, callbacks);
}

Tensor Sequential::predict(const Tensor& x, int64_t batch_size) const {
  impl_->require_layers();
  FASTANN_CHECK_STATE(impl_->built, "predict: the model is not built yet; give the first layer an input_dim or fit it "
                                    "first");
  impl_->check_x(x, "predict");
  Tensor out = Tensor::empty(Impl::batch_shape(x.dim(0), impl_->output_shape()), x.device());
  predict_into(x, out, batch_size);
  return out;
}

void Sequential::predict_into(const Tensor& x, Tensor& out, int64_t batch_size) const {
  Impl& m = *impl_;
  m.require_layers();
  FASTANN_CHECK_STATE(m.built, "predict: the model is not built yet; give the first layer an input_dim or fit it first");
  m.check_x(x, "predict");
  FASTANN_CHECK_ARG(batch_size >= 0, "predict: batch_size must be positive, got " << batch_size);
  const runtime::StreamScope on_stream(m.stream);
  m.predict_into(x, out, batch_size);
}

std::vector<double> Sequential::train_on_batch(const Tensor& x, const Tensor& y, const Tensor& sample_weight,
                                               const std::vector<float>& class_weight) {
  return impl_->one_batch(x, y, true, sample_weight, class_weight);
}

std::vector<double> Sequential::test_on_batch(const Tensor& x, const Tensor& y, const Tensor& sample_weight) {
  return impl_->one_batch(x, y, false, sample_weight, {});
}

size_t Sequential::num_layers() const { return impl_->layers.size(); }

LayerInfo Sequential::layer_info(size_t index) const {
  FASTANN_CHECK_ARG(index < impl_->layers.size(), "layer index " << index << " out of range (the model has "
                                                                 << impl_->layers.size() << " layers)");
  LayerInfo li = impl_->layers[index]->info();
  if (!impl_->built) li.weight_shapes.clear(), li.param_count = 0, li.non_trainable_param_count = 0, li.input_dim = 0;
  return li;
}

int64_t Sequential::count_params() const {
  FASTANN_CHECK_STATE(impl_->built, "count_params: the model is not built yet (no input size known)");
  int64_t n = 0;
  for (size_t i = 0; i < impl_->layers.size(); ++i) n += impl_->layers[i]->info().param_count;
  return n;
}

std::vector<Tensor> Sequential::get_layer_weights(size_t index) const {
  FASTANN_CHECK_ARG(index < impl_->layers.size(), "layer index " << index << " out of range");
  std::vector<Tensor> out;
  if (!impl_->built) return out;
  for (const Tensor& p : impl_->layers[index]->params()) out.push_back(p.to(Device::cpu(), /*copy=*/true));
  for (const Tensor& p : impl_->layers[index]->state()) out.push_back(p.to(Device::cpu(), /*copy=*/true));
  return out;
}

void Sequential::set_layer_weights(size_t index, const std::vector<Tensor>& weights) {
  FASTANN_CHECK_ARG(index < impl_->layers.size(), "layer index " << index << " out of range");
  const nn::Layer& l = *impl_->layers[index];
  FASTANN_CHECK_STATE(impl_->built, "set_weights: the model is not built yet; build it (or give the first layer an "
                                    "input_dim) before setting weights");
  std::vector<Tensor> params = l.params();
  for (const Tensor& t : l.state()) params.push_back(t);
  FASTANN_CHECK_ARG(weights.size() == params.size(), "layer '" << l.name() << "' expects " << params.size()
                                                               << " weight arrays, got " << weights.size());
  for (size_t j = 0; j < params.size(); ++j) {
    FASTANN_CHECK_ARG(weights[j].shape() == params[j].shape(),
                      "layer '" << l.name() << "' weight " << j << " must have shape " << shape_str(params[j].shape())
                                << ", got " << shape_str(weights[j].shape()));
  }
  for (size_t j = 0; j < params.size(); ++j) params[j].copy_from(weights[j]);
}

std::vector<Tensor> Sequential::get_weights() const {
  std::vector<Tensor> out;
  for (size_t i = 0; i < impl_->layers.size(); ++i) {
    for (Tensor& t : get_layer_weights(i)) out.push_back(std::move(t));
  }
  return out;
}

void Sequential::set_weights(const std::vector<Tensor>& weights) {
  FASTANN_CHECK_STATE(impl_->built, "set_weights: the model is not built yet");
  size_t expected = 0;
  for (const auto& l : impl_->layers) expected += l->params().size() + l->state().size();
  FASTANN_CHECK_ARG(weights.size() == expected, "set_weights: the model has " << expected
                                                                              << " weight arrays, got " << weights.size());
  // Validate everything before changing anything.
  size_t k = 0;
  for (const auto& l : impl_->layers) {
    for (const auto* group : {&l->params(), &l->state()}) {
      for (const Tensor& p : *group) {
        FASTANN_CHECK_ARG(weights[k].shape() == p.shape(), "set_weights: weight " << k << " (layer '" << l->name()
                                                               << "') must have shape " << shape_str(p.shape())
                                                               << ", got " << shape_str(weights[k].shape()));
        ++k;
      }
    }
  }
  k = 0;
  for (size_t i = 0; i < impl_->layers.size(); ++i) {
    const size_t cnt = impl_->layers[i]->params().size() + impl_->layers[i]->state().size();
    set_layer_weights(i, std::vector<Tensor>(weights.begin() + static_cast<long>(k),
                                             weights.begin() + static_cast<long>(k + cnt)));
    k += cnt;
  }
}

const OptimizerConfig& Sequential::optimizer_config() const {
  impl_->require_compiled("reading its optimizer");
  return impl_->optimizer->config();
}

const LossConfig& Sequential::loss_config() const {
  impl_->require_compiled("reading its loss");
  return impl_->loss_cfg;
}

double Sequential::learning_rate() const { return optimizer_config().learning_rate; }

void Sequential::set_learning_rate(double lr) {
  impl_->require_compiled("setting the learning rate");
  impl_->optimizer->set_learning_rate(lr);
}

int64_t Sequential::optimizer_iterations() const {
  return impl_->compiled ? impl_->optimizer->iterations() : 0;
}

LayerSpec Sequential::layer_config(size_t index) const {
  FASTANN_CHECK_ARG(index < impl_->layers.size(), "layer index " << index << " out of range (the model has "
                                                                 << impl_->layers.size() << " layers)");
  const nn::Layer& l = *impl_->layers[index];
  return {l.type(), l.config().at("config", "layer").dump()};
}

const std::string& Sequential::name() const { return impl_->name; }

void Sequential::set_name(std::string name) {
  FASTANN_CHECK_ARG(!name.empty(), "the model name must not be empty");
  impl_->name = std::move(name);
}

// Each slot is a flat buffer laid out as the parameters: the view of weight w sits at w's offset in `params`.
OptimizerState Sequential::get_optimizer_state() const {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
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
        views.push_back(Tensor::view(const_cast<float*>(flat.data()) + (p.data() - m.params.data()), p.shape(),
                                     flat.device())
                            .to(Device::cpu(), /*copy=*/true));
      }
    }
    st.slots.push_back(std::move(views));
  }
  return st;
}

void Sequential::set_optimizer_state(const OptimizerState& st) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  Impl& m = *impl_;
  m.require_not_fitting("setting the optimizer state");
  m.require_compiled("setting its optimizer state");
  FASTANN_CHECK_STATE(m.built, "the model is not built yet; build it before setting its optimizer state");
  FASTANN_CHECK_ARG(st.iterations >= 0, "optimizer state: iterations must be >= 0, got " << st.iterations);
  const std::vector<std::string> names = m.optimizer->slot_names();
  FASTANN_CHECK_ARG(st.slot_names == names && st.slots.size() == names.size(),
                    "optimizer state: the slots do not match this " << m.optimizer->config().name
                                                                    << " optimizer's (" << names.size() << " slots)");
  std::vector<const Tensor*> params;
  for (const auto& l : m.layers) {
    for (const Tensor& p : l->params()) params.push_back(&p);
  }
  for (size_t s = 0; s < names.size(); ++s) {
    FASTANN_CHECK_ARG(st.slots[s].size() == params.size(), "optimizer state: slot '" << names[s] << "' has "
                                                               << st.slots[s].size() << " arrays, expected "
                                                               << params.size());
    for (size_t w = 0; w < params.size(); ++w) {
      FASTANN_CHECK_ARG(st.slots[s][w].shape() == params[w]->shape(),
                        "optimizer state: slot '" << names[s] << "' of weight " << w << " must have shape "
                                                  << shape_str(params[w]->shape()) << ", got "
                                                  << shape_str(st.slots[s][w].shape()));
    }
  }
  for (size_t s = 0; s < names.size(); ++s) {
    Tensor& flat = m.optimizer->slot(s);
    for (size_t w = 0; w < params.size(); ++w) {
      Tensor::view(flat.data() + (params[w]->data() - m.params.data()), params[w]->shape(), flat.device())
          .copy_from(st.slots[s][w]);
    }
  }
  m.optimizer->set_iterations(st.iterations);
}

void Sequential::set_gradient_reducer(std::shared_ptr<GradientReducer> reducer) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("setting the gradient reducer");
  impl_->reducer = std::move(reducer);
}

const std::shared_ptr<GradientReducer>& Sequential::gradient_reducer() const { return impl_->reducer; }

}  // namespace fastann
