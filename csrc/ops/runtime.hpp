// Runtime settings of the CPU kernels that are not public API, for the bindings and the tests: the instruction set
// the kernels use (so that nothing above ops/ includes the CPU backend's headers).
#pragma once

#include <string>

namespace fastann::ops {

// The instruction set the CPU kernels use: "generic", "avx2", "avx512", ...
std::string cpu_isa();
// Forces the CPU kernel path; an unknown name or one this CPU lacks raises (Python: ValueError).
void set_cpu_isa(const std::string& name);
// Whether this CPU (and this build) has the named kernel path; an unknown name raises as set_cpu_isa.
bool cpu_isa_supported(const std::string& name);

}  // namespace fastann::ops
