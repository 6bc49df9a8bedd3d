// The loss op and what the fit loop sums with it: the losses (value and gradient in one pass), the metrics' streaming
// states, the L1/L2 penalty, class weights, and StateSums, the per-epoch sums kept where the batches are computed.
// loss.cpp checks the operands and runs the kernel registered for their (device, dtype): cpu.cpp, cuda.cu (or the
// test-only CUDA emulator). The per-row maths is formulas.hpp's, shared by both devices. A (device, dtype) with no
// kernel is an UnavailableError naming all three.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/registry.hpp"
#include "fastann/tensor.hpp"
#include "ops/types.hpp"

namespace fastann::ops {

// Sum over rows of the per-sample loss (Keras: mean over the last axis for mse/mae/huber/bce, sum over classes for
// cce/scce), accumulated in double; y_true (rows, cols) or (rows,) class indices for scce. grad (like pred) gets
// grad_scale * d(sum)/d(pred) (pred is the logits when p.from_logits); probs gets sigmoid/softmax(pred) (from_logits
// only). weights (rows,), when given, multiply each sample's loss and gradient. ValueError for a class index that is
// not an integer in [0, cols).
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

namespace loss_kernels {

// Kernels with the ops' arguments, checked, on the kernel's device: pred seen as (rows > 0, cols), y as pred or
// (rows,) class indices; grad, probs (from_logits only) and weights may be null. The *_accumulate kernels add to
// doubles in the kernel's device memory and do not wait (the CUDA backend's; the CPU sums on the host).
using LossFn = double (*)(const LossParams& p, const Tensor& pred, const Tensor& y, Tensor* grad, Tensor* probs,
                          float grad_scale, const Tensor* weights, int64_t rows, int64_t cols);
// loss without its value: the batch's total is added to *sum and, when not finite and *first_bad < 0,
// *first_bad = step. Sparse labels are not checked (the caller has).
using LossAccumulate = void (*)(const LossParams& p, const Tensor& pred, const Tensor& y, Tensor* grad, Tensor* probs,
                                float grad_scale, const Tensor* weights, int64_t rows, int64_t cols, double* sum,
                                double* first_bad, int64_t step);
using RegularizerFn = double (*)(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale);
// *acc += factor * (l1 * sum|w| + l2 * sum w^2); g as regularizer's.
using RegularizerAccumulate = void (*)(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale, double* acc,
                                       double factor);
// Adds a batch to the metric state at `state` (the kernel's device memory): on the CPU any metric, on CUDA the
// sample-mean metrics (acc[0] += sum of w * value, acc[1] += sum of w).
using MetricFn = void (*)(const MetricParams& p, const Tensor& pred, const Tensor& y, const Tensor* weights,
                          int64_t rows, int64_t cols, double* state);
using ClassWeights = void (*)(const Tensor& y, int64_t rows, int64_t cols, const float* cw, int64_t ncw, Tensor& w);

struct Tables {
  KernelTable<LossFn> loss{"loss"};
  KernelTable<LossAccumulate> loss_accumulate{"loss (accumulated on the device)"};
  KernelTable<RegularizerFn> regularizer{"regularizer"};
  KernelTable<RegularizerAccumulate> regularizer_accumulate{"regularizer (accumulated on the device)"};
  KernelTable<MetricFn> metric{"metric"};
  KernelTable<ClassWeights> class_weights{"class_weight"};
};

// The registrations (ops/kernel_tables.hpp): cpu.cpp; cuda.cu (or the test-only CUDA emulator).
void register_cpu(Tables& t);
void register_cuda(Tables& t);

// The CPU kernels on raw float32 buffers (single-threaded; the emulator runs them on the host), with the semantics
// of the ops above.
double cpu_loss(const LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols, float* grad,
                float* probs, float grad_scale, const float* weights);
void cpu_class_sample_weights(const float* y, int64_t rows, int64_t cols, const float* cw, int64_t ncw, float* w);
void cpu_metric_update(const MetricParams& p, const float* pred, const float* y, const float* weights, int64_t rows,
                       int64_t cols, double* state);
double cpu_regularizer(float l1, float l2, const float* w, float* g, float grad_scale, int64_t n);

}  // namespace loss_kernels

}  // namespace fastann::ops
