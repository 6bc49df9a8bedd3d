// Inference: predict and predict_into in chunks through a kept workspace (no allocation per call in the steady
// state).
#include "nn/train/model_impl.hpp"

namespace fastann {

void Sequential::Impl::predict_into(const Tensor& x, Tensor& out, int64_t batch_size,
                                    const PredictCallbacks* cb) const {
  const int64_t n = x.dim(0);
  FASTANN_CHECK_ARG(has_batch_shape(out, n, output_shape()), "predict: output buffer must have shape "
                                                                 << shape_str(batch_shape(n, output_shape()))
                                                                 << ", got " << shape_str(out.shape()));
  if (n == 0) return;
  int64_t chunk = batch_size > 0 ? std::min(batch_size, n) : std::min<int64_t>(n, 4096);
  const bool polled = cb && cb->should_stop;
  if (polled && chunk > 64) {
    // Chunks of about kPolledChunkFlops of work (a few milliseconds), so that a stop request is seen soon whatever
    // the model's size; results do not depend on the chunk.
    int64_t flops_per_row = 1;
    for (const auto& l : layers) {
      flops_per_row += l->output_size();
      for (const Tensor& p : l->params()) flops_per_row += 2 * p.numel();
    }
    chunk = std::max<int64_t>(1, std::min(chunk, kPolledChunkFlops / flops_per_row));
  }
  using clock = std::chrono::steady_clock;
  auto last_poll = clock::now();
  int64_t width = 0;
  for (const auto& l : layers) width = std::max(width, l->output_size());
  // The workspace's size, checked: a chunk of rows times the widest layer (ValueError rather than a wrapped size).
  const auto what = [&] { return "predict: a workspace of " + std::to_string(chunk) + " rows"; };
  const int64_t nbufs = layers.size() > 2 ? 2 : layers.size() > 1 ? 1 : 0, per_buf = checked_mul(chunk, width, what);
  // Input and output not on the model's device (a CUDA model predicting host data) pass through staging buffers
  // there, a chunk at a time.
  const bool stage_in = x.device() != device, stage_out = out.device() != device;
  const int64_t in_at = checked_mul(nbufs, per_buf, what);
  const int64_t out_at = checked_add(in_at, stage_in ? checked_mul(chunk, input_dim, what) : 0, what);
  const int64_t need = checked_add(out_at, stage_out ? checked_mul(chunk, output_dim(), what) : 0, what);
  const nn::CallGate::Claim claim(gate, nn::CallGate::Workspace::predict);
  // Tensors made per call only where needed (nn::LazyView): constructing one zeroes its 128 bytes, and a one-row
  // predict is a few microseconds.
  nn::LazyView local;
  const bool shared = claim.owned();
  Tensor& ws = shared ? predict_ws : local.make(Tensor());
  if (ws.numel() < need || ws.device() != device) {
    ws = Tensor::empty({std::max<int64_t>(need, 1)}, device);
    if (shared) predict_hidden_chunk = -1;
  }
  // Each hidden layer's output as a (chunk, *shape) view of its buffer: a chunk takes rows of it, which allocates
  // nothing (making a view from a Shape allocates the Shape's std::vector). With the shared workspace the views are
  // kept for the next call of the same chunk size.
  std::vector<Tensor> local_hidden;
  std::vector<Tensor>& hidden = shared ? predict_hidden : local_hidden;
  bool reuse = shared && predict_hidden_chunk == chunk && hidden.size() + 1 == layers.size();
  for (size_t i = 0; reuse && i + 1 < layers.size(); ++i) {  // still this workspace's views of these layers' outputs
    reuse = hidden[i].data() == ws.data() + static_cast<int64_t>(i % 2) * per_buf &&
            hidden[i].numel() == chunk * layers[i]->output_size() && hidden[i].device() == device;
  }
  if (!reuse) {
    hidden.assign(layers.size() - 1, Tensor());
    for (size_t i = 0; i + 1 < layers.size(); ++i) {
      hidden[i] = Tensor::view(ws.data() + static_cast<int64_t>(i % 2) * per_buf,
                               batch_shape(chunk, layers[i]->output_shape()), device);
    }
    if (shared) predict_hidden_chunk = chunk;
  }
  nn::LazyView x_stage, y_stage;
  if (stage_in) x_stage.make(Tensor::view(ws.data() + in_at, batch_shape(chunk, input_shape), device));
  if (stage_out) y_stage.make(Tensor::view(ws.data() + out_at, batch_shape(chunk, output_shape()), device));
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t e = std::min(n, s + chunk), b = e - s;
    nn::LazyView in_v, staged_v, out_v, dst_v[2];
    const Tensor* in = s == 0 && e == n ? &x : &in_v.make(x.rows(s, e));
    if (stage_in) {
      Tensor& staged = nn::first_rows(*x_stage, b, staged_v);
      staged.copy_from(*in);
      in = &staged;
    }
    Tensor& out_rows = s == 0 && e == n ? out : out_v.make(out.rows(s, e));
    {
      const nn::CallGate::Reading reading(gate);  // a chunk sees the weights between two updates of a fit
      for (size_t i = 0; i < layers.size(); ++i) {
        const bool last = i + 1 == layers.size();
        Tensor& dst = !last       ? nn::first_rows(hidden[i], b, dst_v[i % 2])
                      : stage_out ? nn::first_rows(*y_stage, b, dst_v[i % 2])
                                  : out_rows;
        layers[i]->forward(*in, dst, false, false);
        in = &dst;
      }
      if (stage_out) out_rows.copy_from(*in);
    }
    if (polled && e < n) {
      const auto now = clock::now();
      if (now - last_poll >= std::chrono::milliseconds(std::max(cb->poll_interval_ms, 0))) {
        last_poll = now;
        if (cb->should_stop()) {
          FASTANN_THROW(Interrupted, "predict: stopped after " << e << " of " << n << " rows");
        }
      }
    }
  }
}

