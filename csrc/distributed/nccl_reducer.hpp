// The NCCL gradient reducer, for GPUs: the GradientReducer interface over ncclAllReduce. Built only where CMake
// finds NCCL and the CUDA toolkit (target fastann_nccl); it is not built or tested on machines without them.
//
// The caller creates the NCCL communicator (ncclCommInitRank, the ncclUniqueId usually sent from rank 0 to the
// others over MPI) and keeps it alive as long as the reducer. Gradients in device memory are reduced in place on
// `stream`; gradients in host memory (fastann's CPU build) are staged through a device buffer that grows to the
// largest size seen, so the steady state allocates nothing. Like MpiReducer, every wait is bounded: a collective
// that does not finish within `timeout_s` (or an asynchronous NCCL error) aborts the communicator
// (ncclCommAbort) and throws DistributedError naming the rank.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>

#include "fastann/distributed.hpp"
#include "fastann/error.hpp"

namespace fastann {

class NcclReducer final : public GradientReducer {
 public:
  NcclReducer(ncclComm_t comm, cudaStream_t stream, double timeout_s);
  ~NcclReducer() override;
  NcclReducer(const NcclReducer&) = delete;
  NcclReducer& operator=(const NcclReducer&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool failed() const { return failed_; }

  // In place: the mean (ncclAvg) over all ranks.
  void reduce(float* grads, int64_t n) override;
  // In place: the sum (ncclSum, float64) over all ranks.
  void reduce_sums(double* values, int64_t n) override;
  // Device gradients are reduced in place (host ones are staged through a device buffer).
  bool accepts_device_memory() const override { return true; }

 private:
  void allreduce(void* data, int64_t n, ncclDataType_t type, int64_t elem_size, ncclRedOp_t op, const char* what);
  void wait(const char* what);
  void* staging(int64_t bytes);
  [[noreturn]] void fail(const char* what, const char* why);

  ncclComm_t comm_;
  cudaStream_t stream_;
  double timeout_s_;
  int rank_ = 0, size_ = 1;
  bool failed_ = false;
  void* dev_ = nullptr;  // staging buffer for host memory
  int64_t dev_bytes_ = 0;
};

}  // namespace fastann
