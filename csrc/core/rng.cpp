// Seeded random numbers (see rng.hpp).
#include "core/rng.hpp"

#include <cmath>
#include <mutex>
#include <random>

#include "fastann/model.hpp"

namespace fastann {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

struct GlobalSeed {
  std::mutex mu;
  bool seeded = false;
  uint64_t state = 0;
};

GlobalSeed& global_seed() {
  static GlobalSeed g;
  return g;
}

}  // namespace

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }

double Rng::uniform_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  // Box-Muller; 1 - u is in (0, 1] so the log is finite.
  const double u1 = 1.0 - uniform_double();
  const double u2 = uniform_double();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

uint64_t Rng::below(uint64_t n) {
  __uint128_t m = static_cast<__uint128_t>(next_u64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<__uint128_t>(next_u64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

void Rng::shuffle(int64_t* idx, int64_t n) {
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(below(static_cast<uint64_t>(i) + 1));
    const int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

uint64_t next_global_seed() {
  GlobalSeed& g = global_seed();
  std::lock_guard<std::mutex> lock(g.mu);
  if (!g.seeded) {
    std::random_device rd;
    g.state = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    g.seeded = true;
  }
  return splitmix64(g.state);
}

void set_random_seed(uint64_t seed) {
  GlobalSeed& g = global_seed();
  std::lock_guard<std::mutex> lock(g.mu);
  g.state = seed;
  g.seeded = true;
}

}  // namespace fastann
