// FASTANN_HD marks the functions of an op's formulas.hpp: the one copy of its maths, compiled by the host compiler
// for the CPU kernels and by nvcc for both sides of the CUDA kernels. Such a function uses only what both sides
// have (the C math functions of the global namespace, no exceptions, no std:: algorithms).
#pragma once

#if defined(__CUDACC__)
#define FASTANN_HD __host__ __device__ __forceinline__
#else
#define FASTANN_HD inline
#endif
