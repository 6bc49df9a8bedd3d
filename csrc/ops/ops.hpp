// The op interface that nn/ calls. Each op checks its arguments and routes to the backend of the tensors' device
// (CPU today; CUDA joins behind the same calls). Tensors are row-major; "2-D" means (rows, cols).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fastann/tensor.hpp"
#include "ops/activation/activation.hpp"  // activation_forward, activation_backward
#include "ops/batchnorm/batchnorm.hpp"    // batchnorm_*
#include "ops/dropout/dropout.hpp"        // dropout_forward, multiply
#include "ops/optimizer/optimizer.hpp"    // optimizer_step
#include "ops/rows/rows.hpp"              // bias_grad, gather_rows, RowIndex, first_non_finite
#include "ops/types.hpp"

namespace fastann::ops {

// c = alpha * op(a) @ op(b) + beta * c, then c += bias (per column) and c = act(c) when given (fused epilogue).
// a, b, c 2-D; op(x) = x^T when the trans flag is set.
void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta, Tensor& c,
          const Tensor* bias = nullptr, const ActParams* act = nullptr);
// Test hook: the kernel gemm() runs on the CUDA device `device` for these sizes and into how many k slices it splits
// the product (*splits), as the CUDA backend's gemm_plan; ValueError for a device that is not CUDA.
std::string gemm_plan(Device device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t* splits);

// NumPy matmul semantics: 1-D operands are promoted (and the added axis removed), leading batch dimensions
// broadcast. Throws ValueError on mismatched shapes.
Tensor matmul(const Tensor& a, const Tensor& b);

// Sum over rows of the per-sample loss (see cpu::loss); y_true (rows, cols) or (rows,) class indices for scce.
// grad (like pred) gets grad_scale * d(sum)/d(pred); probs gets sigmoid/softmax(pred) (from_logits only).
// weights (rows,), when given, multiply each sample's loss and gradient.
double loss(const LossParams& p, const Tensor& pred, const Tensor& y_true, Tensor* grad, Tensor* probs,
            float grad_scale, const Tensor* weights = nullptr);
// The sums of a streaming state (the loss, metric counts: the layout the caller gives each metric) kept where the
// batches are computed. On a CUDA device the loss and the sample-mean metrics (metric_is_sample_mean) add up in
// device memory: adding a batch queues work and returns, with no host round trip per batch; other metrics go
// through host copies. take() brings the sums to the host. On the CPU everything is summed on the host.
class StateSums {
 public:
  void reset(Device device, int64_t size);  // `size` sums, all 0, for batches on `device`
  // loss(...) of one batch, added to sum 0; `step` names the batch if its loss is not finite. Sparse labels are
  // assumed valid (checked by the caller).
  void add_loss(const LossParams& p, const Tensor& pred, const Tensor& y_true, Tensor* grad, Tensor* probs,
                float grad_scale, const Tensor* weights, int64_t step);
  // factor * regularizer(l1, l2, w, g, grad_scale) added to sum 0 (g, when given, gets the penalty's gradient).
  void add_regularizer(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale, double factor);
  // metric_update(...) of one batch into sums [offset, offset + metric_state_size(p)).
  void add_metric(const MetricParams& p, const Tensor& pred, const Tensor& y_true, const Tensor* weights,
                  int64_t offset);
  // Adds the sums since the last take into state[0 .. size) and restarts them at 0; returns the first step since
  // then whose loss was not finite, or -1. Waits for the queued batches.
  int64_t take(double* state);

 private:
  Device device_;
  int64_t size_ = 0;
  std::shared_ptr<void> acc_;   // CUDA: size_ sums then the first non-finite step (or -1), doubles in device memory
  std::vector<double> host_;    // the sums computed on the host
  std::vector<double> staged_;  // take's copy of acc_; then its reset value
  int64_t first_bad_ = -1;
};

// Per-sample weights from class weights: w[i] = class_weight[label of row i] (1 past the end), where the label is
// the argmax of a row of y_true (rows, cols > 1) or its value rounded half to even (cols == 1), as Keras 3.
void class_sample_weights(const Tensor& y_true, const std::vector<float>& class_weight, Tensor& w);
// Adds a batch to a metric's streaming state (metric_state_size(p) doubles; read it with metric_result).
// weights (rows,), when given, weight each sample.
void metric_update(const MetricParams& p, const Tensor& pred, const Tensor& y_true, const Tensor* weights,
                   double* state);

// Keras's L1/L2 penalty of w: returns l1 * sum|w| + l2 * sum w^2 (accumulated in double); when g is given, adds
// grad_scale * (l1 * sign(w) + 2 * l2 * w) to it (sign(0) = 0).
double regularizer(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale);

}  // namespace fastann::ops
