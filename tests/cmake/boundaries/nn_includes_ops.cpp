// Boundary probe (tests/cmake/boundaries): includes ops/ops.hpp from the folder this probe is compiled as.
#include "ops/ops.hpp"

int fastann_probe_nn_includes_ops() { return 0; }
