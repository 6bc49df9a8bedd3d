// A TEST-ONLY CUDA backend that runs on the host (FASTANN_CUDA_EMULATOR=ON; replaces both the real backend and
// stub.cpp). It implements every function of backend.hpp with the CPU kernels, so that the host-side CUDA
// orchestration of the library (allocating tensors on "cuda:N", staging batches, copying results back, routing ops
// by device) can be tested on machines without a GPU, CI included.
//
// What it checks: device-pointer discipline. The "device" memory it hands out is host memory whose address is moved
// by kTag = 2^47: user-space addresses on x86-64 and AArch64 Linux are below 2^47, so a tagged address is
// non-canonical/unmapped and any host code that dereferences a device pointer crashes at once (SIGSEGV) instead of
// silently working as it would with unified memory. The tag is additive, so pointer arithmetic on device pointers
// (row views: p + offset) keeps working; the functions here remove it before touching the memory. Every device
// pointer passed in must carry the tag and lie inside a live block of the named device (else CudaError "host
// pointer passed as device memory" / "... is not in a live allocation"), and every host pointer must not carry it
// (a device pointer handed to a host-side argument). The caching allocator is allocator.cpp's: the same
// CachingPool (caching_pool.hpp: rounding, best fit up to twice the request, per-stream free lists and retire_stream,
// retry after emptying the cache, MemoryStats) over host memory instead of cudaMalloc, so allocator tests ("no growth
// over 1000 steps", which stream gets which block) mean the same here, and it throws OutOfMemoryError past the
// configured device size.
//
// What it cannot check: the CUDA kernels themselves (every kernel here is the CPU kernel, called as the CPU branch of
// ops.cpp calls it), asynchrony and stream ordering (everything runs synchronously on the calling thread: a stream is
// only an identity, for the allocator), TF32, peer access, and driver errors. Those need a GPU (tests/test_cuda.py on
// a GPU machine).
//
// Environment: FASTANN_CUDA_EMULATOR_DEVICES (number of devices, default 1; 0 emulates a machine without a GPU),
// FASTANN_CUDA_EMULATOR_MEMORY (bytes per device, default 1 GiB; a K, M or G suffix multiplies by 2^10, 2^20, 2^30).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cpu/float_mode.hpp"
#include "backends/cpu/gemm/sgemm.hpp"
#include "backends/cpu/threadpool.hpp"
#include "backends/cuda/backend.hpp"
#include "backends/cuda/caching_pool.hpp"
#include "backends/cuda/device_check.hpp"
#include "backends/cuda/functions_backend.hpp"
#include "fastann/error.hpp"
#include "ops/activation/activation.hpp"
#include "ops/batchnorm/batchnorm.hpp"
#include "ops/dropout/dropout.hpp"
#include "ops/gemm/gemm.hpp"
#include "ops/loss/loss.hpp"
#include "ops/optimizer/optimizer.hpp"
#include "ops/rows/rows.hpp"
#include "runtime/backend.hpp"
#include "runtime/plugins.hpp"