// Both entries take one read pass (nn/call_gate.hpp) for the whole call: layers and buffers stay while it runs.
Tensor Sequential::predict(const Tensor& x, int64_t batch_size) const {
  Impl& m = *impl_;
  const nn::CallGate::Pass pass(m.gate, nn::CallGate::Kind::read, "predict");
  m.check_predict(x, batch_size);
  Tensor out = Tensor::empty(Impl::batch_shape(x.dim(0), m.output_shape()), x.device());
  const runtime::StreamScope on_stream(m.stream);
  m.predict_into(x, out, batch_size);
  return out;
}

Tensor Sequential::predict(const Tensor& x, int64_t batch_size, const PredictCallbacks& callbacks) const {
  Impl& m = *impl_;
  const nn::CallGate::Pass pass(m.gate, nn::CallGate::Kind::read, "predict");
  m.check_predict(x, batch_size);
  Tensor out = Tensor::empty(Impl::batch_shape(x.dim(0), m.output_shape()), x.device());
  const runtime::StreamScope on_stream(m.stream);
  m.predict_into(x, out, batch_size, &callbacks);
  return out;
}

void Sequential::predict_into(const Tensor& x, Tensor& out, int64_t batch_size) const {
  Impl& m = *impl_;
  const nn::CallGate::Pass pass(m.gate, nn::CallGate::Kind::read, "predict");
  m.check_predict(x, batch_size);
  const runtime::StreamScope on_stream(m.stream);
  m.predict_into(x, out, batch_size);
}

void Sequential::Impl::check_predict(const Tensor& x, int64_t batch_size) const {
  require_layers();
  FASTANN_CHECK_STATE(built, "predict: the model is not built yet; give the first layer an input_dim or fit it first");
  check_x(x, "predict");
  FASTANN_CHECK_ARG(batch_size >= 0, "predict: batch_size must be positive, got " << batch_size);
}

}  // namespace fastann
