# The portable kernel set (plain C++, vectorised by the compiler for the baseline ISA): no extra flags.
fastann_cpu_kernels(SOURCES microkernel.cpp)