namespace fastann::cuda {

namespace {

// --- device pointers: host addresses moved out of the user address space -------------------------------------------

constexpr uintptr_t kTag = uintptr_t{1} << 47;

bool tagged(const void* p) {
  const auto u = reinterpret_cast<uintptr_t>(p);
  return u >= kTag && u < 2 * kTag;
}

// --- configuration ---------------------------------------------------------------------------------------------------

struct Config {
  int devices = 1;
  std::string why_none;  // why devices is 0
  size_t memory = size_t{1} << 30;
  std::string memory_error;  // a malformed FASTANN_CUDA_EMULATOR_MEMORY (reported by allocate and mem_info)
};

// Parses a non-negative integer with an optional K/M/G suffix; false when malformed.
bool parse_size(const char* s, size_t* out) {
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || errno != 0 || s[0] == '-') return false;
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  if (*end == 'M' || *end == 'm') shift = 20;
  if (*end == 'G' || *end == 'g') shift = 30;
  if (shift) ++end;
  if (*end != '\0' || (shift && v > (~0ull >> shift))) return false;
  *out = static_cast<size_t>(v << shift);
  return true;
}

// Read once: device_count() must be stable for the process, as cudaGetDeviceCount's answer is.
const Config& config() {
  static const Config c = [] {
    Config k;
    if (const char* s = std::getenv("FASTANN_CUDA_EMULATOR_DEVICES"); s && *s) {
      size_t n = 0;
      if (!parse_size(s, &n) || n > 64) {
        // device_count() never throws: a malformed value is "no device", and require_device says why.
        k.devices = 0;
        k.why_none = std::string("FASTANN_CUDA_EMULATOR_DEVICES='") + s + "' is not a device count in [0, 64]";
      } else {
        k.devices = static_cast<int>(n);
        if (n == 0) k.why_none = "no CUDA device found (FASTANN_CUDA_EMULATOR_DEVICES=0)";
      }
    }
    if (const char* s = std::getenv("FASTANN_CUDA_EMULATOR_MEMORY"); s && *s) {
      if (!parse_size(s, &k.memory)) {
        k.memory_error = std::string("FASTANN_CUDA_EMULATOR_MEMORY='") + s +
                         "' is not a size in bytes (an integer, optionally with a K, M or G suffix)";
      }
    }
    return k;
  }();
  return c;
}

std::atomic<bool> g_allow_tf32{false};

// --- the caching allocator: caching_pool.hpp's, over host memory -----------------------------------------------------

constexpr size_t kAlignment = 256;  // cudaMalloc's guarantee

// CachingPool's Raw: "cudaMalloc" is aligned_alloc, bounded by the configured device size. The pool keeps the
// untagged host addresses (so LeakSanitizer sees the blocks referenced, cached ones included); the tag is added
// when a block is handed out (allocate below) and removed when it comes back.
struct HostMemory {
  void* allocate(int device, size_t size, int64_t reserved_bytes) {
    if (device != kPinnedPool && static_cast<uint64_t>(reserved_bytes) + size > config().memory) return nullptr;
    void* h = std::aligned_alloc(kAlignment, size);  // size is a multiple of 512
    if (h != nullptr && device != kPinnedPool && reinterpret_cast<uintptr_t>(h) >= kTag) {
      std::free(h);
      throw CudaError(
          "CUDA emulator: the host returned an address above 2^47, which cannot be tagged as device "
          "memory (5-level paging?)");
    }
    return h;
  }

  // Nothing is queued anywhere (every call completed before it returned): no synchronisation to do first.
  template <typename ForEach>
  void free(int /*device*/, ForEach&& for_each_block) {
    for_each_block([](void* h) { std::free(h); });
  }

  std::string out_of_memory_note(int device) {
    if (device == kPinnedPool) return {};
    return " (CUDA emulator device of " + std::to_string(config().memory) + " bytes)";
  }
};

// Ordered live map: check_live looks up the block containing a pointer.
using Allocator = CachingPool<HostMemory, std::map>;

// Never destroyed, like allocator.cpp's: tensors freed during static destruction still find it.
Allocator& allocator() {
  static Allocator* a = new Allocator();
  return *a;
}

// A block's address as handed out, and back: tagged for a device, plain for the pinned pool (the host writes it).
void* handed_out(void* host, int device) {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(host) + (device == kPinnedPool ? 0 : kTag));
}
void* host_address(void* handed, int device) {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(handed) - (device == kPinnedPool ? 0 : kTag));
}

// Throws CudaError unless [p, p + bytes) lies inside the live allocation of `device` that contains p (within what
// its owner requested: a kernel touching the rounding slack is reading memory nobody wrote). p is tagged.
void check_live(uintptr_t p, size_t bytes, int device, const char* what) {
  void* host_begin = nullptr;
  size_t requested = 0;
  if (allocator().find_live(device, reinterpret_cast<void*>(p - kTag), &host_begin, &requested)) {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(handed_out(host_begin, device)), end = begin + requested;
    if (bytes <= end - p) return;
    std::ostringstream os;
    os << "CUDA emulator: " << what << ": " << bytes << " bytes at offset " << (p - begin)
       << " overrun the allocation of " << requested << " bytes on cuda:" << device;
    throw CudaError(os.str());
  }
  std::ostringstream os;
  os << "CUDA emulator: " << what << ": device pointer 0x" << std::hex << p << std::dec
     << " is not in a live allocation of cuda:" << device << " (freed, or memory of another device)";
  throw CudaError(os.str());
}

