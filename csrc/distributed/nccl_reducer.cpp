// NcclReducer: see nccl_reducer.hpp. Compiled only where NCCL and CUDA exist (untested on CPU-only machines).
#include "distributed/nccl_reducer.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <string>
#include <thread>

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 10, 0)
#error "fastann's NCCL reducer needs NCCL >= 2.10 (ncclAvg)"
#endif

namespace fastann {

NcclReducer::NcclReducer(ncclComm_t comm, cudaStream_t stream, double timeout_s)
    : comm_(comm), stream_(stream), timeout_s_(timeout_s) {
  if (comm == nullptr) throw ValueError("NcclReducer: the NCCL communicator is null");
  if (!(timeout_s > 0.0)) throw ValueError("NcclReducer: timeout must be > 0 seconds");
  if (ncclCommUserRank(comm_, &rank_) != ncclSuccess || ncclCommCount(comm_, &size_) != ncclSuccess) {
    throw DistributedError("NcclReducer: the NCCL communicator is not usable");
  }
}

NcclReducer::~NcclReducer() {
  if (dev_ != nullptr) cudaFree(dev_);
}

void NcclReducer::fail(const char* what, const char* why) {
  failed_ = true;
  ncclCommAbort(comm_);
  throw DistributedError(std::string("fastann.distributed: ") + what + " on rank " + std::to_string(rank_) + " of " +
                         std::to_string(size_) + " failed: " + why + " (has another rank died?)");
}

void* NcclReducer::staging(int64_t bytes) {
  if (bytes > dev_bytes_) {
    if (dev_ != nullptr) cudaFree(dev_);
    dev_ = nullptr;
    dev_bytes_ = 0;
    if (cudaMalloc(&dev_, static_cast<size_t>(bytes)) != cudaSuccess) {
      throw OutOfMemoryError("NcclReducer: cannot allocate " + std::to_string(bytes) + " bytes of device memory");
    }
    dev_bytes_ = bytes;
  }
  return dev_;
}

void NcclReducer::wait(const char* what) {
  using clock = std::chrono::steady_clock;
  const auto deadline =
      clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(timeout_s_));
  for (;;) {
    const cudaError_t q = cudaStreamQuery(stream_);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) fail(what, cudaGetErrorString(q));
    ncclResult_t async = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &async) != ncclSuccess || async != ncclSuccess) {
      fail(what, ncclGetErrorString(async));
    }
    if (clock::now() > deadline) fail(what, ("did not complete within " + std::to_string(timeout_s_) + " s").c_str());
    std::this_thread::yield();
  }
}

void NcclReducer::allreduce(void* data, int64_t n, ncclDataType_t type, int64_t elem_size, ncclRedOp_t op,
                            const char* what) {
  if (failed_) throw DistributedError(std::string("fastann.distributed: ") + what + ": an earlier collective failed");
  if (size_ == 1 || n == 0) return;
  cudaPointerAttributes attr{};
  const bool on_device = cudaPointerGetAttributes(&attr, data) == cudaSuccess && attr.type == cudaMemoryTypeDevice;
  cudaGetLastError();  // a host pointer may leave an error behind on old runtimes
  const int64_t bytes = n * elem_size;
  void* buf = on_device ? data : staging(bytes);
  if (!on_device &&
      cudaMemcpyAsync(buf, data, static_cast<size_t>(bytes), cudaMemcpyHostToDevice, stream_) != cudaSuccess) {
    fail(what, "cudaMemcpyAsync to the device");
  }
  const ncclResult_t rc = ncclAllReduce(buf, buf, static_cast<size_t>(n), type, op, comm_, stream_);
  if (rc != ncclSuccess) fail(what, ncclGetErrorString(rc));
  if (!on_device &&
      cudaMemcpyAsync(data, buf, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost, stream_) != cudaSuccess) {
    fail(what, "cudaMemcpyAsync to the host");
  }
  wait(what);
}

void NcclReducer::reduce(float* grads, int64_t n) {
  allreduce(grads, n, ncclFloat32, sizeof(float), ncclAvg, "ncclAllReduce of the gradients");
}

void NcclReducer::reduce_sums(double* values, int64_t n) {
  allreduce(values, n, ncclFloat64, sizeof(double), ncclSum, "ncclAllReduce of the epoch's sums");
}

}  // namespace fastann
