// The metrics by Keras name (compile(metrics=...), the bindings). An entry is the kind whose streaming state and
// per-row maths the loss op holds (ops/loss/), or "accuracy", which Keras resolves from the loss: adding a metric is
// its kind in ops/types.hpp, its maths in ops/loss/ and its names here (metrics.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "core/registry.hpp"
#include "fastann/metrics.hpp"
#include "ops/types.hpp"

namespace fastann::nn {

struct MetricEntry {
  ops::Metric kind = ops::Metric::binary_accuracy;
  bool from_loss = false;  // "accuracy" / "acc": binary, categorical or sparse categorical, by the loss
};

const Registry<MetricEntry>& metric_registry();

// The metric of a name with a kind of its own (not "accuracy"); false for any other name.
bool find_metric(const std::string& name, ops::Metric* kind);

// The metric a compile entry names, with its parameters checked against it and against the loss (sparse metrics need
// class-index targets, the others one-hot ones); `output_dim` resolves "accuracy" under losses that do not.
// ValueError naming the valid metrics for an unknown name.
ops::MetricParams resolve_metric(const MetricConfig& config, ops::Loss loss, int64_t output_dim);

}  // namespace fastann::nn
