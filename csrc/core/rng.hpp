// Seeded random numbers with a bit-exact, platform-independent definition (xoshiro256** seeded by splitmix64;
// our own distributions rather than <random>'s, whose output differs between standard libraries).
#pragma once

#include <cstdint>

namespace fastann {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits (exactly representable as float).
  float uniform();
  // Uniform in [0, 1) with 53 random bits.
  double uniform_double();
  // Standard normal (Box-Muller on two doubles).
  double normal();
  // Uniform integer in [0, n), unbiased (Lemire's method). n > 0.
  uint64_t below(uint64_t n);
  // Fisher-Yates shuffle of idx[0..n).
  void shuffle(int64_t* idx, int64_t n);

 private:
  uint64_t s_[4];
};

// A seed from the global generator (set_random_seed), or from std::random_device when it was never seeded.
uint64_t next_global_seed();

}  // namespace fastann
