// CPU element-wise, reduction, loss, metric and optimizer kernels on raw row-major float32 buffers.
// Shapes: "rows x cols" buffers are contiguous with row stride cols unless a stride is given.
#pragma once

#include <cstdint>

#include "ops/types.hpp"

namespace fastann::cpu {

// Loss of predictions pred (rows, cols) against targets y ((rows, cols), or (rows,) class indices for scce).
// Returns the sum over rows of the per-sample loss (Keras: mean over the last axis for mse/mae/huber/bce, sum
// over classes for cce/scce), accumulated in double; with weights (rows,), the sum of weight * per-sample loss.
// When grad is given, writes grad_scale * d(sum)/d(pred) (pred is the logits when p.from_logits). When probs is
// given (from_logits only), writes sigmoid/softmax(pred). Throws ValueError for a class index that is not an
// integer in [0, cols).
double loss(const ops::LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols, float* grad,
            float* probs, float grad_scale, const float* weights);

// w[i] = cw[label(row i)] for labels in [0, ncw), else 1: label = argmax of the row (cols > 1) or the value
// rounded half to even (cols == 1).
void class_sample_weights(const float* y, int64_t rows, int64_t cols, const float* cw, int64_t ncw, float* w);

// Adds a batch to a metric's streaming state (ops::metric_state_size(p) doubles): pred (rows, cols), y as pred or
// (rows,) class indices for the sparse metrics, weights (rows,) per-sample weights or null (all 1).
void metric_update(const ops::MetricParams& p, const float* pred, const float* y, const float* weights, int64_t rows,
                   int64_t cols, double* state);

// l1 * sum|w| + l2 * sum w^2 over n elements (double); g += grad_scale * (l1 sign(w) + 2 l2 w) when g is non-null.
double regularizer(float l1, float l2, const float* w, float* g, float grad_scale, int64_t n);

}  // namespace fastann::cpu
