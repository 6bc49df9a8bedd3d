// Instruction-set selection for the CPU kernels: filled once from cpuid, overridable with FASTANN_ISA
// (generic | avx2 | avx512) or set_isa() (used by tests to exercise every path).
#pragma once

#include <string>

namespace fastann::cpu {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

Isa active_isa();
bool isa_supported(Isa isa);           // by this CPU (and compiled in)
void set_isa(Isa isa);                 // throws std::invalid_argument when !isa_supported(isa)
const char* isa_name(Isa isa);         // "generic", "avx2", "avx512"
Isa isa_from_name(const std::string& name);  // throws std::invalid_argument on an unknown name

}  // namespace fastann::cpu
