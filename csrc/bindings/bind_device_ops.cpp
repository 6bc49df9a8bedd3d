// fastann._core.cuda: the CUDA backend's queries (fastann.cuda wraps them) and the ops on a chosen device for the
// tests (tests/test_cuda.py compares each op on 'cuda:N' with the same op on 'cpu'). NumPy in, NumPy out: inputs are
// copied to the device, outputs copied back.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings/bind.hpp"
#include "bindings/numpy.hpp"
#include "fastann/error.hpp"
#include "fastann/tensor.hpp"
#include "nn/losses.hpp"
#include "nn/metrics.hpp"
#include "ops/ops.hpp"
#include "runtime/backend.hpp"

using fastann::Device;
using fastann::Tensor;
using fastann::bindings::as_tensor;
using fastann::bindings::FArray;
using fastann::bindings::FResult;
using fastann::bindings::to_numpy_f32;

namespace {

// A copy of the array on the device (a copy on 'cpu' too).
Tensor on(const FArray& a, Device d) { return as_tensor(a).to(d, /*copy=*/true); }

// A host copy of the tensor, as NumPy.
FResult back(const Tensor& t) { return to_numpy_f32(t.to(Device::cpu(), /*copy=*/true)); }

fastann::ops::ActParams act(const std::string& name, std::optional<double> alpha) {
  return fastann::ops::parse_activation(name, alpha ? *alpha : std::numeric_limits<double>::quiet_NaN());
}

}  // namespace

