// Evaluation: the streaming state's results, the running logs progress hooks see (the callback bridge), and evaluate.
#include "nn/train/model_impl.hpp"

namespace fastann {

double Sequential::Impl::result(size_t k, const double* state) const {
  if (k == 0) return state[1] > 0.0 ? state[0] / state[1] : 0.0;
  const CompiledMetric& cm = metrics[k - 1];
  return ops::metric_result(cm.p, state + cm.offset);
}

std::vector<double> Sequential::Impl::results(const double* state) const {
  std::vector<double> out(1 + metrics.size());
  for (size_t k = 0; k < out.size(); ++k) out[k] = result(k, state);
  return out;
}

Logs Sequential::Impl::running_logs() const {
  Logs logs;
  for (const auto& name : metric_names) logs.emplace_back(name, 0.0);
  logs.emplace_back("loss", 0.0);
  return logs;
}

void Sequential::Impl::fill_running(Logs& logs, const double* state) const {
  for (size_t k = 0; k + 1 < logs.size(); ++k) logs[k].second = result(k + 1, state);
  logs.back().second = result(0, state);
}

std::vector<double> Sequential::Impl::evaluate(Workspace& ws, const Tensor& x, const Tensor& y, const Tensor& w,
                                               int64_t batch_size, const EvaluateCallbacks* cb) {
  const int64_t n = x.dim(0);
  const int64_t ycols = y.numel() / n;
  prepare(ws, std::min(batch_size, n), ycols, /*training=*/false);
  const bool f = fused();
  // The weights do not change during evaluate, except by a fit in another thread: each batch then sees the weights
  // between two of its updates, and the penalty those at the start.
  const double penalty = [&] {
    const nn::CallGate::Reading reading(gate);
    return weight_penalty();
  }();
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
    const Tensor xr = stage(x.rows(s, e), ws.xb), yr = stage(y.rows(s, e), ws.yb);
    const Tensor out = [&] {
      const nn::CallGate::Reading reading(gate);
      return forward_ws(ws, xr, false, f);
    }();
    const Tensor wr = w.defined() ? stage(w.rows(s, e), ws.wb) : Tensor();
    score(ws, out, yr, w.defined() ? &wr : nullptr, f, nullptr, state.data(), sum, step);
    state[0] += penalty * static_cast<double>(e - s) + activity_penalty(ws, e - s, sum);
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
  Impl& m = *impl_;
  const runtime::StreamScope on_stream(m.stream);
  m.require_layers();
  m.require_compiled("evaluate");
  FASTANN_CHECK_ARG(batch_size > 0, "evaluate: batch_size must be a positive integer, got " << batch_size);
  if (!m.built) {  // the first data builds the model: a structural change, before the call proper
    const nn::CallGate::Pass building(m.gate, nn::CallGate::Kind::change, "evaluate");
    m.ensure_built(x, "evaluate");
  }
  const nn::CallGate::Pass pass(m.gate, nn::CallGate::Kind::read, "evaluate");
  m.ensure_built(x, "evaluate");
  m.check_xy(x, y, "evaluate");
  Tensor w;
  if (sample_weight.defined()) {
    Impl::check_sample_weight(sample_weight, x.dim(0), "evaluate", "sample_weight");
    w = sample_weight.reshape({x.dim(0)});
  }
  // The model's workspace when no other call has it (a fit, another evaluate), else one of this call's own.
  const nn::CallGate::Claim claim(m.gate, nn::CallGate::Workspace::train);
  Impl::Workspace own;
  return m.evaluate(claim.owned() ? m.ws : own, x, y, w, batch_size, callbacks);
}

}  // namespace fastann