// --- argument checks -------------------------------------------------------------------------------------------------

// The host address of a device pointer of `device` whose kernel touches `bytes` bytes from it; null stays null
// (optional operands).
template <typename T>
T* dev(T* p, int device, size_t bytes, const char* what) {
  if (p == nullptr) return nullptr;
  if (!tagged(p)) {
    throw CudaError(std::string("CUDA emulator: ") + what + ": host pointer passed as device memory");
  }
  const auto u = reinterpret_cast<uintptr_t>(p);
  check_live(u, bytes, device, what);
  return reinterpret_cast<T*>(u - kTag);
}

// The host address of an optional tensor operand (null stays null) whose kernel touches `bytes` bytes of it.
template <typename T>
auto opt(T* t, int device, size_t bytes, const char* what) {
  return t ? dev(t->template data<float>(), device, bytes, what) : nullptr;
}

template <typename T>
T* host(T* p, const char* what) {
  if (tagged(p)) throw CudaError(std::string("CUDA emulator: ") + what + ": device pointer passed as host memory");
  return p;
}

size_t floats(int64_t n) { return n > 0 ? static_cast<size_t>(n) * sizeof(float) : 0; }

// Bytes a row-major (rows, cols) operand with leading dimension ld spans.
size_t span(int64_t rows, int64_t cols, int64_t ld) {
  if (rows <= 0 || cols <= 0) return 0;
  return floats((rows - 1) * ld + cols);
}

}  // namespace

// --- queries ---------------------------------------------------------------------------------------------------------

int device_count() { return config().devices; }

void require_device(int device) {
  const Config& c = config();
  require_device_index(device, c.devices, c.why_none);
}

std::string device_name(int device) {
  require_device(device);
  return "fastann CUDA emulator (host)";
}

void set_allow_tf32(bool enabled) { g_allow_tf32.store(enabled, std::memory_order_relaxed); }
bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

void synchronize(int device) { require_device(device); }  // every call completed before it returned

void mem_info(int device, size_t* free_bytes, size_t* total_bytes) {
  require_device(device);
  const Config& c = config();
  if (!c.memory_error.empty()) throw ValueError(c.memory_error);
  const auto used = static_cast<size_t>(allocator().stats(device).reserved_bytes);
  *total_bytes = c.memory;
  *free_bytes = used < c.memory ? c.memory - used : 0;
}

// --- streams: work runs synchronously, so a stream is only an identity ---------------------------------------------

namespace {
struct EmulatedStream {
  int device;
};
}  // namespace

std::shared_ptr<void> create_stream(int device) {
  require_device(device);
  // Non-null and distinct per stream, as cudaStreamCreate's handles are; nothing is queued on it. Dropped, it is
  // retired as runtime.cpp's are (nothing to wait for): its cached blocks move to the default list before the
  // address, which a later stream may get, is freed.
  return std::shared_ptr<void>(new EmulatedStream{device}, [](void* p) {
    auto* s = static_cast<EmulatedStream*>(p);
    allocator().retire_stream(s->device, s);
    delete s;
  });
}

// --- memory ----------------------------------------------------------------------------------------------------------

std::shared_ptr<void> allocate(size_t bytes, int device) {
  require_device(device);
  if (!config().memory_error.empty()) throw ValueError(config().memory_error);
  void* p = handed_out(allocator().allocate(bytes, device, runtime::current_stream()), device);
  return std::shared_ptr<void>(p, [device](void* q) { allocator().release(host_address(q, device), device); });
}

std::shared_ptr<void> allocate_pinned(size_t bytes) {
  require_device(0);
  void* p = allocator().allocate(bytes, kPinnedPool, nullptr);  // plain host memory: the host writes it
  return std::shared_ptr<void>(p, [](void* q) { allocator().release(q, kPinnedPool); });
}

MemoryStats memory_stats(int device) { return allocator().stats(device); }

void empty_cache() { allocator().empty_cache(); }

void copy(void* dst, int dst_device, const void* src, int src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device >= 0) require_device(dst_device);
  if (src_device >= 0) require_device(src_device);
  void* d = dst_device >= 0 ? dev(dst, dst_device, bytes, "copy (destination)") : host(dst, "copy (destination)");
  const void* s = src_device >= 0 ? dev(src, src_device, bytes, "copy (source)") : host(src, "copy (source)");
  if (d != s) std::memmove(d, s, bytes);
}

