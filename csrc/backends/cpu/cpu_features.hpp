// What this CPU and its operating system let fastann use, from cpuid and xgetbv, detected once. The kernel sets of
// gemm/kernels/ name the features they need (gemm/kernels/registry.cpp); dispatch.cpp compares.
#pragma once

#include <cstdint>
#include <string>

namespace fastann::cpu {

// One bit per instruction-set feature. A vector extension's bit is set only when the OS also saves the registers
// it uses (xgetbv: ymm state for AVX2/FMA; opmask and zmm state for AVX-512).
enum CpuFeature : uint32_t {
  kCpuAvx2 = 1u << 0,
  kCpuFma = 1u << 1,
  kCpuAvx512F = 1u << 2,
  kCpuAvx512VL = 1u << 3,
  kCpuAvx512BW = 1u << 4,
  kCpuAvx512DQ = 1u << 5,
};
using CpuFeatureMask = uint32_t;

// The features of this CPU (0 off x86 or without GCC/Clang's cpuid.h).
CpuFeatureMask cpu_features();

// "avx2 fma avx512f ...": the names of the bits set in `mask` (for messages).
std::string cpu_feature_names(CpuFeatureMask mask);

}  // namespace fastann::cpu