void bind_device_ops(py::module_& parent) {
  py::module_ m = parent.def_submodule("cuda", "CUDA backend queries and device ops (private: use fastann.cuda)");
  namespace rt = fastann::runtime;
  constexpr fastann::DeviceType kCuda = fastann::DeviceType::CUDA;
  m.def("is_built", [] { return rt::has_backend(kCuda); });
  m.def("device_count", [] { return rt::device_count(kCuda); }, "0 without a driver or GPU (never raises).");
  m.def("device_name", [](int index) { return rt::backend(Device::cuda(index)).device_name(index); }, py::arg("index"));
  m.def(
      "set_allow_tf32",
      [](bool enabled) {
        if (rt::Backend* b = rt::find_backend(kCuda)) b->set_allow_tf32(enabled);
      },
      py::arg("enabled"));
  m.def("allow_tf32", [] {
    rt::Backend* b = rt::find_backend(kCuda);
    return b != nullptr && b->allow_tf32();
  });
  m.def("synchronize", [](int index) { rt::backend(Device::cuda(index)).synchronize(index); }, py::arg("index") = 0);
  m.def("empty_cache", [] {
    if (rt::Backend* b = rt::find_backend(kCuda)) b->empty_cache();
  });
  m.def(
      "memory_stats",
      [](int index) {
        rt::Backend* b = rt::find_backend(kCuda);
        const rt::MemoryStats s = b ? b->memory_stats(index) : rt::MemoryStats{};
        py::typing::Dict<py::str, int64_t> d;
        d["allocated_bytes"] = s.allocated_bytes;
        d["reserved_bytes"] = s.reserved_bytes;
        d["peak_allocated_bytes"] = s.peak_allocated_bytes;
        d["device_allocs"] = s.device_allocs;
        d["cache_hits"] = s.cache_hits;
        return d;
      },
      py::arg("index") = 0);

  // Test hook for the stream-aware allocator (tests/test_cuda_kernels.py): empties the cache, then checks with raw
  // blocks which stream's free list serves which allocation. Returns the observations as booleans.
  m.def(
      "_allocator_stream_probe",
      [](int index) {
        rt::Backend& fc = rt::backend(Device::cuda(index));
        const size_t small = size_t{3} << 20, large = size_t{9} << 20;  // 4 MiB and 10 MiB blocks: never each other's
        fc.synchronize(index);
        fc.empty_cache();
        py::typing::Dict<py::str, py::object> d;
        std::shared_ptr<void> s1 = fc.create_stream(index), s2 = fc.create_stream(index);
        void* on_s1 = nullptr;
        {
          rt::StreamScope scope(s1);
          on_s1 = fc.allocate(small, index).get();  // freed at once: back to s1's free list
        }
        std::shared_ptr<void> keep_default = fc.allocate(small, index);  // held: the default list stays empty
        d["default_got_s1_block"] = keep_default.get() == on_s1;
        std::shared_ptr<void> keep_s2;
        {
          rt::StreamScope scope(s2);
          keep_s2 = fc.allocate(small, index);
          d["s2_got_s1_block"] = keep_s2.get() == on_s1;
        }
        {
          rt::StreamScope scope(s1);
          d["s1_reused_its_block"] = fc.allocate(small, index).get() == on_s1;
        }
        std::shared_ptr<void> live_on_s1;
        {
          rt::StreamScope scope(s1);
          live_on_s1 = fc.allocate(large, index);
        }
        void* const live_ptr = live_on_s1.get();
        s1.reset();          // retires s1: its cached block moves to the default list, its live block is re-tagged
        live_on_s1.reset();  // -> the default list
        std::shared_ptr<void> a = fc.allocate(small, index), b = fc.allocate(large, index);
        d["default_got_retired_free_block"] = a.get() == on_s1;
        d["default_got_retired_live_block"] = b.get() == live_ptr;
        a.reset();
        b.reset();
        keep_default.reset();
        keep_s2.reset();
        const rt::MemoryStats before = fc.memory_stats(index);
        fc.empty_cache();  // frees the cached blocks of every list (default and s2)
        const rt::MemoryStats after = fc.memory_stats(index);
        d["reserved_before_empty"] = before.reserved_bytes;
        d["reserved_after_empty"] = after.reserved_bytes;
        d["allocated_after_empty"] = after.allocated_bytes;
        return d;
      },
      py::arg("index") = 0);

  // --- ops on a device (for the tests) ---
  m.def(
      "roundtrip", [](const FArray& a, const std::string& device) { return back(on(a, Device::parse(device))); },
      py::arg("a"), py::arg("device"), "Copies a to the device and back.");
  m.def(
      "fill",
      [](const std::vector<int64_t>& shape, float value, const std::string& device) {
        Tensor t = Tensor::empty(shape, Device::parse(device));
        t.fill(value);
        return back(t);
      },
      py::arg("shape"), py::arg("value"), py::arg("device"));
  m.def(
      "gemm",
      [](const FArray& a, const FArray& b, bool ta, bool tb, float alpha, float beta, std::optional<FArray> c,
         std::optional<FArray> bias, const std::string& activation, std::optional<double> act_alpha,
         const std::string& device) {
        const Device d = Device::parse(device);
        const Tensor da = on(a, d), db = on(b, d);
        if (da.ndim() != 2 || db.ndim() != 2) throw fastann::ValueError("gemm: a and b must be 2-D");
        const int64_t rows = ta ? da.dim(1) : da.dim(0), cols = tb ? db.dim(0) : db.dim(1);
        Tensor out = c ? on(*c, d) : Tensor::empty({rows, cols}, d);
        if (!c) out.fill(std::numeric_limits<float>::quiet_NaN());  // beta == 0 must not read c
        const Tensor dbias = bias ? on(*bias, d) : Tensor();
        const fastann::ops::ActParams p = act(activation, act_alpha);
        fastann::ops::gemm(ta, tb, alpha, da, db, beta, out, bias ? &dbias : nullptr, &p);
        return back(out);
      },
      py::arg("a"), py::arg("b"), py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha"), py::arg("beta"),
      py::arg("c"), py::arg("bias"), py::arg("activation"), py::arg("activation_alpha"), py::arg("device"));
  // Test hook (tests/test_cuda_kernels.py): (kernel name, number of k slices) gemm() picks for these sizes.
  m.def(
      "_gemm_plan",
      [](int64_t mm, int64_t n, int64_t k, bool ta, bool tb, const std::string& device) {
        int64_t splits = 1;
        const std::string kernel = fastann::ops::gemm_plan(Device::parse(device), ta, tb, mm, n, k, &splits);
        return py::make_tuple(kernel, splits);
      },
      py::arg("m"), py::arg("n"), py::arg("k"), py::arg("trans_a"), py::arg("trans_b"), py::arg("device"));
  m.def(
      "matmul",
      [](const FArray& a, const FArray& b, const std::string& device) {
        const Device d = Device::parse(device);
        return back(fastann::ops::matmul(on(a, d), on(b, d)));
      },
      py::arg("a"), py::arg("b"), py::arg("device"));
  m.def(
      "activation",
      [](const std::string& name, const FArray& x, std::optional<double> alpha, const std::string& device) {
        const Device d = Device::parse(device);
        const Tensor tx = on(x, d);
        Tensor y = Tensor::empty(tx.shape(), d);
        fastann::ops::activation_forward(act(name, alpha), tx, y);
        return back(y);
      },
      py::arg("name"), py::arg("x"), py::arg("alpha"), py::arg("device"));
  m.def(
      "activation_grad",
      [](const std::string& name, const FArray& x, const FArray& dy, std::optional<double> alpha,
         const std::string& device) {
        const Device d = Device::parse(device);
        const auto p = act(name, alpha);
        const Tensor tx = on(x, d), tdy = on(dy, d);
        Tensor y = Tensor::empty(tx.shape(), d), dx = Tensor::empty(tx.shape(), d);
        fastann::ops::activation_forward(p, tx, y);
        fastann::ops::activation_backward(p, tx, y, tdy, dx);
        return back(dx);
      },
      py::arg("name"), py::arg("x"), py::arg("dy"), py::arg("alpha"), py::arg("device"));
  m.def(
      "bias_grad",
      [](const FArray& dz, const std::string& device) {
        const Device d = Device::parse(device);
        const Tensor t = on(dz, d);
        Tensor db = Tensor::empty({t.dim(1)}, d);
        fastann::ops::bias_grad(t, db);
        return back(db);
      },
      py::arg("dz"), py::arg("device"));
  m.def(
      "gather_rows",
      [](const FArray& src, const std::vector<int64_t>& idx, const std::string& src_device, const std::string& device) {
        const Tensor s = on(src, Device::parse(src_device));
        fastann::Shape shape = s.shape();
        shape[0] = static_cast<int64_t>(idx.size());
        Tensor dst = Tensor::empty(shape, Device::parse(device));
        fastann::ops::gather_rows(s, idx.data(), static_cast<int64_t>(idx.size()), dst);
        return back(dst);
      },
      py::arg("src"), py::arg("indices"), py::arg("src_device"), py::arg("device"));
  m.def(
      "first_non_finite",
      [](const FArray& x, const std::string& device) {
        return fastann::ops::first_non_finite(on(x, Device::parse(device)));
      },
      py::arg("x"), py::arg("device"));
  m.def(
      "loss",
      [](const std::string& name, const FArray& y_true, const FArray& y_pred, bool from_logits, double delta,
         std::optional<FArray> weights, float grad_scale, const std::string& device) {
        const Device d = Device::parse(device);
        fastann::ops::LossParams p;
        p.kind = fastann::nn::resolve_loss(fastann::LossConfig(name)).kind;
        p.from_logits = from_logits;
        p.delta = static_cast<float>(delta);
        const Tensor yt = on(y_true, d), yp = on(y_pred, d);
        const Tensor tw = weights ? on(*weights, d) : Tensor();
        Tensor grad = Tensor::empty(yp.shape(), d), probs = Tensor::empty(yp.shape(), d);
        probs.fill(0.0f);
        const double v = fastann::ops::loss(p, yp, yt, &grad, &probs, grad_scale, weights ? &tw : nullptr);
        return py::make_tuple(v, back(grad), back(probs));
      },
      py::arg("name"), py::arg("y_true"), py::arg("y_pred"), py::arg("from_logits"), py::arg("delta"),
      py::arg("weights"), py::arg("grad_scale"), py::arg("device"));
  m.def(
      "metric",
      [](const std::string& name, const FArray& y_true, const FArray& y_pred, const std::string& device) {
        const Device d = Device::parse(device);
        fastann::ops::MetricParams p;
        if (!fastann::nn::find_metric(name, &p.kind)) throw fastann::ValueError("unknown metric '" + name + "'");
        std::vector<double> state(static_cast<size_t>(fastann::ops::metric_state_size(p)), 0.0);
        fastann::ops::metric_update(p, on(y_pred, d), on(y_true, d), nullptr, state.data());
        return fastann::ops::metric_result(p, state.data());
      },
      py::arg("name"), py::arg("y_true"), py::arg("y_pred"), py::arg("device"));
  m.def(
      "state_sums",
      [](const std::string& loss, const std::vector<std::string>& metric_names, const FArray& y_true,
         const FArray& y_pred, std::optional<FArray> weights, int64_t batch, const std::string& device) {
        // fit's streaming state through ops::StateSums: the loss (from probabilities) and each metric, over batches of
        // `batch` rows (batch i named step i), then read back once. Returns (state, first non-finite step or -1).
        const Device d = Device::parse(device);
        fastann::ops::LossParams lp;
        lp.kind = fastann::nn::resolve_loss(fastann::LossConfig(loss)).kind;
        std::vector<fastann::ops::MetricParams> ps;
        std::vector<int64_t> offsets;
        int64_t size = 1;
        for (const std::string& name : metric_names) {
          fastann::ops::MetricParams p;
          if (!fastann::nn::find_metric(name, &p.kind)) throw fastann::ValueError("unknown metric '" + name + "'");
          ps.push_back(p);
          offsets.push_back(size);
          size += fastann::ops::metric_state_size(p);
        }
        const Tensor yt = on(y_true, d), yp = on(y_pred, d);
        const Tensor w = weights ? on(*weights, d) : Tensor();
        fastann::ops::StateSums sums;
        sums.reset(d, size);
        const int64_t n = yp.dim(0);
        for (int64_t s = 0, step = 0; s < n; s += batch, ++step) {
          const int64_t e = std::min(n, s + batch);
          const Tensor pr = yp.rows(s, e), yr = yt.rows(s, e), wr = w.defined() ? w.rows(s, e) : Tensor();
          sums.add_loss(lp, pr, yr, nullptr, nullptr, 1.0f, w.defined() ? &wr : nullptr, step);
          for (size_t k = 0; k < ps.size(); ++k)
            sums.add_metric(ps[k], pr, yr, w.defined() ? &wr : nullptr, offsets[k]);
        }
        std::vector<double> state(static_cast<size_t>(size), 0.0);
        const int64_t bad = sums.take(state.data());
        return py::make_tuple(state, bad);
      },
      py::arg("loss"), py::arg("metrics"), py::arg("y_true"), py::arg("y_pred"), py::arg("weights"), py::arg("batch"),
      py::arg("device"));
  m.def(
      "regularizer",
      [](float l1, float l2, const FArray& w, std::optional<FArray> g, float grad_scale, const std::string& device) {
        // (penalty, gradient after the update or None): ops::regularizer on the device.
        const Device d = Device::parse(device);
        Tensor tg = g ? on(*g, d) : Tensor();
        const double p = fastann::ops::regularizer(l1, l2, on(w, d), g ? &tg : nullptr, grad_scale);
        return py::make_tuple(p, g ? py::object(back(tg)) : py::object(py::none()));
      },
      py::arg("l1"), py::arg("l2"), py::arg("w"), py::arg("g"), py::arg("grad_scale"), py::arg("device"));
  m.def(
      "batchnorm",
      [](const FArray& x, std::optional<FArray> gamma, std::optional<FArray> beta, const FArray& dy, float eps,
         float momentum, const FArray& moving_mean, const FArray& moving_var, const std::string& device) {
        // One training step of batch normalisation on the device: forward (y, batch mean and invstd, updated moving
        // statistics), backward (dgamma, dbeta, dx), and inference with the updated moving statistics.
        const Device d = Device::parse(device);
        const Tensor tx = on(x, d), tdy = on(dy, d);
        const Tensor tg = gamma ? on(*gamma, d) : Tensor(), tb = beta ? on(*beta, d) : Tensor();
        const int64_t cols = tx.dim(1);
        Tensor mean = Tensor::empty({cols}, d), invstd = Tensor::empty({cols}, d);
        Tensor mm = on(moving_mean, d), mv = on(moving_var, d), y = Tensor::empty(tx.shape(), d);
        fastann::ops::batchnorm_forward_train(tx, gamma ? &tg : nullptr, beta ? &tb : nullptr, eps, momentum,
                                              1.0f - momentum, mean, invstd, mm, mv, y);
        Tensor dg = Tensor::empty({cols}, d), db = Tensor::empty({cols}, d), dx = Tensor::empty(tx.shape(), d);
        fastann::ops::batchnorm_backward(tx, mean, invstd, gamma ? &tg : nullptr, tdy, &dg, &db, &dx);
        Tensor yi = Tensor::empty(tx.shape(), d);
        fastann::ops::batchnorm_forward_infer(tx, gamma ? &tg : nullptr, beta ? &tb : nullptr, mm, mv, eps, yi);
        py::typing::Dict<py::str, FResult> out;
        out["y"] = back(y);
        out["mean"] = back(mean);
        out["invstd"] = back(invstd);
        out["moving_mean"] = back(mm);
        out["moving_variance"] = back(mv);
        out["dgamma"] = back(dg);
        out["dbeta"] = back(db);
        out["dx"] = back(dx);
        out["y_infer"] = back(yi);
        return out;
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("dy"), py::arg("eps"), py::arg("momentum"),
      py::arg("moving_mean"), py::arg("moving_variance"), py::arg("device"));
  m.def(
      "dropout",
      [](double rate, uint64_t seed, const FArray& x, const std::string& device) {
        const Device d = Device::parse(device);
        const Tensor tx = on(x, d);
        Tensor mask = Tensor::empty(tx.shape(), d), y = Tensor::empty(tx.shape(), d);
        fastann::ops::dropout_forward(rate, seed, tx, mask, y);
        return py::make_tuple(back(mask), back(y));
      },
      py::arg("rate"), py::arg("seed"), py::arg("x"), py::arg("device"));
  m.def(
      "optimizer_step",
      [](const py::dict& cfg, const FArray& w, const FArray& g, const FArray& s1, const FArray& s2, const FArray& s3,
         const std::string& device) {
        const Device d = Device::parse(device);
        fastann::ops::OptStep s;
        const std::string kind = cfg["kind"].cast<std::string>();
        s.kind = kind == "sgd"       ? fastann::ops::Opt::sgd
                 : kind == "adam"    ? fastann::ops::Opt::adam
                 : kind == "adamw"   ? fastann::ops::Opt::adamw
                 : kind == "rmsprop" ? fastann::ops::Opt::rmsprop
                                     : fastann::ops::Opt::adagrad;
        auto f = [&](const char* k, float& v) {
          if (cfg.contains(k)) v = cfg[k].cast<float>();
        };
        f("lr", s.lr);
        f("momentum", s.momentum);
        f("one_minus_beta_1", s.one_minus_beta_1);
        f("one_minus_beta_2", s.one_minus_beta_2);
        f("one_minus_rho", s.one_minus_rho);
        f("adam_alpha", s.adam_alpha);
        f("epsilon", s.epsilon);
        f("rho", s.rho);
        f("decay_factor", s.decay_factor);
        if (cfg.contains("nesterov")) s.nesterov = cfg["nesterov"].cast<bool>();
        if (cfg.contains("centered")) s.centered = cfg["centered"].cast<bool>();
        Tensor tw = on(w, d), t1 = on(s1, d), t2 = on(s2, d), t3 = on(s3, d);
        fastann::ops::optimizer_step(s, tw, on(g, d), t1, t2, t3);
        return py::make_tuple(back(tw), back(t1), back(t2), back(t3));
      },
      py::arg("config"), py::arg("w"), py::arg("g"), py::arg("s1"), py::arg("s2"), py::arg("s3"), py::arg("device"));

  // --- timing helpers for bench/gpu.py: operands stay on the device; returns seconds per call ---
  m.def(
      "time_gemm",
      [](int64_t mm, int64_t n, int64_t k, bool ta, bool tb, int iters, const std::string& device) {
        const Device d = Device::parse(device);
        Tensor a = ta ? Tensor::empty({k, mm}, d) : Tensor::empty({mm, k}, d);
        Tensor b = tb ? Tensor::empty({n, k}, d) : Tensor::empty({k, n}, d);
        Tensor c = Tensor::empty({mm, n}, d);
        a.fill(0.5f);
        b.fill(0.25f);
        fastann::ops::gemm(ta, tb, 1.0f, a, b, 0.0f, c);  // warm-up
        rt::backend(d).synchronize(d.index);
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i) fastann::ops::gemm(ta, tb, 1.0f, a, b, 0.0f, c);
        rt::backend(d).synchronize(d.index);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / std::max(1, iters);
      },
      py::arg("m"), py::arg("n"), py::arg("k"), py::arg("trans_a"), py::arg("trans_b"), py::arg("iters"),
      py::arg("device"));
  m.def(
      "time_matmul",
      [](int64_t batch, int64_t mm, int64_t k, int64_t n, int iters, const std::string& device) {
        const Device d = Device::parse(device);
        Tensor a = Tensor::empty({batch, mm, k}, d), b = Tensor::empty({batch, k, n}, d);
        a.fill(0.5f);
        b.fill(0.25f);
        (void)fastann::ops::matmul(a, b);
        rt::backend(d).synchronize(d.index);
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i) (void)fastann::ops::matmul(a, b);
        rt::backend(d).synchronize(d.index);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / std::max(1, iters);
      },
      py::arg("batch"), py::arg("m"), py::arg("k"), py::arg("n"), py::arg("iters"), py::arg("device"));
}
