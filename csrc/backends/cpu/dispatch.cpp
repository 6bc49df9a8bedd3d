// ISA selection: cpuid + xgetbv decide what the CPU and OS support, once; FASTANN_ISA or set_isa() override.
#include "dispatch.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cpu_features.hpp"
#include "gemm/kernel_set.hpp"

namespace fastann::cpu {
namespace {

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
      return (cpu_features() & (kCpuAvx2 | kCpuFma)) == (kCpuAvx2 | kCpuFma) && gemm::kernels_avx2() != nullptr;
    case Isa::avx512: {
      constexpr CpuFeatureMask need = kCpuAvx2 | kCpuFma | kCpuAvx512F | kCpuAvx512VL | kCpuAvx512BW | kCpuAvx512DQ;
      return (cpu_features() & need) == need && gemm::kernels_avx512() != nullptr;
    }
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
