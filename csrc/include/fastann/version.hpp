// fastann version, for compile-time checks by embedding applications.
#pragma once

#define FASTANN_VERSION_MAJOR 0
#define FASTANN_VERSION_MINOR 1
#define FASTANN_VERSION_PATCH 0
#define FASTANN_VERSION_STRING "0.1.0"

#include "fastann/export.hpp"

namespace fastann {
// The version of the library actually linked (may differ from the header's when linked dynamically).
FASTANN_API const char* version();
}  // namespace fastann
