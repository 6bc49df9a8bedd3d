// CUDA runtime glue: errors with call sites, device queries (a missing driver or GPU is "0 devices", never an
// error), the device guard, copies, the TF32 switch, and the runtime::Backend registered for DeviceType::CUDA.
#include <cuda_runtime_api.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <string>

#include "backends/cuda/backend.hpp"
#include "backends/cuda/device_check.hpp"
#include "backends/cuda/functions_backend.hpp"
#include "backends/cuda/internal.hpp"
#include "runtime/plugins.hpp"

namespace fastann::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::ostringstream os;
  os << "CUDA error " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ") in " << call << " at " << file
     << ":" << line;
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // not sticky: clear it so later calls work
    throw OutOfMemoryError("out of GPU memory: " + os.str());
  }
  throw CudaError(os.str());
}

namespace {

struct DeviceInfo {
  int count = 0;
  std::string why_none;  // why count is 0
};

const DeviceInfo& device_info() {
  static const DeviceInfo info = [] {
    DeviceInfo d;
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      // No driver (cudaErrorInsufficientDriver), no GPU (cudaErrorNoDevice), ...: no usable device.
      (void)cudaGetLastError();
      d.why_none = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
      n = 0;
    } else if (n == 0) {
      d.why_none = "no CUDA device found";
    }
    d.count = n;
    return d;
  }();
  return info;
}

std::atomic<bool> g_allow_tf32{false};

}  // namespace

int device_count() { return device_info().count; }

void require_device(int device) {
  const DeviceInfo& d = device_info();
  require_device_index(device, d.count, d.why_none);
}

std::string device_name(int device) {
  require_device(device);
  cudaDeviceProp prop{};
  FASTANN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

void set_allow_tf32(bool enabled) { g_allow_tf32.store(enabled, std::memory_order_relaxed); }
bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

DeviceGuard::DeviceGuard(int device) : device_(device) {
  FASTANN_CUDA_CHECK(cudaGetDevice(&prev_));
  if (prev_ != device_) FASTANN_CUDA_CHECK(cudaSetDevice(device_));
}

DeviceGuard::~DeviceGuard() {
  if (prev_ >= 0 && prev_ != device_) (void)cudaSetDevice(prev_);
}

void synchronize(int device) {
  require_device(device);
  DeviceGuard g(device);
  FASTANN_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void mem_info(int device, size_t* free_bytes, size_t* total_bytes) {
  require_device(device);
  DeviceGuard g(device);
  FASTANN_CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
}

std::shared_ptr<void> create_stream(int device) {
  require_device(device);
  DeviceGuard g(device);
  cudaStream_t s = nullptr;
  // A blocking stream: work on the legacy default stream (copies and ops outside any model) is ordered with it.
  FASTANN_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamDefault));
  return std::shared_ptr<void>(s, [device](void* p) {
    const auto st = static_cast<cudaStream_t>(p);
    int prev = -1;
    (void)cudaGetDevice(&prev);
    (void)cudaSetDevice(device);
    (void)cudaStreamSynchronize(st);
    retire_stream(device, st);
    (void)cudaStreamDestroy(st);
    if (prev >= 0) (void)cudaSetDevice(prev);
  });
}

void copy(void* dst, int dst_device, const void* src, int src_device, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  if (dst_device < 0 && src_device < 0) {
    FASTANN_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToHost));
    return;
  }
  const int dev = dst_device >= 0 ? dst_device : src_device;
  DeviceGuard g(dev);
  if (dst_device >= 0 && src_device >= 0) {
    if (dst_device == src_device) {
      FASTANN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
    } else {
      FASTANN_CUDA_CHECK(cudaMemcpyPeer(dst, dst_device, src, src_device, bytes));
    }
    return;
  }
  // Host <-> device: ordered after the stream's work and complete on return (the host may reuse its buffer).
  const cudaMemcpyKind kind = dst_device >= 0 ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()));
  FASTANN_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

}  // namespace fastann::cuda

namespace fastann::runtime {

Backend& cuda_backend() {
  static Backend* b = new cuda::FunctionsBackend();  // never destroyed: tensors freed during static destruction find it
  return *b;
}

}  // namespace fastann::runtime
