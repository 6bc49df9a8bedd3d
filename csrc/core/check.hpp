// Argument and state checks that throw fastann exceptions with a streamed message:
//   FASTANN_CHECK_ARG(x.ndim() == 2, "x must be 2-D, got shape " << shape_str(x.shape()));
#pragma once

#include <sstream>

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
