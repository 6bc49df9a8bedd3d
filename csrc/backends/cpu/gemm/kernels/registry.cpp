// The GEMM kernel sets of this build, in one explicit list. Each folder gemm/kernels/<isa>/ exports one function,
// kernels_<isa>(), returning its constant KernelSet (nullptr when its files were compiled without the ISA's flags);
// one line here registers it under its FASTANN_ISA name with its priority and the CPU features it needs. dispatch.cpp
// lists, checks and picks from these entries; nothing else names an ISA.
//
// An explicit list, not self-registering static objects in each folder, because:
//  - a static library links only the object files something references: a folder that registered itself from a
//    static initialiser and was otherwise unreferenced would silently drop out of apps linking libfastann.a;
//  - static initialisers run in an unspecified order across files, possibly after code that already calls sgemm;
//  - registration code (std::string, std::map) in an ISA file would be compiled with that ISA's -m flags, and the
//    linker may keep that copy of an inline function for the whole program (AVX-512 code in std::string on an
//    AVX2-only CPU: SIGILL). So the ISA files export only constant data, and this file is built for the baseline ISA.
// The list is filled on the registry's first lookup (core/registry.hpp), under std::call_once.
#include "backends/cpu/gemm/kernels/registry.hpp"

#include <cstring>

namespace fastann::cpu::gemm {

// Defined in kernels/<isa>/ (see above).
const KernelSet* kernels_generic();
const KernelSet* kernels_avx2();
const KernelSet* kernels_avx512();

namespace {

void add(IsaRegistry& r, const char* name, int priority, CpuFeatureMask needs, const KernelSet* ks) {
  FASTANN_CHECK_STATE(ks == nullptr || std::strcmp(ks->name, name) == 0,
                      "kernel set '" << ks->name << "' registered as '" << name << "'");
  r.add(name, IsaEntry{name, priority, needs, ks});
}

constexpr CpuFeatureMask kAvx2Fma = kCpuAvx2 | kCpuFma;
constexpr CpuFeatureMask kAvx512 = kAvx2Fma | kCpuAvx512F | kCpuAvx512VL | kCpuAvx512BW | kCpuAvx512DQ;

}  // namespace

void fill_kernel_sets(IsaRegistry& r) {
  //  FASTANN_ISA  priority  CPU features      kernel set
  add(r, "generic", 0, 0, kernels_generic());
  add(r, "avx2", 20, kAvx2Fma, kernels_avx2());
  add(r, "avx512", 30, kAvx512, kernels_avx512());
}

}  // namespace fastann::cpu::gemm
