// The op interface that nn/ calls: every op of csrc/ops/<op>/. Each op checks its arguments and runs the kernel
// registered for its operands' (device, dtype) (ops/kernel_tables.hpp). Tensors are row-major; "2-D" means
// (rows, cols).
#pragma once

#include "ops/activation/activation.hpp"  // activation_forward, activation_backward
#include "ops/batchnorm/batchnorm.hpp"    // batchnorm_*
#include "ops/dropout/dropout.hpp"        // dropout_forward, multiply
#include "ops/gemm/gemm.hpp"              // gemm, matmul, gemm_plan
#include "ops/loss/loss.hpp"              // loss, StateSums, metric_update, regularizer, class_sample_weights
#include "ops/optimizer/optimizer.hpp"    // optimizer_step
#include "ops/rows/rows.hpp"              // bias_grad, gather_rows, RowIndex, first_non_finite
#include "ops/types.hpp"
