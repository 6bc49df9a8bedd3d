// Boundary probe (tests/cmake/boundaries): includes backends/cuda/backend.hpp from the folder it is compiled as.
#include "backends/cuda/backend.hpp"

int fastann_probe_nn_includes_cuda() { return 0; }
