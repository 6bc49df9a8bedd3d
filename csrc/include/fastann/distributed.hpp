// Data-parallel training: a hook that fit calls in every training step, between the backward pass and the optimizer
// update, with the whole gradient of the model (one contiguous float buffer, so one collective per step).
//
//   auto reducer = std::make_shared<MyAllreduce>(...);   // e.g. fastann's MPI reducer (fastann.distributed in Python)
//   model.set_gradient_reducer(reducer);
//   fastann::FitOptions o;
//   o.shard_index = rank;                                 // this worker's share of every global batch
//   o.shard_count = world_size;
//   model.fit(x, y, o);                                   // every worker passes the same x, y and seed
//
// With shard_count = R and batch_size = B, every epoch's shuffled order (the same on every worker: same seed) is cut
// into global batches of R*B rows; worker r takes rows [r*B, (r+1)*B) of each. The last global batch may be shorter
// (G < R*B rows): worker r then takes rows [min(r*B, G), min((r+1)*B, G)), which may be none. Each worker scales its
// loss gradient by R/G instead of 1/(its rows), so the mean the reducer computes is the gradient of the mean loss
// over the G rows: every step equals a single-process step on the global batch (batch_size R*B), up to float
// rounding. A worker with no rows in the last batch contributes zeros (and still takes part in the collective).
//
// Without a reducer (the default) fit calls nothing: no cost when unused.
#pragma once

#include <cstdint>

#include "fastann/error.hpp"
#include "fastann/export.hpp"

namespace fastann {

// A collective of a distributed fit failed or did not complete in time, e.g. because another worker died
// (Python: RuntimeError). Thrown by fastann's reducers (MPI, NCCL).
class FASTANN_API DistributedError : public Error {
 public:
  using Error::Error;
};

class FASTANN_API GradientReducer {
 public:
  virtual ~GradientReducer() = default;

  // Replaces grads[0, n) -- every gradient of the model, in the flat layout of its parameters -- by their mean over
  // all workers, in place. Called once per training step on every worker, in the same order everywhere; an
  // implementation throws (e.g. fastann::Error) when the reduction cannot complete, which ends fit with that error.
  virtual void reduce(float* grads, int64_t n) = 0;

  // Sums values[0, n) over all workers, in place. fit calls it once per epoch with the epoch's loss and metric sums
  // and its sample count, so every worker reports the global means (History, callbacks, the progress bar's final
  // line). Default: nothing (one worker).
  virtual void reduce_sums(double* values, int64_t n) {
    (void)values;
    (void)n;
  }

  // Called during the backward pass of every step (before reduce) once grads[begin, end) -- the gradients of the
  // model's last layer with parameters, the tail of the buffer -- are final, while earlier layers are still being
  // differentiated: a reducer may start reducing that range in the background and finish it in reduce(), which
  // must still leave all of grads[0, n) averaged. Default: nothing (reduce() does all the work).
  virtual void gradients_ready(float* grads, int64_t begin, int64_t end) {
    (void)grads;
    (void)begin;
    (void)end;
  }

  // True when reduce() takes pointers to CUDA device memory (NCCL). A model on a CUDA device then passes its device
  // gradients (after draining its stream); otherwise it passes a host copy and never calls gradients_ready.
  virtual bool accepts_device_memory() const { return false; }
};

}  // namespace fastann
