// The backends the registry (registry.cpp) adds besides the CPU's, by explicit registration: each is a function
// the registry calls when the build has that backend (not a static initialiser, which a static library would drop
// together with an object file nothing references).
#pragma once

#include "runtime/backend.hpp"

namespace fastann::runtime {

// The CPU backend (csrc/backends/cpu/runtime.cpp): always built.
Backend& cpu_backend();

// The CUDA backend: defined by csrc/backends/cuda/runtime.cpp (FASTANN_CUDA) or the test-only emulator (tests/emulator,
// FASTANN_CUDA_EMULATOR) and called only in builds that define FASTANN_HAS_CUDA_BACKEND.
Backend& cuda_backend();

}  // namespace fastann::runtime
