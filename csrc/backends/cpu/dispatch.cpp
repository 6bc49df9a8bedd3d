// ISA selection: cpuid + xgetbv decide what the CPU and OS support, once; FASTANN_ISA or set_isa() override.
#include "dispatch.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "gemm/kernel_set.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FASTANN_X86_CPUID 1
#endif

namespace fastann::cpu {
namespace {

struct CpuFeatures {
  bool avx2 = false;    // AVX2 + FMA, with the OS saving ymm state
  bool avx512 = false;  // AVX-512 F/VL/BW/DQ, with the OS saving zmm and opmask state
};

CpuFeatures detect_features() {
  CpuFeatures f;
#ifdef FASTANN_X86_CPUID
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = (ecx >> 27) & 1u, avx = (ecx >> 28) & 1u, fma = (ecx >> 12) & 1u;
  if (!osxsave || !avx) return f;
  unsigned xlo = 0, xhi = 0;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const uint64_t xcr0 = (static_cast<uint64_t>(xhi) << 32) | xlo;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool avx2 = (ebx >> 5) & 1u, f512 = (ebx >> 16) & 1u, dq = (ebx >> 17) & 1u, bw = (ebx >> 30) & 1u,
             vl = (ebx >> 31) & 1u;
  f.avx2 = os_ymm && avx2 && fma;
  f.avx512 = f.avx2 && os_zmm && f512 && dq && bw && vl;
#endif
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect_features();
  return f;
}

Isa best_supported() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::generic;
}

// The ISA at start-up: FASTANN_ISA when set and usable (else a warning and the best supported one).
Isa initial_isa() {
  const Isa best = best_supported();
  const char* env = std::getenv("FASTANN_ISA");
  if (!env || !*env) return best;
  try {
    const Isa want = isa_from_name(env);
    if (isa_supported(want)) return want;
    std::fprintf(stderr, "fastann: FASTANN_ISA=%s is not supported on this CPU or build; using %s\n", env,
                 isa_name(best));
  } catch (const std::invalid_argument&) {
    std::fprintf(stderr, "fastann: unknown FASTANN_ISA=%s (expected generic, avx2 or avx512); using %s\n", env,
                 isa_name(best));
  }
  return best;
}

std::atomic<int> g_isa{-1};

}  // namespace

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::generic:
      return gemm::kernels_generic() != nullptr;
    case Isa::avx2:
      return features().avx2 && gemm::kernels_avx2() != nullptr;
    case Isa::avx512:
      return features().avx512 && gemm::kernels_avx512() != nullptr;
  }
  return false;
}

Isa active_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    static const Isa init = initial_isa();
    int expected = -1;
    g_isa.compare_exchange_strong(expected, static_cast<int>(init), std::memory_order_relaxed);
    v = g_isa.load(std::memory_order_relaxed);
  }
  return static_cast<Isa>(v);
}

void set_isa(Isa isa) {
  if (!isa_supported(isa)) {
    throw std::invalid_argument(std::string("fastann: ISA ") + isa_name(isa) + " is not supported on this CPU or build");
  }
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::generic:
      return "generic";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
  }
  return "unknown";
}

Isa isa_from_name(const std::string& name) {
  if (name == "generic") return Isa::generic;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("fastann: unknown ISA '" + name + "' (expected generic, avx2 or avx512)");
}

namespace gemm {

const KernelSet& kernels_for(Isa isa) {
  const KernelSet* ks = nullptr;
  switch (isa) {
    case Isa::avx512:
      ks = kernels_avx512();
      break;
    case Isa::avx2:
      ks = kernels_avx2();
      break;
    case Isa::generic:
      break;
  }
  return ks ? *ks : *kernels_generic();
}

}  // namespace gemm

}  // namespace fastann::cpu