void fill(int device, float* p, int64_t n, float value) {
  require_device(device);
  if (n <= 0) return;
  std::fill_n(dev(p, device, floats(n), "fill"), n, value);
}

}  // namespace fastann::cuda

// --- op kernels registered for DeviceType::CUDA: the CPU kernels on the host copies of the device buffers ---------

namespace fastann::ops::activation_kernels {

namespace {

void emu_forward(const ActParams& p, const Tensor& x, Tensor& y, int64_t rows, int64_t cols) {
  const int device = x.device().index;
  cuda::require_device(device);
  const size_t bytes = cuda::floats(rows * cols);
  cpu_forward(p, cuda::dev(x.data<float>(), device, bytes, "activation (x)"),
              cuda::dev(y.data<float>(), device, bytes, "activation (y)"), rows, cols);
}

void emu_backward(const ActParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, int64_t rows,
                  int64_t cols) {
  const int device = dy.device().index;
  cuda::require_device(device);
  const size_t bytes = cuda::floats(rows * cols);
  const auto in = [&](const Tensor& t, const char* what) {
    return t.defined() ? cuda::dev(t.data<float>(), device, bytes, what) : nullptr;
  };
  cpu_backward(p, in(x, "activation_backward (x)"), in(y, "activation_backward (y)"),
               cuda::dev(dy.data<float>(), device, bytes, "activation_backward (dy)"),
               cuda::dev(dx.data<float>(), device, bytes, "activation_backward (dx)"), rows, cols);
}

}  // namespace

void register_cuda(Tables& t) {
  t.forward.add(DeviceType::CUDA, DType::float32, &emu_forward);
  t.backward.add(DeviceType::CUDA, DType::float32, &emu_backward);
}

}  // namespace fastann::ops::activation_kernels

namespace fastann::ops::optimizer_kernels {

namespace {

void emu_step(const OptStep& s, Tensor& w, const Tensor& g, Tensor* s1, Tensor* s2, Tensor* s3) {
  const int device = w.device().index;
  cuda::require_device(device);
  const cpu::FlushDenormalsScope flush;
  const int64_t n = w.numel();
  const size_t bytes = cuda::floats(n);
  auto slot = [&](Tensor* t, const char* what) {
    return t ? cuda::dev(t->data<float>(), device, bytes, what) : nullptr;
  };
  float* wp = cuda::dev(w.data<float>(), device, bytes, "optimizer (w)");
  const float* gp = cuda::dev(g.data<float>(), device, bytes, "optimizer (g)");
  float* p1 = slot(s1, "optimizer (s1)");
  float* p2 = slot(s2, "optimizer (s2)");
  float* p3 = slot(s3, "optimizer (s3)");
  cpu::parallel_for(n, 32768, [&](int64_t b, int64_t e) {
    auto at = [b](float* p) { return p ? p + b : nullptr; };
    cpu_step(s, wp + b, gp + b, at(p1), at(p2), at(p3), e - b);
  });
}

}  // namespace

void register_cuda(Tables& t) { t.step.add(DeviceType::CUDA, DType::float32, &emu_step); }

}  // namespace fastann::ops::optimizer_kernels

namespace fastann::ops::dropout_kernels {

namespace {

void emu_forward(double rate, uint64_t seed, const Tensor& x, Tensor& mask, Tensor& y) {
  const int device = x.device().index;
  cuda::require_device(device);
  const size_t bytes = cuda::floats(x.numel());
  cpu_forward(rate, seed, cuda::dev(x.data<float>(), device, bytes, "dropout (x)"),
              cuda::dev(mask.data<float>(), device, bytes, "dropout (mask)"),
              cuda::dev(y.data<float>(), device, bytes, "dropout (y)"), x.numel());
}

void emu_multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  const int device = a.device().index;
  cuda::require_device(device);
  const size_t bytes = cuda::floats(a.numel());
  cpu_multiply(cuda::dev(a.data<float>(), device, bytes, "multiply (a)"),
               cuda::dev(b.data<float>(), device, bytes, "multiply (b)"),
               cuda::dev(out.data<float>(), device, bytes, "multiply (out)"), a.numel());
}

}  // namespace

