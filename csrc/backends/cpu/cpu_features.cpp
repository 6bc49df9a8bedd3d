// cpuid + xgetbv feature detection (see cpu_features.hpp).
#include "cpu_features.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FASTANN_X86_CPUID 1
#endif

namespace fastann::cpu {
namespace {

CpuFeatureMask detect_features() {
  CpuFeatureMask f = 0;
#ifdef FASTANN_X86_CPUID
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = (ecx >> 27) & 1u, avx = (ecx >> 28) & 1u, fma = (ecx >> 12) & 1u;
  if (!osxsave || !avx) return f;
  unsigned xlo = 0, xhi = 0;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const uint64_t xcr0 = (static_cast<uint64_t>(xhi) << 32) | xlo;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!os_ymm) return f;
  if (fma) f |= kCpuFma;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  if ((ebx >> 5) & 1u) f |= kCpuAvx2;
  if (os_zmm) {
    if ((ebx >> 16) & 1u) f |= kCpuAvx512F;
    if ((ebx >> 17) & 1u) f |= kCpuAvx512DQ;
    if ((ebx >> 30) & 1u) f |= kCpuAvx512BW;
    if ((ebx >> 31) & 1u) f |= kCpuAvx512VL;
  }
#endif
  return f;
}

}  // namespace

CpuFeatureMask cpu_features() {
  static const CpuFeatureMask f = detect_features();
  return f;
}

std::string cpu_feature_names(CpuFeatureMask mask) {
  static const struct {
    CpuFeature bit;
    const char* name;
  } kNames[] = {{kCpuAvx2, "avx2"},         {kCpuFma, "fma"},           {kCpuAvx512F, "avx512f"},
                {kCpuAvx512VL, "avx512vl"}, {kCpuAvx512BW, "avx512bw"}, {kCpuAvx512DQ, "avx512dq"}};
  std::string s;
  for (const auto& n : kNames) {
    if (mask & n.bit) s += (s.empty() ? "" : " ") + std::string(n.name);
  }
  return s;
}

}  // namespace fastann::cpu
