// Sequential: the layer stack, its flat parameter/gradient buffers, and the fit/evaluate/predict loops.
//
// All parameters live in one flat buffer (each tensor 64-byte aligned inside it) and all gradients in a second one
// of the same layout, so one fused optimizer op updates the whole model per step. Training buffers (per-layer
// outputs and gradients, the gathered batch) are allocated once per fit for the largest batch; the steady state of
// an epoch allocates nothing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "fastann/model.hpp"
#include "nn/layer.hpp"
#include "nn/optimizer.hpp"
#include "ops/ops.hpp"

namespace fastann {

namespace {

constexpr int64_t kParamAlign = 16;  // floats: 64 bytes

// Keras-style unique default names: dense, dense_1, dense_2, ...
std::string unique_name(const std::string& base) {
  static std::mutex mu;
  static std::map<std::string, int> counts;
  std::lock_guard<std::mutex> lock(mu);
  const int k = counts[base]++;
  return k == 0 ? base : base + "_" + std::to_string(k);
}

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
  std::vector<std::unique_ptr<nn::Layer>> layers;
  bool built = false;
  int64_t input_dim = 0;
  Tensor params, grads;  // flat

  bool compiled = false;
  std::unique_ptr<nn::Optimizer> optimizer;
  LossConfig loss_cfg;
  ops::LossParams loss;
  std::vector<ops::Metric> metrics;
  std::vector<std::string> metric_names;

  // Training workspace, sized for ws_rows rows.
  int64_t ws_rows = 0;
  std::vector<Tensor> outs, douts;
  Tensor xb, yb, probs;
  std::vector<int64_t> order;
  // One training/evaluation call at a time per model. Recursive: fit's callbacks may evaluate the model (on the
  // same thread, between epochs, when the workspace is not in use).
  std::recursive_mutex train_mu;
  bool fitting = false;  // set while fit runs: callbacks may not change the layers, optimizer or loss
  // predict's intermediate activations, kept between calls like the training workspace: fresh multi-megabyte buffers
  // cost a page fault per 4 KB on every call (10000 mnist_mlp rows: ~12% of predict's time). A predict running
  // concurrently on the same model uses buffers of its own.
  mutable std::mutex predict_mu;
  mutable Tensor predict_ws;

  void require_not_fitting(const char* what) const {
    FASTANN_CHECK_STATE(!fitting, what << " is not allowed while the model is being fit (e.g. from a callback)");
  }

  int64_t output_dim() const { return layers.empty() ? 0 : layers.back()->output_dim(); }

  // Cross-entropy fused with the final sigmoid/softmax: the loss reads the logits.
  bool fused() const {
    if (!compiled || layers.empty() || loss_cfg.from_logits) return false;
    const ops::Act a = layers.back()->activation().kind;
    return (a == ops::Act::sigmoid && loss.kind == ops::Loss::bce) ||
           (a == ops::Act::softmax && (loss.kind == ops::Loss::cce || loss.kind == ops::Loss::scce));
  }

  void require_layers() const {
    FASTANN_CHECK_STATE(!layers.empty(), "the model has no layers; add layers with model.add(...) first");
  }

  void build(int64_t in_dim, std::optional<uint64_t> seed) {
    require_layers();
    const int64_t declared = layers.front()->declared_input_dim();
    FASTANN_CHECK_ARG(declared == 0 || declared == in_dim, "the model expects inputs with " << declared
                                                               << " features, got " << in_dim);
    FASTANN_CHECK_ARG(in_dim > 0, "the input dimension must be positive, got " << in_dim);
    int64_t d = in_dim, total = 0;
    std::vector<std::vector<int64_t>> offsets(layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      layers[i]->build(d);
      d = layers[i]->output_dim();
      for (const Shape& s : layers[i]->param_shapes()) {
        offsets[i].push_back(total);
        int64_t n = 1;
        for (int64_t v : s) n *= v;
        total += (n + kParamAlign - 1) / kParamAlign * kParamAlign;
      }
    }
    params = Tensor({std::max<int64_t>(total, 1)});
    grads = Tensor({std::max<int64_t>(total, 1)});
    Rng rng(seed ? *seed : next_global_seed());
    for (size_t i = 0; i < layers.size(); ++i) {
      std::vector<Tensor> p, g;
      const auto shapes = layers[i]->param_shapes();
      for (size_t j = 0; j < shapes.size(); ++j) {
        p.push_back(Tensor::view(params.data() + offsets[i][j], shapes[j]));
        g.push_back(Tensor::view(grads.data() + offsets[i][j], shapes[j]));
      }
      layers[i]->bind(std::move(p), std::move(g));
      layers[i]->init_params(rng.next_u64());
    }
    input_dim = in_dim;
    built = true;
    ws_rows = 0;
    if (optimizer) optimizer->reset(params.numel());
  }