void register_cuda(Tables& t) {
  t.forward.add(DeviceType::CUDA, DType::float32, &emu_forward);
  t.multiply.add(DeviceType::CUDA, DType::float32, &emu_multiply);
}

}  // namespace fastann::ops::dropout_kernels

namespace fastann::ops::batchnorm_kernels {

namespace {

void emu_train(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, float momentum,
               float one_minus_momentum, Tensor& mean, Tensor& invstd, Tensor& moving_mean, Tensor& moving_var,
               Tensor& y) {
  const int device = x.device().index;
  cuda::require_device(device);
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const size_t all = cuda::floats(rows * cols), col = cuda::floats(cols);
  auto vec = [&](auto* t, const char* what) { return cuda::opt(t, device, col, what); };
  cpu_train_cols(cuda::dev(x.data<float>(), device, all, "batchnorm (x)"), rows, cols, 0, cols,
                 vec(gamma, "batchnorm (gamma)"), vec(beta, "batchnorm (beta)"), eps, momentum, one_minus_momentum,
                 vec(&mean, "batchnorm (mean)"), vec(&invstd, "batchnorm (invstd)"),
                 vec(&moving_mean, "batchnorm (moving_mean)"), vec(&moving_var, "batchnorm (moving_variance)"),
                 cuda::dev(y.data<float>(), device, all, "batchnorm (y)"));
}

void emu_infer(const Tensor& x, const Tensor* gamma, const Tensor* beta, const Tensor& mean, const Tensor& var,
               float eps, Tensor& y) {
  const int device = x.device().index;
  cuda::require_device(device);
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const size_t all = cuda::floats(rows * cols), col = cuda::floats(cols);
  auto vec = [&](auto* t, const char* what) { return cuda::opt(t, device, col, what); };
  cpu_infer_cols(cuda::dev(x.data<float>(), device, all, "batchnorm (x)"), rows, cols, 0, cols,
                 vec(gamma, "batchnorm (gamma)"), vec(beta, "batchnorm (beta)"), vec(&mean, "batchnorm (mean)"),
                 vec(&var, "batchnorm (variance)"), eps, cuda::dev(y.data<float>(), device, all, "batchnorm (y)"));
}

void emu_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor* gamma, const Tensor& dy,
                  Tensor* dgamma, Tensor* dbeta, Tensor* dx) {
  const int device = x.device().index;
  cuda::require_device(device);
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const size_t all = cuda::floats(rows * cols), col = cuda::floats(cols);
  auto vec = [&](auto* t, const char* what) { return cuda::opt(t, device, col, what); };
  cpu_backward_cols(cuda::dev(x.data<float>(), device, all, "batchnorm_backward (x)"), rows, cols, 0, cols,
                    vec(&mean, "batchnorm_backward (mean)"), vec(&invstd, "batchnorm_backward (invstd)"),
                    vec(gamma, "batchnorm_backward (gamma)"),
                    cuda::dev(dy.data<float>(), device, all, "batchnorm_backward (dy)"),
                    vec(dgamma, "batchnorm_backward (dgamma)"), vec(dbeta, "batchnorm_backward (dbeta)"),
                    dx ? cuda::dev(dx->data<float>(), device, all, "batchnorm_backward (dx)") : nullptr);
}

}  // namespace

void register_cuda(Tables& t) {
  t.train.add(DeviceType::CUDA, DType::float32, &emu_train);
  t.infer.add(DeviceType::CUDA, DType::float32, &emu_infer);
  t.backward.add(DeviceType::CUDA, DType::float32, &emu_backward);
}

}  // namespace fastann::ops::batchnorm_kernels

