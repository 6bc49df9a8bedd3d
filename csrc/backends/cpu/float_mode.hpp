// Flush-to-zero / denormals-are-zero for the CPU kernels. Arithmetic on subnormal floats is ~100x slower on x86;
// they appear in training when gradients die out (Adam's moments of dead ReLU units decay into the subnormal range
// and stay there). fastann computes with subnormals flushed to zero, as TensorFlow does: pool workers set the mode
// once, and every op entry point sets it for the calling thread for the duration of the call (the caller's own
// floating-point mode is restored afterwards, so user code is unaffected). Results therefore do not depend on which
// thread computed which chunk.
#pragma once

#if defined(__SSE2__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FASTANN_HAVE_MXCSR 1
#endif

namespace fastann::cpu {

#ifdef FASTANN_HAVE_MXCSR
inline constexpr unsigned kFlushDenormalsBits = 0x8040u;  // MXCSR FTZ (bit 15) | DAZ (bit 6)

inline void set_flush_denormals() { _mm_setcsr(_mm_getcsr() | kFlushDenormalsBits); }

class FlushDenormalsScope {
 public:
  FlushDenormalsScope() : saved_(_mm_getcsr()) {
    if ((saved_ & kFlushDenormalsBits) != kFlushDenormalsBits) _mm_setcsr(saved_ | kFlushDenormalsBits);
  }
  ~FlushDenormalsScope() {
    if ((saved_ & kFlushDenormalsBits) != kFlushDenormalsBits) _mm_setcsr(saved_);
  }
  FlushDenormalsScope(const FlushDenormalsScope&) = delete;
  FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

 private:
  unsigned saved_;
};
#else
inline void set_flush_denormals() {}
class FlushDenormalsScope {};
#endif

}  // namespace fastann::cpu