  void ensure_built(int64_t in_dim) {
    if (!built) build(in_dim, std::nullopt);
  }

  void check_x(const Tensor& x, const char* what) const {
    FASTANN_CHECK_ARG(x.ndim() == 2, what << ": x must be 2-D (samples, features), got shape " << shape_str(x.shape()));
    FASTANN_CHECK_ARG(x.dim(1) == input_dim, what << ": x has " << x.dim(1) << " features but the model expects "
                                                  << input_dim << " (x shape " << shape_str(x.shape()) << ")");
  }

  void check_xy(const Tensor& x, const Tensor& y, const char* what) const {
    check_x(x, what);
    const int64_t n = x.dim(0);
    FASTANN_CHECK_ARG(n > 0, what << ": x is empty");
    FASTANN_CHECK_ARG(y.ndim() >= 1 && y.dim(0) == n, what << ": x and y have different numbers of samples: "
                                                           << n << " and " << (y.ndim() ? y.dim(0) : 0));
    if (loss.kind == ops::Loss::scce) {
      FASTANN_CHECK_ARG(y.numel() == n, what << ": sparse_categorical_crossentropy expects y of shape (" << n
                                             << ",) with class indices, got " << shape_str(y.shape()));
    } else {
      FASTANN_CHECK_ARG(y.ndim() == 2 && y.dim(1) == output_dim(),
                        what << ": y must have shape (" << n << ", " << output_dim() << ") to match the model's output, got "
                             << shape_str(y.shape()));
    }
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
      outs[i] = Tensor::empty({rows, layers[i]->output_dim()});
      douts[i] = Tensor::empty({rows, layers[i]->output_dim()});
      layers[i]->prepare(rows);
    }
    xb = Tensor::empty({rows, input_dim});
    yb = Tensor::empty({rows, ycols});
    probs = Tensor::empty({rows, output_dim()});
    ws_rows = rows;
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

  // Loss and metric sums of one batch from the final output; writes dL/d(output) when grad is given.
  void score(const Tensor& out, const Tensor& y, bool fused_now, Tensor* grad, double* sums) {
    const int64_t b = out.dim(0);
    ops::LossParams lp = loss;
    lp.from_logits = fused_now || loss_cfg.from_logits;
    Tensor pr = probs.rows(0, b);
    sums[0] += ops::loss(lp, out, y, grad, fused_now ? &pr : nullptr, 1.0f / static_cast<float>(b));
    const Tensor& pred = fused_now ? pr : out;
    for (size_t m = 0; m < metrics.size(); ++m) sums[m + 1] += ops::metric_sum(metrics[m], pred, y);
  }

  void train_step(const Tensor& x, const Tensor& y, double* sums) {
    const int64_t b = x.dim(0);
    const bool f = fused();
    const Tensor out = forward_ws(x, true, f);
    const size_t L = layers.size();
    Tensor g = douts[L - 1].rows(0, b);
    score(out, y, f, &g, sums);
    for (size_t i = L; i-- > 0;) {
      const Tensor xi = i ? outs[i - 1].rows(0, b) : x;
      Tensor dy = douts[i].rows(0, b);
      Tensor dx = i ? douts[i - 1].rows(0, b) : Tensor();
      layers[i]->backward(xi, outs[i].rows(0, b), dy, i ? &dx : nullptr, f && i + 1 == L);
    }
    optimizer->step(params, grads);
  }

