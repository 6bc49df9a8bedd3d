// fastann._core's ops on NumPy arrays (matmul, gemm, activations, losses, metrics, layer kernels), for the tests
// against NumPy references: float32 in, float32 out, the GIL released around the long ones.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings/bind.hpp"
#include "bindings/numpy.hpp"
#include "fastann/fastann.hpp"
#include "nn/losses.hpp"
#include "nn/metrics.hpp"
#include "ops/ops.hpp"

using fastann::Tensor;
using fastann::bindings::as_tensor;
using fastann::bindings::FArray;
using fastann::bindings::to_numpy_f32;

namespace {

fastann::ops::ActParams act_params(const std::string& name, std::optional<double> alpha) {
  return fastann::ops::parse_activation(name, alpha ? *alpha : std::numeric_limits<double>::quiet_NaN());
}

}  // namespace

void bind_ops(py::module_& mod) {
  // --- ops ---------------------------------------------------------------------------------------------------
  mod.def(
      "matmul",
      [](const FArray& a, const FArray& b) {
        const Tensor ta = as_tensor(a), tb = as_tensor(b);
        Tensor c;
        {
          py::gil_scoped_release release;
          c = fastann::ops::matmul(ta, tb);
        }
        return to_numpy_f32(std::move(c));
      },
      py::arg("a"), py::arg("b"), "a @ b with NumPy matmul semantics (float32 C-contiguous operands).");

  mod.def(
      "gemm",
      [](const FArray& a, const FArray& b, bool trans_a, bool trans_b, float alpha, float beta, std::optional<FArray> c,
         std::optional<FArray> bias, const std::string& activation, std::optional<double> act_alpha) {
        if (a.ndim() != 2 || b.ndim() != 2) throw fastann::ValueError("gemm: a and b must be 2-D");
        const int64_t m = trans_a ? a.shape(1) : a.shape(0), n = trans_b ? b.shape(0) : b.shape(1);
        Tensor out = Tensor::empty({m, n});
        if (c) {
          if (c->ndim() != 2 || c->shape(0) != m || c->shape(1) != n) {
            throw fastann::ValueError("gemm: c must have shape (" + std::to_string(m) + ", " + std::to_string(n) + ")");
          }
          out.copy_from(as_tensor(*c));
        } else if (beta != 0.0f) {
          throw fastann::ValueError("gemm: beta != 0 needs c");
        }
        const Tensor ta = as_tensor(a), tb = as_tensor(b);
        const Tensor tbias = bias ? as_tensor(*bias) : Tensor();
        const fastann::ops::ActParams act = act_params(activation, act_alpha);
        {
          py::gil_scoped_release release;
          fastann::ops::gemm(trans_a, trans_b, alpha, ta, tb, beta, out, bias ? &tbias : nullptr, &act);
        }
        return to_numpy_f32(std::move(out));
      },
      py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0f,
      py::arg("beta") = 0.0f, py::arg("c") = py::none(), py::arg("bias") = py::none(), py::arg("activation") = "linear",
      py::arg("activation_alpha") = py::none(),
      "alpha * op(a) @ op(b) + beta * c, then + bias and the activation (fused epilogue); 2-D operands.");

  mod.def(
      "activation",
      [](const std::string& name, const FArray& x, std::optional<double> alpha) {
        const auto p = act_params(name, alpha);
        const Tensor tx = as_tensor(x);
        Tensor y = Tensor::empty(tx.shape());
        {
          py::gil_scoped_release release;
          fastann::ops::activation_forward(p, tx, y);
        }
        return to_numpy_f32(std::move(y));
      },
      py::arg("name"), py::arg("x"), py::arg("alpha") = py::none(), "The named activation of x (softmax: last axis).");

  mod.def(
      "activation_grad",
      [](const std::string& name, const FArray& x, const FArray& dy, std::optional<double> alpha) {
        const auto p = act_params(name, alpha);
        const Tensor tx = as_tensor(x), tdy = as_tensor(dy);
        if (tx.shape() != tdy.shape()) throw fastann::ValueError("activation_grad: x and dy must have the same shape");
        Tensor y = Tensor::empty(tx.shape()), dx = Tensor::empty(tx.shape());
        {
          py::gil_scoped_release release;
          fastann::ops::activation_forward(p, tx, y);
          fastann::ops::activation_backward(p, tx, y, tdy, dx);
        }
        return to_numpy_f32(std::move(dx));
      },
      py::arg("name"), py::arg("x"), py::arg("dy"), py::arg("alpha") = py::none(),
      "dy * activation'(x) (softmax: the row-wise vector-Jacobian product).");

  mod.def(
      "loss",
      [](const std::string& name, const FArray& y_true, const FArray& y_pred, bool from_logits, double delta,
         std::optional<FArray> sample_weight) {
        fastann::ops::LossParams p;
        p.kind = fastann::nn::resolve_loss(fastann::LossConfig(name)).kind;
        p.from_logits = from_logits;
        p.delta = static_cast<float>(delta);
        const Tensor yt = as_tensor(y_true), yp = as_tensor(y_pred);
        if (yp.ndim() < 1 || yp.numel() == 0) throw fastann::ValueError(name + ": y_pred is empty");
        const int64_t rows = yp.numel() / yp.dim(-1);
        Tensor grad = Tensor::empty(yp.shape());
        const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
        double sum;
        {
          py::gil_scoped_release release;
          sum = fastann::ops::loss(p, yp, yt, &grad, nullptr, 1.0f / static_cast<float>(rows),
                                   sample_weight ? &tw : nullptr);
        }
        return py::make_tuple(sum / static_cast<double>(rows), to_numpy_f32(std::move(grad)));
      },
      py::arg("name"), py::arg("y_true"), py::arg("y_pred"), py::arg("from_logits") = false, py::arg("delta") = 1.0,
      py::arg("sample_weight") = py::none(),
      "(batch-mean loss, gradient with respect to y_pred); with sample weights sum(w * loss) / rows, as Keras 3.");

  mod.def(
      "loss_names", [] { return fastann::nn::loss_registry().names(); },
      "The loss names compile() accepts (Keras names and aliases), from the C++ registry.");
  mod.def(
      "metric_names", [] { return fastann::nn::metric_registry().names(); },
      "The metric names compile() accepts (Keras names and aliases), from the C++ registry.");

  mod.def(
      "metric",
      [](const std::string& name, const FArray& y_true, const FArray& y_pred, std::optional<FArray> sample_weight,
         int64_t k, int64_t num_thresholds, double threshold) {
        fastann::ops::MetricParams p;
        if (!fastann::nn::find_metric(name, &p.kind)) {
          throw fastann::ValueError("unknown metric '" + name +
                                    "'; valid metrics: " + fastann::nn::metric_registry().names_list());
        }
        if (k < 1) throw fastann::ValueError(name + ": k must be a positive integer, got " + std::to_string(k));
        if (num_thresholds < 2 || num_thresholds > 1000000) {
          throw fastann::ValueError(name + ": num_thresholds must be in [2, 1000000], got " +
                                    std::to_string(num_thresholds));
        }
        p.k = k;
        p.num_thresholds = num_thresholds;
        p.threshold = static_cast<float>(threshold);
        const Tensor yt = as_tensor(y_true), yp = as_tensor(y_pred);
        const Tensor tw = sample_weight ? as_tensor(*sample_weight) : Tensor();
        if (yp.ndim() < 1 || yp.numel() == 0) throw fastann::ValueError(name + ": y_pred is empty");
        std::vector<double> state(static_cast<size_t>(fastann::ops::metric_state_size(p)), 0.0);
        fastann::ops::metric_update(p, yp, yt, sample_weight ? &tw : nullptr, state.data());
        return fastann::ops::metric_result(p, state.data());
      },
      py::arg("name"), py::arg("y_true"), py::arg("y_pred"), py::arg("sample_weight") = py::none(), py::arg("k") = 5,
      py::arg("num_thresholds") = 200, py::arg("threshold") = 0.5,
      "The named metric of one batch (as compile's metrics compute it over an epoch).");

  // Layer kernels, for tests against NumPy references (the layers call the same ops).
  mod.def(
      "dropout",
      [](const FArray& x, double rate, uint64_t seed) {
        const Tensor tx = as_tensor(x);
        Tensor y = Tensor::empty(tx.shape()), mask = Tensor::empty(tx.shape());
        fastann::ops::dropout_forward(rate, seed, tx, mask, y);
        return py::make_tuple(to_numpy_f32(std::move(y)), to_numpy_f32(std::move(mask)));
      },
      py::arg("x"), py::arg("rate"), py::arg("seed"), "(y, mask) of inverted dropout; y = x * mask.");
  mod.def(
      "batchnorm_train",
      [](const FArray& x, std::optional<FArray> gamma, std::optional<FArray> beta, float epsilon, double momentum,
         const FArray& moving_mean, const FArray& moving_variance) {
        const Tensor tx = as_tensor(x);
        if (tx.ndim() != 2) throw fastann::ValueError("batchnorm_train: x must be 2-D");
        const Tensor tg = gamma ? as_tensor(*gamma) : Tensor(), tb = beta ? as_tensor(*beta) : Tensor();
        Tensor y = Tensor::empty(tx.shape()), mean = Tensor::empty({tx.dim(1)}), invstd = Tensor::empty({tx.dim(1)});
        Tensor mm = as_tensor(moving_mean).clone(), mv = as_tensor(moving_variance).clone();
        fastann::ops::batchnorm_forward_train(tx, gamma ? &tg : nullptr, beta ? &tb : nullptr, epsilon,
                                              static_cast<float>(momentum), static_cast<float>(1.0 - momentum), mean,
                                              invstd, mm, mv, y);
        return py::make_tuple(to_numpy_f32(std::move(y)), to_numpy_f32(std::move(mean)),
                              to_numpy_f32(std::move(invstd)), to_numpy_f32(std::move(mm)),
                              to_numpy_f32(std::move(mv)));
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("epsilon"), py::arg("momentum"), py::arg("moving_mean"),
      py::arg("moving_variance"),
      "Training-mode batch norm: (y, batch mean, invstd, new moving_mean, new moving_variance).");
  mod.def(
      "batchnorm_infer",
      [](const FArray& x, std::optional<FArray> gamma, std::optional<FArray> beta, const FArray& mean,
         const FArray& variance, float epsilon) {
        const Tensor tx = as_tensor(x);
        if (tx.ndim() != 2) throw fastann::ValueError("batchnorm_infer: x must be 2-D");
        const Tensor tg = gamma ? as_tensor(*gamma) : Tensor(), tb = beta ? as_tensor(*beta) : Tensor();
        Tensor y = Tensor::empty(tx.shape());
        fastann::ops::batchnorm_forward_infer(tx, gamma ? &tg : nullptr, beta ? &tb : nullptr, as_tensor(mean),
                                              as_tensor(variance), epsilon, y);
        return to_numpy_f32(std::move(y));
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("mean"), py::arg("variance"), py::arg("epsilon"));
  mod.def(
      "batchnorm_backward",
      [](const FArray& x, const FArray& mean, const FArray& invstd, std::optional<FArray> gamma, const FArray& dy) {
        const Tensor tx = as_tensor(x);
        if (tx.ndim() != 2) throw fastann::ValueError("batchnorm_backward: x must be 2-D");
        const Tensor tg = gamma ? as_tensor(*gamma) : Tensor();
        Tensor dx = Tensor::empty(tx.shape()), dgamma = Tensor::empty({tx.dim(1)}), dbeta = Tensor::empty({tx.dim(1)});
        fastann::ops::batchnorm_backward(tx, as_tensor(mean), as_tensor(invstd), gamma ? &tg : nullptr, as_tensor(dy),
                                         &dgamma, &dbeta, &dx);
        return py::make_tuple(to_numpy_f32(std::move(dx)), to_numpy_f32(std::move(dgamma)),
                              to_numpy_f32(std::move(dbeta)));
      },
      py::arg("x"), py::arg("mean"), py::arg("invstd"), py::arg("gamma"), py::arg("dy"), "(dx, dgamma, dbeta).");
  mod.def(
      "regularizer",
      [](float l1, float l2, const FArray& w, float grad_scale) {
        const Tensor tw = as_tensor(w);
        Tensor g(tw.shape());
        const double penalty = fastann::ops::regularizer(l1, l2, tw, &g, grad_scale);
        return py::make_tuple(penalty, to_numpy_f32(std::move(g)));
      },
      py::arg("l1"), py::arg("l2"), py::arg("w"), py::arg("grad_scale") = 1.0f,
      "(l1 * sum|w| + l2 * sum w^2, grad_scale * its gradient).");
}
