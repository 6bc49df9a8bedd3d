// Metric configuration by Keras name, with its parameters.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace fastann {

// A metric as compile takes it: a Keras name with its parameters (Keras's defaults). Names: "accuracy"/"acc"
// (binary, categorical or sparse accuracy, resolved from the loss), "binary_accuracy", "categorical_accuracy",
// "sparse_categorical_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc",
// "precision", "recall", "mse" ("mean_squared_error"), "mae" ("mean_absolute_error"). Every metric streams: its
// value covers all the samples of the epoch (or evaluation) so far, as Keras computes it.
struct MetricConfig {
  std::string name;
  int64_t k = 5;                 // top_k_categorical_accuracy, sparse_top_k_categorical_accuracy
  int64_t num_thresholds = 200;  // auc (ROC, trapezoidal summation over evenly spaced thresholds, as Keras's AUC)
  double threshold = 0.5;        // binary_accuracy, precision, recall: a prediction above it is positive
  std::string display_name;      // the key in logs and History; empty: `name`
  MetricConfig(const char* n = "accuracy") : name(n) {}  // NOLINT: implicit from a name, like Keras strings
  MetricConfig(std::string n) : name(std::move(n)) {}    // NOLINT
};

}  // namespace fastann
