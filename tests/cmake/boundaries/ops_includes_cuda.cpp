// Boundary probe (tests/cmake/boundaries): includes cuda/backend.hpp from the folder this probe is compiled as.
#include "cuda/backend.hpp"

int fastann_probe_ops_includes_cuda() { return 0; }
