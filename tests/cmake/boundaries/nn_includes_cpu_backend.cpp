// Boundary probe (tests/cmake/boundaries): includes backends/cpu/threadpool.hpp from the folder this probe is compiled
// as.
#include "backends/cpu/threadpool.hpp"

int fastann_probe_nn_includes_cpu_backend() { return 0; }
