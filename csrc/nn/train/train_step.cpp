// The train step: forward through the workspace, the loss and metrics of a batch (score), backward, regularizers, the
// gradient reduction and the optimizer update; train_on_batch / test_on_batch.
#include "nn/train/model_impl.hpp"

namespace fastann {

float Sequential::Impl::step_grad_scale(int64_t b) const {
  return grad_scale > 0.0f ? grad_scale : 1.0f / static_cast<float>(b);
}

void Sequential::Impl::prepare(Workspace& w, int64_t rows, int64_t ycols, bool training) {
  if (rows <= w.rows && w.yb.defined() && w.yb.numel() / std::max<int64_t>(w.rows, 1) == ycols &&
      (w.training || !training)) {
    return;
  }
  // Made aside, then swapped in: an allocation that fails leaves `w` as it was.
  Workspace next;
  const size_t L = layers.size();
  next.outs.resize(L);
  if (training) next.douts.resize(L);
  for (size_t i = 0; i < L; ++i) {
    next.outs[i] = Tensor::empty(batch_shape(rows, layers[i]->output_shape()), device);
    if (training) next.douts[i] = Tensor::empty(batch_shape(rows, layers[i]->output_shape()), device);
  }
  next.xb = Tensor::empty(batch_shape(rows, input_shape), device);
  next.yb = Tensor::empty({rows, ycols}, device);
  next.probs = Tensor::empty({rows, output_dim()}, device);
  next.wb = Tensor::empty({rows}, device);
  next.rows = rows;
  next.training = training;
  // The layers' training scratch (a Dropout mask, batch statistics) belongs to the model's one training call;
  // inference never reads it.
  if (training) {
    for (size_t i = 0; i < L; ++i) layers[i]->prepare(rows);
  }
  w = std::move(next);
}

Tensor Sequential::Impl::forward_ws(Workspace& w, const Tensor& x, bool training, bool fused_now) {
  const int64_t b = x.dim(0);
  const Tensor* in = &x;
  nn::LazyView views[2];  // the batch's rows of the last two outputs, when shorter than the workspace
  for (size_t i = 0; i < layers.size(); ++i) {
    Tensor& out = nn::first_rows(w.outs[i], b, views[i % 2]);
    layers[i]->forward(*in, out, training, fused_now && i + 1 == layers.size());
    in = &out;
  }
  return *in;
}

ops::StateSums* Sequential::Impl::device_sums(ops::StateSums& sums) const {
  if (device.type != DeviceType::CUDA) return nullptr;
  sums.reset(device, state_size);
  return &sums;
}

int64_t Sequential::Impl::flush(ops::StateSums* sums, double* state) { return sums ? sums->take(state) : -1; }

void Sequential::Impl::score(Workspace& ws, const Tensor& out, const Tensor& y, const Tensor* w, bool fused_now,
                             Tensor* grad, double* state, ops::StateSums* sums, int64_t step) {
  const int64_t b = out.dim(0);
  ops::LossParams lp = loss;
  lp.from_logits = fused_now || loss_cfg.from_logits;
  nn::LazyView prv;
  Tensor& pr = nn::first_rows(ws.probs, b, prv);
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

double Sequential::Impl::activity_penalty(const Workspace& w, int64_t b, ops::StateSums* sums) {
  double sum = 0.0;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (const Regularizer* r = layers[i]->activity_regularizer()) {
      const auto l1 = static_cast<float>(r->l1), l2 = static_cast<float>(r->l2);
      if (sums) {
        sums->add_regularizer(l1, l2, w.outs[i].rows(0, b), nullptr, 0.0f, 1.0);
      } else {
        sum += ops::regularizer(l1, l2, w.outs[i].rows(0, b), nullptr, 0.0f);
      }
    }
  }
  return sum;
}

double Sequential::Impl::weight_penalty() {
  double sum = 0.0;
  for (RegTerm& t : reg_terms) sum += ops::regularizer(t.l1, t.l2, t.w, nullptr, 0.0f);
  return sum;
}

void Sequential::Impl::train_step(const Tensor& x, const Tensor& y, const Tensor* w, double* state, ops::StateSums* sum,
                                  int64_t step) {
  const int64_t b = x.dim(0);
  const bool f = fused();
  // The forward pass moves layer state (BatchNormalization's moving statistics) and the optimizer step the weights:
  // both are updates, which readers in other threads see whole (nn::CallGate::Updating). The backward pass only
  // reads the values, and calls the gradient reducer, which must not run inside an update (it may need the GIL).
  const Tensor out = [&] {
    const nn::CallGate::Updating updating(gate);
    return forward_ws(ws, x, true, f);
  }();
  const size_t L = layers.size();
  nn::LazyView gv;
  Tensor& g = nn::first_rows(ws.douts[L - 1], b, gv);
  score(ws, out, y, w, f, &g, state, sum, step);
  const float gs = step_grad_scale(b);
  for (size_t i = L; i-- > 0;) {
    nn::LazyView xv, dyv, dxv, outv;
    const Tensor& xi = i ? nn::first_rows(ws.outs[i - 1], b, xv) : x;
    Tensor& dy = nn::first_rows(ws.douts[i], b, dyv);
    Tensor* dx = i ? &nn::first_rows(ws.douts[i - 1], b, dxv) : nullptr;
    if (const Regularizer* r = layers[i]->activity_regularizer()) {
      // d(penalty / b)/dy joins the loss gradient before the layer's own backward.
      const auto l1 = static_cast<float>(r->l1), l2 = static_cast<float>(r->l2);
      if (sum) {
        sum->add_regularizer(l1, l2, ws.outs[i].rows(0, b), &dy, gs, 1.0);
      } else {
        state[0] += ops::regularizer(l1, l2, ws.outs[i].rows(0, b), &dy, gs);
      }
    }
    layers[i]->backward(xi, nn::first_rows(ws.outs[i], b, outv), dy, dx, f && i + 1 == L);
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
  const nn::CallGate::Updating updating(gate);
  optimizer->step(params, grads);
}

void Sequential::Impl::reduce_gradients() {
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

void Sequential::Impl::empty_step() {
  grads.fill(0.0f);
  for (RegTerm& t : reg_terms) ops::regularizer(t.l1, t.l2, t.w, &t.g, 1.0f);
  if (tail_layer >= 0 && reg_terms.empty() && grads.is_cpu()) {
    reducer->gradients_ready(grads.data(), tail_begin, grads.numel());
  }
  reduce_gradients();
  const nn::CallGate::Updating updating(gate);
  optimizer->step(params, grads);
}

std::vector<double> Sequential::Impl::one_batch(const Tensor& x, const Tensor& y, bool train,
                                                const Tensor& sample_weight, const std::vector<float>& class_weight) {
  const char* what = train ? "train_on_batch" : "test_on_batch";
  const runtime::StreamScope on_stream(stream);
  require_layers();
  require_compiled(what);
  if (!built) {  // the first data builds the model: a structural change, before the call proper
    const nn::CallGate::Pass building(gate, nn::CallGate::Kind::change, what);
    ensure_built(x, what);
  }
  const nn::CallGate::Pass pass(gate, train ? nn::CallGate::Kind::train : nn::CallGate::Kind::read, what);
  ensure_built(x, what);
  check_xy(x, y, what);
  const int64_t b = x.dim(0);
  const Tensor w = batch_weights(y, sample_weight, class_weight, what);
  const nn::CallGate::Claim claim(gate, nn::CallGate::Workspace::train);
  Workspace own;
  if (!train) return evaluate(claim.owned() ? ws : own, x, y, w, b);
  // The train pass excludes every other training call, so the workspace is this call's unless a fit's callback
  // trains the model it is fitting, which the gate refuses.
  FASTANN_CHECK_STATE(claim.owned(), what << ": the model's training workspace is in use");
  prepare(ws, b, y.numel() / b, true);
  std::fill(batch_state.begin(), batch_state.end(), 0.0);
  const Tensor wd = w.defined() ? stage(w, ws.wb) : Tensor();
  ops::StateSums* sum = device_sums(fit_sums);
  train_step(stage(x, ws.xb), stage(y, ws.yb), w.defined() ? &wd : nullptr, batch_state.data(), sum);
  flush(sum, batch_state.data());
  return results(batch_state.data());
}

std::vector<double> Sequential::train_on_batch(const Tensor& x, const Tensor& y, const Tensor& sample_weight,
                                               const std::vector<float>& class_weight) {
  return impl_->one_batch(x, y, true, sample_weight, class_weight);
}

std::vector<double> Sequential::test_on_batch(const Tensor& x, const Tensor& y, const Tensor& sample_weight) {
  return impl_->one_batch(x, y, false, sample_weight, {});
}

}  // namespace fastann
