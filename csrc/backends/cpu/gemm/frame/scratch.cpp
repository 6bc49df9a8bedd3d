// The per-thread packing buffers of the GEMM frame (see product.hpp): one pair per thread, grown on demand.
#include <algorithm>
#include <cstdlib>
#include <new>

#include "product.hpp"

namespace fastann::cpu::gemm {
namespace {

// A 64-byte aligned scratch buffer that only grows; one pair per thread, so steady-state calls never allocate.
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(data_); }

  float* get(int64_t floats) {
    const size_t want = static_cast<size_t>(floats);
    if (want > cap_) {
      const size_t cap = std::max(want, cap_ + cap_ / 2);
      const size_t bytes = (cap * sizeof(float) + 63) / 64 * 64;
      void* p = std::aligned_alloc(64, bytes);
      if (!p) throw std::bad_alloc();
      std::free(data_);
      data_ = static_cast<float*>(p);
      cap_ = bytes / sizeof(float);
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t cap_ = 0;
};

struct ThreadScratch {
  ScratchBuffer a, b;
};
thread_local ThreadScratch t_scratch;

}  // namespace

float* scratch_a(int64_t floats) { return t_scratch.a.get(floats); }
float* scratch_b(int64_t floats) { return t_scratch.b.get(floats); }

}  // namespace fastann::cpu::gemm
