// The registry entry of a GEMM kernel set: what dispatch.cpp needs to list, check and pick the sets the kernel
// folders (gemm/kernels/<isa>/) provide. The entries themselves are listed once, in kernels/registry.cpp.
#pragma once

#include "backends/cpu/cpu_features.hpp"
#include "backends/cpu/gemm/kernel_set.hpp"
#include "core/registry.hpp"

namespace fastann::cpu {

struct IsaEntry {
  const char* name;                // the FASTANN_ISA / set_cpu_isa value
  int priority;                    // distinct; among the supported sets the highest one is the default
  CpuFeatureMask needs;            // every bit must be in cpu_features()
  const gemm::KernelSet* kernels;  // nullptr: not compiled into this build (the compiler lacks the ISA's flags)
};

using IsaRegistry = Registry<IsaEntry>;

namespace gemm {
// Adds every kernel set of this build (kernels/registry.cpp); called once, on the registry's first lookup.
void fill_kernel_sets(IsaRegistry& r);
}  // namespace gemm

}  // namespace fastann::cpu