  // Mean loss and metrics of x/y, in batches (no update).
  std::vector<double> evaluate(const Tensor& x, const Tensor& y, int64_t batch_size) {
    const int64_t n = x.dim(0);
    const int64_t ycols = y.numel() / n;
    prepare(std::min(batch_size, n), ycols);
    const bool f = fused();
    std::vector<double> sums(1 + metrics.size(), 0.0);
    for (int64_t s = 0; s < n; s += batch_size) {
      const int64_t e = std::min(n, s + batch_size);
      const Tensor out = forward_ws(x.rows(s, e), false, f);
      score(out, y.rows(s, e), f, nullptr, sums.data());
    }
    for (double& v : sums) v /= static_cast<double>(n);
    return sums;
  }

  void predict_into(const Tensor& x, Tensor& out, int64_t batch_size) const {
    const int64_t n = x.dim(0);
    FASTANN_CHECK_ARG(out.ndim() == 2 && out.dim(0) == n && out.dim(1) == output_dim(),
                      "predict: output buffer must have shape (" << n << ", " << output_dim() << "), got "
                                                                 << shape_str(out.shape()));
    if (n == 0) return;
    const int64_t chunk = batch_size > 0 ? std::min(batch_size, n) : std::min<int64_t>(n, 4096);
    int64_t width = 0;
    for (const auto& l : layers) width = std::max(width, l->output_dim());
    const int64_t nbufs = layers.size() > 2 ? 2 : layers.size() > 1 ? 1 : 0, per_buf = chunk * width;
    std::unique_lock<std::mutex> ws_lock(predict_mu, std::try_to_lock);
    Tensor local;
    Tensor& ws = ws_lock.owns_lock() ? predict_ws : local;
    if (ws.numel() < nbufs * per_buf) ws = Tensor::empty({nbufs * per_buf});
    float* bufs[2] = {ws.data(), nbufs > 1 ? ws.data() + per_buf : nullptr};
    for (int64_t s = 0; s < n; s += chunk) {
      const int64_t e = std::min(n, s + chunk), b = e - s;
      Tensor in = x.rows(s, e);
      for (size_t i = 0; i < layers.size(); ++i) {
        Tensor dst = i + 1 == layers.size()
                         ? out.rows(s, e)
                         : Tensor::view(bufs[i % 2], {b, layers[i]->output_dim()});
        layers[i]->forward(in, dst, false, false);
        in = dst;
      }
    }
  }

  // Adding a layer to a built model rebuilds it, keeping the existing layers' weights.
  void add(std::unique_ptr<nn::Layer> layer) {
    std::vector<std::vector<Tensor>> kept;
    const bool was_built = built;
    if (was_built) {
      for (const auto& l : layers) {
        kept.emplace_back();
        for (const Tensor& p : l->params()) kept.back().push_back(p.clone());
      }
    }
    layers.push_back(std::move(layer));
    if (was_built) {
      built = false;
      build(input_dim, std::nullopt);
      for (size_t i = 0; i < kept.size(); ++i) {
        for (size_t j = 0; j < kept[i].size(); ++j) {
          Tensor dst = layers[i]->params()[j];
          dst.copy_from(kept[i][j]);
        }
      }
    } else if (layers.size() == 1 && layers.front()->declared_input_dim() > 0) {
      build(layers.front()->declared_input_dim(), std::nullopt);
    }
  }

  std::vector<double> one_batch(const Tensor& x, const Tensor& y, bool train) {
    std::lock_guard<std::recursive_mutex> lock(train_mu);
    if (train) require_not_fitting("train_on_batch");
    require_layers();
    require_compiled(train ? "train_on_batch" : "test_on_batch");
    FASTANN_CHECK_ARG(x.ndim() == 2, "x must be 2-D (samples, features), got shape " << shape_str(x.shape()));
    ensure_built(x.dim(1));
    check_xy(x, y, train ? "train_on_batch" : "test_on_batch");
    const int64_t b = x.dim(0);
    if (!train) return evaluate(x, y, b);
    prepare(b, y.numel() / b);
    std::vector<double> sums(1 + metrics.size(), 0.0);
    train_step(x, y, sums.data());
    for (double& v : sums) v /= static_cast<double>(b);
    return sums;
  }
};

Sequential::Sequential() : impl_(std::make_unique<Impl>()) {}
Sequential::~Sequential() = default;
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;

void Sequential::add(const Dense& layer) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("adding a layer");
  impl_->add(std::make_unique<nn::DenseLayer>(layer, layer.name.empty() ? unique_name("dense") : layer.name));
}

