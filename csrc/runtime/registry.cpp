// The backend registry (one backend per device type, filled once on first use) and the thread's current stream.
#include <array>
#include <mutex>
#include <string>

#include "fastann/error.hpp"
#include "runtime/backend.hpp"
#include "runtime/plugins.hpp"

namespace fastann::runtime {

namespace {

constexpr size_t kTypes = 2;  // DeviceType::CPU, DeviceType::CUDA

std::array<Backend*, kTypes>& backends() {
  static std::array<Backend*, kTypes> table = [] {
    std::array<Backend*, kTypes> t{};
    t[static_cast<size_t>(DeviceType::CPU)] = &cpu_backend();
#ifdef FASTANN_HAS_CUDA_BACKEND
    t[static_cast<size_t>(DeviceType::CUDA)] = &cuda_backend();
#endif
    return t;
  }();
  return table;
}

const char* type_name(DeviceType type) { return type == DeviceType::CPU ? "CPU" : "CUDA"; }

thread_local void* t_stream = nullptr;  // the innermost StreamScope's stream

}  // namespace

Backend* find_backend(DeviceType type) {
  const auto i = static_cast<size_t>(type);
  return i < kTypes ? backends()[i] : nullptr;
}

Backend& backend(DeviceType type) {
  if (Backend* b = find_backend(type)) return *b;
  throw UnavailableError(std::string("this build of fastann has no ") + type_name(type) +
                         " backend (built without "
                         "the " +
                         type_name(type) + " backend)");
}

Backend& backend(Device device) {
  if (Backend* b = find_backend(device.type)) return *b;
  throw UnavailableError("device " + device.str() + " is not supported by this build of fastann (built without the " +
                         type_name(device.type) + " backend)");
}

int device_count(DeviceType type) {
  Backend* b = find_backend(type);
  return b ? b->device_count() : 0;
}

StreamScope::StreamScope(const std::shared_ptr<void>& stream) : prev_(t_stream) { t_stream = stream.get(); }
StreamScope::~StreamScope() { t_stream = prev_; }
void* current_stream() { return t_stream; }

}  // namespace fastann::runtime
