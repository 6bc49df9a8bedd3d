// The fused optimizer op: one update of a flat parameter buffer (every layer's parameters: one call per step) from
// its gradient and the optimizer's state slots, by Keras's rules (formulas.hpp). optimizer.cpp checks the operands
// and runs the kernel registered for their (device, dtype): cpu.cpp, cuda.cu (or the test-only CUDA emulator). A
// (device, dtype) with no kernel is an UnavailableError naming all three.
#pragma once

#include <cstdint>

#include "core/registry.hpp"
#include "fastann/tensor.hpp"
#include "ops/types.hpp"

namespace fastann::ops {

// w and g of equal size, one device and dtype; the state slots s1, s2, s3 are the optimizer's (formulas::update),
// each either of w's size or undefined when the rule does not use it.
void optimizer_step(const OptStep& s, Tensor& w, const Tensor& g, Tensor& s1, Tensor& s2, Tensor& s3);

namespace optimizer_kernels {

// A kernel: w, g (numel > 0) and the used slots (null when unused) contiguous on the kernel's device.
using Step = void (*)(const OptStep& s, Tensor& w, const Tensor& g, Tensor* s1, Tensor* s2, Tensor* s3);

struct Tables {
  KernelTable<Step> step{"optimizer"};
};

// The registrations, called once when the op is first used: cpu.cpp; cuda.cu (or the test-only CUDA emulator)
// in builds with a CUDA backend.
void register_cpu(Tables& t);
void register_cuda(Tables& t);

// The CPU kernel on raw float32 buffers of n elements (slots null when unused), single-threaded; the emulator runs
// it on the host.
void cpu_step(const OptStep& s, float* w, const float* g, float* s1, float* s2, float* s3, int64_t n);

}  // namespace optimizer_kernels

}  // namespace fastann::ops