namespace fastann::ops::rows_kernels {

namespace {

void emu_column_sum(const Tensor& dz, Tensor& db, int64_t rows, int64_t cols) {
  const int device = dz.device().index;
  cuda::require_device(device);
  const cpu::FlushDenormalsScope flush;
  cpu_column_sum(cuda::dev(dz.data<float>(), device, cuda::floats(rows * cols), "bias_grad (dz)"),
                 cuda::dev(db.data<float>(), device, cuda::floats(cols), "bias_grad (db)"), rows, cols);
}

void emu_gather(const Tensor& src, const int64_t* idx, int64_t n, int64_t cols, Tensor& dst) {
  const int device = src.device().index;
  cuda::require_device(device);
  const int64_t* hi = cuda::dev(idx, device, static_cast<size_t>(n) * sizeof(int64_t), "gather_rows (indices)");
  float* hd = cuda::dev(dst.data<float>(), device, cuda::floats(n * cols), "gather_rows (dst)");
  // The source is checked row by row through its indices.
  const float* s = src.data<float>();
  for (int64_t i = 0; i < n; ++i) cuda::dev(s + hi[i] * cols, device, cuda::floats(cols), "gather_rows (src row)");
  cpu_gather(cuda::dev(s, device, 0, "gather_rows (src)"), hi, n, cols, hd);
}

int64_t emu_first_non_finite(const Tensor& t) {
  const int device = t.device().index;
  cuda::require_device(device);
  return cpu_first_non_finite(cuda::dev(t.data<float>(), device, cuda::floats(t.numel()), "first_non_finite"),
                              t.numel());
}

}  // namespace

void register_cuda(Tables& t) {
  t.column_sum.add(DeviceType::CUDA, DType::float32, &emu_column_sum);
  t.gather.add(DeviceType::CUDA, DType::float32, &emu_gather);
  t.first_non_finite.add(DeviceType::CUDA, DType::float32, &emu_first_non_finite);
}

}  // namespace fastann::ops::rows_kernels

namespace fastann::ops::loss_kernels {

namespace {

double emu_loss(const LossParams& p, const Tensor& pred, const Tensor& y, Tensor* grad, Tensor* probs, float grad_scale,
                const Tensor* weights, int64_t rows, int64_t cols) {
  const int device = pred.device().index;
  cuda::require_device(device);
  const cpu::FlushDenormalsScope flush;
  const size_t bytes = cuda::floats(rows * cols);
  const size_t ybytes = p.kind == Loss::scce ? cuda::floats(rows) : bytes;
  return cpu_loss(p, cuda::dev(pred.data<float>(), device, bytes, "loss (pred)"),
                  cuda::dev(y.data<float>(), device, ybytes, "loss (y)"), rows, cols,
                  cuda::opt(grad, device, bytes, "loss (grad)"), cuda::opt(probs, device, bytes, "loss (probs)"),
                  grad_scale, cuda::opt(weights, device, cuda::floats(rows), "loss (weights)"));
}

void emu_loss_accumulate(const LossParams& p, const Tensor& pred, const Tensor& y, Tensor* grad, Tensor* probs,
                         float grad_scale, const Tensor* weights, int64_t rows, int64_t cols, double* sum,
                         double* first_bad, int64_t step) {
  const int device = pred.device().index;
  const double s = emu_loss(p, pred, y, grad, probs, grad_scale, weights, rows, cols);
  double* hs = cuda::dev(sum, device, sizeof(double), "loss_accumulate (sum)");
  double* hb = cuda::dev(first_bad, device, sizeof(double), "loss_accumulate (first_bad)");
  *hs += s;
  if (!std::isfinite(s) && *hb < 0.0) *hb = static_cast<double>(step);
}

void emu_metric(const MetricParams& p, const Tensor& pred, const Tensor& y, const Tensor* weights, int64_t rows,
                int64_t cols, double* acc) {
  const int device = pred.device().index;
  cuda::require_device(device);
  if (!metric_is_sample_mean(p.kind)) throw CudaError("CUDA emulator: metric_accumulate: unsupported metric");
  const size_t ybytes = metric_is_sparse(p.kind) ? cuda::floats(rows) : cuda::floats(rows * cols);
  double* a = cuda::dev(acc, device, 2 * sizeof(double), "metric_accumulate (acc)");
  cpu_metric_update(p, cuda::dev(pred.data<float>(), device, cuda::floats(rows * cols), "metric_accumulate (pred)"),
                    cuda::dev(y.data<float>(), device, ybytes, "metric_accumulate (y)"),
                    cuda::opt(weights, device, cuda::floats(rows), "metric_accumulate (weights)"), rows, cols, a);
}

void emu_regularizer_accumulate(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale, double* acc,
                                double factor) {
  const int device = w.device().index;
  cuda::require_device(device);
  const int64_t n = w.numel();
  double* a = cuda::dev(acc, device, sizeof(double), "regularizer (acc)");
  *a += factor * cpu_regularizer(l1, l2, cuda::dev(w.data<float>(), device, cuda::floats(n), "regularizer (w)"),
                                 cuda::opt(g, device, cuda::floats(n), "regularizer (g)"), grad_scale, n);
}

}  // namespace

void register_cuda(Tables& t) {
  t.loss.add(DeviceType::CUDA, DType::float32, &emu_loss);
  t.loss_accumulate.add(DeviceType::CUDA, DType::float32, &emu_loss_accumulate);
  t.regularizer_accumulate.add(DeviceType::CUDA, DType::float32, &emu_regularizer_accumulate);
  t.metric.add(DeviceType::CUDA, DType::float32, &emu_metric);
}

}  // namespace fastann::ops::loss_kernels