void Sequential::add(const Activation& layer) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("adding a layer");
  auto l = std::make_unique<nn::ActivationLayer>(layer, layer.name.empty() ? unique_name("activation") : layer.name);
  // Its width is its input's: known now from the previous layer or its own input_dim (else from the data).
  const int64_t in = impl_->layers.empty() ? layer.input_dim : impl_->layers.back()->output_dim();
  if (in > 0) l->build(in);
  impl_->add(std::move(l));
}

void Sequential::build(int64_t input_dim, std::optional<uint64_t> seed) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("building the model");
  impl_->build(input_dim, seed);
}

bool Sequential::built() const { return impl_->built; }
int64_t Sequential::input_dim() const {
  if (impl_->built) return impl_->input_dim;
  return impl_->layers.empty() ? 0 : impl_->layers.front()->declared_input_dim();
}
int64_t Sequential::output_dim() const { return impl_->output_dim(); }

void Sequential::compile(const OptimizerConfig& optimizer, const LossConfig& loss,
                         const std::vector<std::string>& metrics) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("compiling the model");
  Impl& m = *impl_;
  auto opt = std::make_unique<nn::Optimizer>(optimizer);
  ops::LossParams lp;
  lp.kind = ops::parse_loss(loss.name);
  lp.from_logits = loss.from_logits;
  FASTANN_CHECK_ARG(loss.delta > 0.0, "huber: delta must be > 0, got " << loss.delta);
  lp.delta = static_cast<float>(loss.delta);
  std::vector<ops::Metric> ms;
  std::vector<std::string> names;
  for (const std::string& name : metrics) {
    ops::Metric k;
    if (name == "accuracy" || name == "acc") {
      // Resolved from the loss as Keras does, else from the output width.
      if (lp.kind == ops::Loss::bce) {
        k = ops::Metric::binary_accuracy;
      } else if (lp.kind == ops::Loss::cce) {
        k = ops::Metric::categorical_accuracy;
      } else if (lp.kind == ops::Loss::scce) {
        k = ops::Metric::sparse_categorical_accuracy;
      } else {
        k = m.output_dim() == 1 ? ops::Metric::binary_accuracy : ops::Metric::categorical_accuracy;
      }
    } else if (name == "binary_accuracy") {
      k = ops::Metric::binary_accuracy;
    } else if (name == "categorical_accuracy") {
      k = ops::Metric::categorical_accuracy;
    } else if (name == "sparse_categorical_accuracy") {
      k = ops::Metric::sparse_categorical_accuracy;
    } else if (name == "mse" || name == "mean_squared_error") {
      k = ops::Metric::mse;
    } else if (name == "mae" || name == "mean_absolute_error") {
      k = ops::Metric::mae;
    } else {
      throw ValueError("unknown metric '" + name +
                       "'; valid metrics: accuracy, acc, binary_accuracy, categorical_accuracy, "
                       "sparse_categorical_accuracy, mse, mae");
    }
    if (k == ops::Metric::sparse_categorical_accuracy && lp.kind != ops::Loss::scce) {
      throw ValueError("metric '" + name + "' needs class-index targets (loss sparse_categorical_crossentropy)");
    }
    if (k != ops::Metric::sparse_categorical_accuracy && lp.kind == ops::Loss::scce) {
      throw ValueError("metric '" + name + "' needs one-hot targets, but the loss takes class indices; use "
                       "'accuracy' or 'sparse_categorical_accuracy'");
    }
    ms.push_back(k);
    names.push_back(name);
  }
  m.optimizer = std::move(opt);
  m.loss = lp;
  m.loss_cfg = loss;
  m.metrics = std::move(ms);
  m.metric_names = std::move(names);
  m.compiled = true;
  if (m.built) m.optimizer->reset(m.params.numel());
}

bool Sequential::compiled() const { return impl_->compiled; }

std::vector<std::string> Sequential::metrics_names() const {
  std::vector<std::string> names{"loss"};
  names.insert(names.end(), impl_->metric_names.begin(), impl_->metric_names.end());
  return names;
}

