// What fit and evaluate take and report: options, logs, History and the callback hooks.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fastann/export.hpp"
#include "fastann/tensor.hpp"

namespace fastann {

// Ordered name -> value pairs, as Keras's `logs` dict: loss, metrics, then val_loss, val_metrics.
using Logs = std::vector<std::pair<std::string, double>>;

struct FASTANN_API History {
  std::vector<int64_t> epoch;
  std::vector<std::pair<std::string, std::vector<double>>> history;
  const std::vector<double>& operator[](const std::string& key) const;  // throws ValueError when absent
};

struct FitOptions {
  int64_t batch_size = 32;
  // 64-bit, so that Keras's "train until EarlyStopping says stop" idiom, epochs=sys.maxsize, is representable.
  int64_t epochs = 1;
  int64_t initial_epoch = 0;
  bool shuffle = true;
  std::optional<uint64_t> seed;       // shuffling seed; unset: drawn from the global generator
  double validation_split = 0.0;      // the last fraction of x/y (before shuffling) is held out, as Keras does
  Tensor validation_x, validation_y;  // explicit validation data (overrides validation_split)
  // Data-parallel fit (fastann/distributed.hpp): this worker's index and the number of workers. Each global batch of
  // batch_size * shard_count rows of the (shared) shuffled order is split so that worker r trains on rows
  // [r*batch_size, (r+1)*batch_size) of it. shard_count > 1 needs a gradient reducer (set_gradient_reducer).
  int64_t shard_index = 0;
  int64_t shard_count = 1;
  // Per-sample weights (n,) of x/y, >= 0; undefined: 1 each. validation_split holds out their tail with the data.
  // A sample's loss and gradient are multiplied by its weight; the loss of a batch is sum(w * loss) / batch size,
  // as Keras 3 ("sum_over_batch_size"), and so the epoch's loss is sum(w * loss) / samples.
  Tensor sample_weight;
  // Weights by class index (>= 0): a training sample's weight is class_weight[label], where label is the argmax of a
  // one-hot y row, the class index (sparse targets) or the rounded value (one output column); labels past the end
  // weigh 1. Empty: none. Not together with sample_weight (as Keras 3). Validation data is not class-weighted.
  std::vector<float> class_weight;
  Tensor validation_sample_weight;  // (n_val,) weights of validation_x/validation_y; undefined: 1 each
};

// What a batch-level hook asks of fit (or evaluate) next.
enum class FitSignal {
  proceed,  // carry on
  stop,     // end this epoch after the current batch, as Keras does when a batch hook sets model.stop_training:
            // the epoch's logs cover the batches done, validation runs, on_epoch_end is called, then fit returns
  abort,    // return now without on_epoch_end (an error or Ctrl-C): the weights are those of the last finished step
};

// Live progress: called after the first batch, then at most every `interval_ms`, and after the last batch, with the
// number of batches done so far (1-based) and the running means of the metrics and the loss over those batches.
// `running` is one object reused for every call (fit allocates nothing per batch for it).
using ProgressHook = std::function<FitSignal(int64_t step, const Logs& running)>;

// Called by fit; every hook may be empty. Returning true from on_epoch_end or should_stop ends training after the
// current epoch / batch (the weights are those of the last finished step).
struct FitCallbacks {
  std::function<void(int64_t epoch)> on_epoch_begin;
  std::function<bool(int64_t epoch, const Logs& logs)> on_epoch_end;
  // Polled between batches, at most every `poll_interval_ms` (e.g. to check for Ctrl-C).
  std::function<bool()> should_stop;
  int poll_interval_ms = 50;
  // Progress of the training batches of each epoch (see ProgressHook); keys and order as on_epoch_end's training
  // entries (metrics, then "loss"). The rate bound keeps its cost negligible however small the batches are.
  ProgressHook on_progress;
  int progress_interval_ms = 50;
  // Per-batch hooks: a call for every batch, so leave them empty unless they are needed. `batch` counts from 0 in
  // each epoch; `running` is as on_progress's (the running means of the epoch so far, as Keras 3 passes them).
  std::function<FitSignal(int64_t batch)> on_train_batch_begin;
  std::function<FitSignal(int64_t batch, const Logs& running)> on_train_batch_end;
  // Called once per epoch, after the first batch whose loss is NaN or infinite (fit checks this itself after every
  // batch at no cost), e.g. to stop training as Keras's TerminateOnNaN does. `batch` names that batch. On a CUDA
  // device the loss stays on the GPU between reads (no round trip per batch), so the call may come up to 31 batches
  // later (sooner with per-batch hooks or progress, which read the loss).
  std::function<FitSignal(int64_t batch, const Logs& running)> on_nonfinite_loss;
};

// Called by predict: should_stop is polled between chunks of rows, at most every `poll_interval_ms`; returning true
// ends predict with fastann::Interrupted. With a hook, chunks are kept short (a few milliseconds of work each), so
// the answer comes within about poll_interval_ms.
struct PredictCallbacks {
  std::function<bool()> should_stop;
  int poll_interval_ms = 50;
};

// Called by evaluate; empty hooks cost nothing. should_stop, polled as in fit, returning true makes evaluate return
// the means over the batches done so far.
struct EvaluateCallbacks {
  ProgressHook on_progress;  // running means over the batches done: metrics, then "loss" (as fit's)
  int progress_interval_ms = 50;
  std::function<bool()> should_stop;
  int poll_interval_ms = 50;
};

}  // namespace fastann
