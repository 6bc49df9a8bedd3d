// The device-index check every CUDA backend (the real one, the test-only emulator) makes, with the same messages.
// Plain C++: no CUDA headers.
#pragma once

#include <string>

#include "fastann/error.hpp"

namespace fastann::cuda {

// Throws UnavailableError unless 0 <= device < count; why_none says why count is 0.
inline void require_device_index(int device, int count, const std::string& why_none) {
  if (count == 0) {
    throw UnavailableError("CUDA device cuda:" + std::to_string(device) + " was requested, but no CUDA device is " +
                           "available (" + why_none + "); fastann.cuda.is_available() is False: use device='cpu'");
  }
  if (device < 0 || device >= count) {
    throw UnavailableError("CUDA device cuda:" + std::to_string(device) + " does not exist: this machine has " +
                           std::to_string(count) + " CUDA device(s)");
  }
}

}  // namespace fastann::cuda