History Sequential::fit(const Tensor& x_all, const Tensor& y_all, const FitOptions& o, const FitCallbacks& cb) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  Impl& m = *impl_;
  m.require_not_fitting("calling fit");
  m.require_layers();
  m.require_compiled("fit");
  FASTANN_CHECK_ARG(x_all.ndim() == 2, "fit: x must be 2-D (samples, features), got shape " << shape_str(x_all.shape()));
  m.ensure_built(x_all.dim(1));
  m.check_xy(x_all, y_all, "fit");
  FASTANN_CHECK_ARG(o.batch_size > 0, "fit: batch_size must be a positive integer, got " << o.batch_size);
  FASTANN_CHECK_ARG(o.epochs >= 0, "fit: epochs must be >= 0, got " << o.epochs);
  FASTANN_CHECK_ARG(o.initial_epoch >= 0, "fit: initial_epoch must be >= 0, got " << o.initial_epoch);
  FASTANN_CHECK_ARG(o.validation_split >= 0.0 && o.validation_split < 1.0,
                    "fit: validation_split must be in [0, 1), got " << o.validation_split);

  // Hold out the last fraction (before any shuffling), as Keras does.
  Tensor x = x_all, y = y_all, vx, vy;
  if (o.validation_x.defined()) {
    vx = o.validation_x;
    vy = o.validation_y;
    m.check_xy(vx, vy, "fit (validation_data)");
  } else if (o.validation_split > 0.0) {
    const auto split = static_cast<int64_t>(static_cast<double>(x_all.dim(0)) * (1.0 - o.validation_split));
    FASTANN_CHECK_ARG(split > 0 && split < x_all.dim(0),
                      "fit: validation_split=" << o.validation_split << " leaves no samples for training or validation");
    x = x_all.rows(0, split);
    y = y_all.rows(0, split);
    vx = x_all.rows(split, x_all.dim(0));
    vy = y_all.rows(split, y_all.dim(0));
  }
  const bool has_val = vx.defined();

  const int64_t n = x.dim(0);
  const int64_t bs = std::min(o.batch_size, n);
  const int64_t ycols = y.numel() / n;
  m.prepare(bs, ycols);
  m.order.resize(static_cast<size_t>(n));
  std::iota(m.order.begin(), m.order.end(), int64_t{0});
  Rng rng(o.seed ? *o.seed : next_global_seed());
  const Tensor y2 = y.reshape({n, ycols});

  struct FittingFlag {
    bool& f;
    explicit FittingFlag(bool& flag) : f(flag) { f = true; }
    ~FittingFlag() { f = false; }
  } fitting_flag(m.fitting);

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
  std::vector<double> sums(1 + m.metrics.size());
  for (int epoch = o.initial_epoch; epoch < o.epochs && !stop; ++epoch) {
    if (cb.on_epoch_begin) cb.on_epoch_begin(epoch);
    if (o.shuffle) rng.shuffle(m.order.data(), n);
    std::fill(sums.begin(), sums.end(), 0.0);
    int64_t seen = 0;
    for (int64_t s = 0; s < n; s += bs) {
      const int64_t b = std::min(bs, n - s);
      if (o.shuffle) {
        Tensor xb = m.xb.rows(0, b), yb = m.yb.rows(0, b);
        ops::gather_rows(x, m.order.data() + s, b, xb);
        ops::gather_rows(y2, m.order.data() + s, b, yb);
        m.train_step(xb, m.loss.kind == ops::Loss::scce ? yb.reshape({b}) : yb, sums.data());
      } else {
        const Tensor yb = y2.rows(s, s + b);
        m.train_step(x.rows(s, s + b), m.loss.kind == ops::Loss::scce ? yb.reshape({b}) : yb, sums.data());
      }
      seen += b;
      if (cb.should_stop) {
        const auto now = clock::now();
        if (now - last_poll >= std::chrono::milliseconds(cb.poll_interval_ms)) {
          last_poll = now;
          if (cb.should_stop()) {
            stop = true;
            break;
          }
        }
      }
    }
    if (stop) break;
    Logs logs;
    for (size_t k = 0; k < m.metrics.size(); ++k) logs.emplace_back(m.metric_names[k], sums[k + 1] / seen);
    logs.emplace_back("loss", sums[0] / seen);
    if (has_val) {
      const std::vector<double> v = m.evaluate(vx, vy, o.batch_size);
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
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  Impl& m = *impl_;
  m.require_layers();
  m.require_compiled("evaluate");
  FASTANN_CHECK_ARG(batch_size > 0, "evaluate: batch_size must be a positive integer, got " << batch_size);
  FASTANN_CHECK_ARG(x.ndim() == 2, "evaluate: x must be 2-D (samples, features), got shape " << shape_str(x.shape()));
  m.ensure_built(x.dim(1));
  m.check_xy(x, y, "evaluate");
  return m.evaluate(x, y, batch_size);
}

Tensor Sequential::predict(const Tensor& x, int64_t batch_size) const {
  impl_->require_layers();
  FASTANN_CHECK_ARG(x.ndim() == 2, "predict: x must be 2-D (samples, features), got shape " << shape_str(x.shape()));
  Tensor out = Tensor::empty({x.dim(0), output_dim()});
  predict_into(x, out, batch_size);
  return out;
}

void Sequential::predict_into(const Tensor& x, Tensor& out, int64_t batch_size) const {
  Impl& m = *impl_;
  m.require_layers();
  FASTANN_CHECK_STATE(m.built, "predict: the model is not built yet; give the first layer an input_dim or fit it first");
  m.check_x(x, "predict");
  FASTANN_CHECK_ARG(batch_size >= 0, "predict: batch_size must be positive, got " << batch_size);
  m.predict_into(x, out, batch_size);
}

std::vector<double> Sequential::train_on_batch(const Tensor& x, const Tensor& y) {
  return impl_->one_batch(x, y, true);
}

std::vector<double> Sequential::test_on_batch(const Tensor& x, const Tensor& y) {
  return impl_->one_batch(x, y, false);
}

size_t Sequential::num_layers() const { return impl_->layers.size(); }

LayerInfo Sequential::layer_info(size_t index) const {
  FASTANN_CHECK_ARG(index < impl_->layers.size(), "layer index " << index << " out of range (the model has "
                                                                 << impl_->layers.size() << " layers)");
  LayerInfo li = impl_->layers[index]->info();
  if (!impl_->built) li.weight_shapes.clear(), li.param_count = 0, li.input_dim = 0;
  if (auto* d = dynamic_cast<const nn::DenseLayer*>(impl_->layers[index].get())) li.use_bias = d->use_bias();
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
  for (const Tensor& p : impl_->layers[index]->params()) out.push_back(p.clone());
  return out;
}

void Sequential::set_layer_weights(size_t index, const std::vector<Tensor>& weights) {
  FASTANN_CHECK_ARG(index < impl_->layers.size(), "layer index " << index << " out of range");
  const nn::Layer& l = *impl_->layers[index];
  FASTANN_CHECK_STATE(impl_->built, "set_weights: the model is not built yet; build it (or give the first layer an "
                                    "input_dim) before setting weights");
  const auto& params = l.params();
  FASTANN_CHECK_ARG(weights.size() == params.size(), "layer '" << l.name() << "' expects " << params.size()
                                                               << " weight arrays, got " << weights.size());
  for (size_t j = 0; j < params.size(); ++j) {
    FASTANN_CHECK_ARG(weights[j].shape() == params[j].shape(),
                      "layer '" << l.name() << "' weight " << j << " must have shape " << shape_str(params[j].shape())
                                << ", got " << shape_str(weights[j].shape()));
  }
  for (size_t j = 0; j < params.size(); ++j) {
    Tensor dst = params[j];
    dst.copy_from(weights[j]);
  }
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
  for (const auto& l : impl_->layers) expected += l->params().size();
  FASTANN_CHECK_ARG(weights.size() == expected, "set_weights: the model has " << expected
                                                                              << " weight arrays, got " << weights.size());
  // Validate everything before changing anything.
  size_t k = 0;
  for (const auto& l : impl_->layers) {
    for (const Tensor& p : l->params()) {
      FASTANN_CHECK_ARG(weights[k].shape() == p.shape(), "set_weights: weight " << k << " (layer '" << l->name()
                                                             << "') must have shape " << shape_str(p.shape())
                                                             << ", got " << shape_str(weights[k].shape()));
      ++k;
    }
  }
  k = 0;
  for (size_t i = 0; i < impl_->layers.size(); ++i) {
    const size_t cnt = impl_->layers[i]->params().size();
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

}  // namespace fastann
