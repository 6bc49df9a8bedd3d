// Instruction-set selection for the CPU kernels. The ISAs are the kernel sets registered in
// gemm/kernels/registry.cpp; the default is the highest-priority one this CPU supports (cpuid), overridable with
// FASTANN_ISA=<name> or set_isa() (used by tests to exercise every path).
#pragma once

#include <string>
#include <vector>

namespace fastann::cpu {

struct IsaEntry;              // gemm/kernels/registry.hpp
using Isa = const IsaEntry*;  // a registered kernel set: never null, valid for the program's lifetime

Isa active_isa();
bool isa_supported(Isa isa);                 // by this CPU (and compiled in)
void set_isa(Isa isa);                       // ValueError when !isa_supported(isa), naming the supported ones
const char* isa_name(Isa isa);               // "generic", "avx2", "avx512", ...
Isa isa_from_name(const std::string& name);  // ValueError listing the registered names on an unknown one
std::vector<std::string> isa_names();        // every registered kernel set, supported here or not

}  // namespace fastann::cpu
