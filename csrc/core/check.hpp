// Argument and state checks that throw fastann exceptions with a streamed message, and checked size arithmetic:
//   FASTANN_CHECK_ARG(x.ndim() == 2, "x must be 2-D, got shape " << shape_str(x.shape()));
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>

#include "fastann/error.hpp"

#define FASTANN_THROW(ExcType, msg)   \
  do {                                \
    std::ostringstream fastann_os_;   \
    fastann_os_ << msg;               \
    throw ExcType(fastann_os_.str()); \
  } while (0)

#define FASTANN_CHECK_ARG(cond, msg)                        \
  do {                                                      \
    if (!(cond)) FASTANN_THROW(::fastann::ValueError, msg); \
  } while (0)

#define FASTANN_CHECK_STATE(cond, msg)                      \
  do {                                                      \
    if (!(cond)) FASTANN_THROW(::fastann::StateError, msg); \
  } while (0)

namespace fastann {

// Checked size arithmetic. Every size computed from user input (a shape's element count, rows * width of a
// workspace, a sum of buffer sizes, a byte count) goes through these, so that a size past int64_t raises ValueError
// naming what was being sized before anything is allocated, instead of wrapping (signed overflow is undefined
// behaviour, and a wrapped size would allocate a small or a huge buffer for the wrong shape).
//   const int64_t n = checked_mul(rows, width, [&] { return "predict: a chunk of " + ...; });
// `what` is a string, or a callable returning one (made only when the check fails).
template <typename What>
[[noreturn]] void throw_size_overflow(const What& what) {
  if constexpr (std::is_invocable_v<const What&>) {
    throw ValueError(std::string(what()) + " is too large: its size overflows a 64-bit integer");
  } else {
    throw ValueError(std::string(what) + " is too large: its size overflows a 64-bit integer");
  }
}

template <typename What>
int64_t checked_mul(int64_t a, int64_t b, const What& what) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) throw_size_overflow(what);
  return r;
}

template <typename What>
int64_t checked_add(int64_t a, int64_t b, const What& what) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) throw_size_overflow(what);
  return r;
}

}  // namespace fastann