namespace fastann::ops::gemm_kernels {

namespace {

void emu_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const Tensor& a,
              const Tensor& b, float beta, Tensor& c, const Tensor* bias, const ActParams* act) {
  const int device = c.device().index;
  cuda::require_device(device);
  const cpu::FlushDenormalsScope flush;
  const int64_t lda = std::max<int64_t>(1, trans_a ? m : k), ldb = std::max<int64_t>(1, trans_b ? k : n);
  const float* ha =
      cuda::dev(a.data<float>(), device, trans_a ? cuda::span(k, m, lda) : cuda::span(m, k, lda), "gemm (a)");
  const float* hb =
      cuda::dev(b.data<float>(), device, trans_b ? cuda::span(n, k, ldb) : cuda::span(k, n, ldb), "gemm (b)");
  float* hc = cuda::dev(c.data<float>(), device, cuda::span(m, n, n), "gemm (c)");
  cpu::GemmEpilogue ep;
  ep.bias = bias ? cuda::dev(bias->data<float>(), device, cuda::floats(n), "gemm (bias)") : nullptr;
  if (act) {
    ep.block_fn = &activation_kernels::cpu_block;
    ep.ctx = act;
  }
  cpu::sgemm(trans_a, trans_b, m, n, k, alpha, ha, lda, hb, ldb, beta, hc, n, (ep.bias || ep.block_fn) ? &ep : nullptr);
}

void emu_batched(int64_t m, int64_t n, int64_t k, const Tensor& a, const int64_t* a_off, const Tensor& b,
                 const int64_t* b_off, Tensor& c, int64_t count) {
  const int device = c.device().index;
  cuda::require_device(device);
  const cpu::FlushDenormalsScope flush;
  cuda::host(a_off, "gemm_batched (a offsets)");
  cuda::host(b_off, "gemm_batched (b offsets)");
  std::vector<const float*> pa(static_cast<size_t>(count)), pb(static_cast<size_t>(count));
  std::vector<float*> pc(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t) {
    const auto i = static_cast<size_t>(t);
    pa[i] = cuda::dev(a.data<float>() + a_off[t], device, cuda::floats(m * k), "gemm_batched (a)");
    pb[i] = cuda::dev(b.data<float>() + b_off[t], device, cuda::floats(k * n), "gemm_batched (b)");
    pc[i] = cuda::dev(c.data<float>() + t * m * n, device, cuda::floats(m * n), "gemm_batched (c)");
  }
  cpu::sgemm_batched(false, false, m, n, k, 1.0f, pa.data(), k, pb.data(), n, 0.0f, pc.data(), n, count);
}

// The host kernels never split k.
std::string emu_plan(int device, bool, bool, int64_t, int64_t, int64_t, int64_t* splits) {
  cuda::require_device(device);
  if (splits != nullptr) *splits = 1;
  return "host";
}

}  // namespace

void register_cuda(Tables& t) {
  t.gemm.add(DeviceType::CUDA, DType::float32, &emu_gemm);
  t.batched.add(DeviceType::CUDA, DType::float32, &emu_batched);
  t.plan.add(DeviceType::CUDA, DType::float32, &emu_plan);
}

}  // namespace fastann::ops::gemm_kernels

namespace fastann::runtime {

Backend& cuda_backend() {
  static Backend* b = new cuda::FunctionsBackend();  // never destroyed, like the allocator
  return *b;
}

}  // namespace fastann::runtime
