// Boundary probe (tests/cmake/boundaries): includes nn/layer.hpp from the folder this probe is compiled as.
#include "nn/layer.hpp"

int fastann_probe_ops_includes_nn() { return 0; }
