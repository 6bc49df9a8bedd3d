// The fit loop: validation split, the epochs (shuffled order, batches, progress and callbacks, early stop), and the
// data-parallel shards.
#include "nn/train/model_impl.hpp"

namespace fastann {

History Sequential::fit(const Tensor& x_all, const Tensor& y_all, const FitOptions& o, const FitCallbacks& cb) {
  Impl& m = *impl_;
  const runtime::StreamScope on_stream(m.stream);
  m.require_layers();
  m.require_compiled("fit");
  if (!m.built) {  // the first data builds the model: a structural change, before the call proper
    const nn::CallGate::Pass building(m.gate, nn::CallGate::Kind::change, "fit");
    m.ensure_built(x_all, "fit");
  }
  // One training call at a time; callbacks (on this thread) may read, evaluate, save and set weights or the learning
  // rate, but not change the structure or train (nn/call_gate.hpp).
  const nn::CallGate::Pass pass(m.gate, nn::CallGate::Kind::train, "fit");
  m.ensure_built(x_all, "fit");
  const nn::CallGate::Claim claim(m.gate, nn::CallGate::Workspace::train);
  FASTANN_CHECK_STATE(claim.owned(), "fit: the model's training workspace is in use by another call");
  m.check_xy(x_all, y_all, "fit");
  FASTANN_CHECK_ARG(o.batch_size > 0, "fit: batch_size must be a positive integer, got " << o.batch_size);
  FASTANN_CHECK_ARG(o.epochs >= 0, "fit: epochs must be >= 0, got " << o.epochs);
  FASTANN_CHECK_ARG(o.initial_epoch >= 0, "fit: initial_epoch must be >= 0, got " << o.initial_epoch);
  FASTANN_CHECK_ARG(o.validation_split >= 0.0 && o.validation_split < 1.0,
                    "fit: validation_split must be in [0, 1), got " << o.validation_split);
  FASTANN_CHECK_ARG(o.shard_count >= 1 && o.shard_index >= 0 && o.shard_index < o.shard_count,
                    "fit: shard_index must be in [0, shard_count) and shard_count >= 1, got shard_index="
                        << o.shard_index << ", shard_count=" << o.shard_count);
  FASTANN_CHECK_STATE(
      o.shard_count == 1 || m.reducer,
      "fit: shard_count=" << o.shard_count
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
    FASTANN_CHECK_ARG(
        split > 0 && split < x_all.dim(0),
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
  m.prepare(m.ws, bs, ycols, /*training=*/true);
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

  // Sharded: worker r takes rows [r*bs, (r+1)*bs) of each global batch of gbs rows (fastann/distributed.hpp).
  const int64_t shards = o.shard_count, gbs = checked_mul(bs, shards, "fit: batch_size * shard_count"),
                shard_lo = o.shard_index * bs;
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
  for (int64_t epoch = o.initial_epoch; epoch < o.epochs && !stop; ++epoch) {
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
      if (sig == FitSignal::abort)
        aborted = true;
      else if (sig == FitSignal::stop)
        end_epoch = true;
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
        // The batch's rows of the workspace: views only for a short last batch (nn::first_rows).
        nn::LazyView xv, yv, wv;
        Tensor& xb = nn::first_rows(m.ws.xb, b, xv);
        Tensor& yb = nn::first_rows(m.ws.yb, b, yv);
        Tensor* wb = sw.defined() ? &nn::first_rows(m.ws.wb, b, wv) : nullptr;
        ops::gather_rows(x, m.order_index, s, b, xb);
        ops::gather_rows(y2, m.order_index, s, b, yb);
        if (wb) ops::gather_rows(sw, m.order_index, s, b, *wb);
        if (m.loss.kind == ops::Loss::scce) {
          m.train_step(xb, yb.reshape({b}), wb, state.data(), sum, step);
        } else {
          m.train_step(xb, yb, wb, state.data(), sum, step);
        }
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
      const std::vector<double> v = m.evaluate(m.ws, vx, vy, vw, o.batch_size);
      for (size_t k = 0; k < m.metrics.size(); ++k) logs.emplace_back("val_" + m.metric_names[k], v[k + 1]);
      logs.emplace_back("val_loss", v[0]);
      m.prepare(m.ws, bs, ycols, /*training=*/true);
    }
    hist.epoch.push_back(epoch);
    for (size_t k = 0; k < logs.size(); ++k) hist.history[k].second.push_back(logs[k].second);
    if (cb.on_epoch_end && cb.on_epoch_end(epoch, logs)) stop = true;
  }
  return hist;
}

}  // namespace fastann
