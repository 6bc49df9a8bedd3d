// Registries: the one mechanism by which layers, optimizers, losses, metrics and op kernels are found.
//   Registry<Entry>      Keras name -> entry (a factory, a descriptor), for the roles nn/ and io/ look up by name.
//   KernelTable<Fn>      (device type, dtype) -> kernel function pointer, one table per op (ops/<op>/).
// Registration is explicit (each role has one function that adds its entries, called once on first lookup), not by
// static initialisers: a static library drops object files nothing references, and their registrations with them.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "fastann/dtype.hpp"
#include "fastann/tensor.hpp"

namespace fastann {

inline constexpr int kNumDeviceTypes = 2;  // DeviceType::CPU, DeviceType::CUDA

template <typename Entry>
class Registry {
 public:
  // `role` names the registry in errors ("layer", "optimizer", ...); `fill` adds the built-in entries, once.
  using Filler = void (*)(Registry&);
  Registry(const char* role, Filler fill) : role_(role), fill_(fill) {}

  // Adds an entry; an existing name is an error (two implementations of one Keras name).
  void add(const std::string& name, Entry entry) {
    const bool fresh = entries_.emplace(name, std::move(entry)).second;
    FASTANN_CHECK_STATE(fresh, role_ << " '" << name << "' is registered twice");
  }
  // The entry of `name`, or null.
  const Entry* find(const std::string& name) const {
    ensure_filled();
    const auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  // The entry of `name`; ValueError listing the registered names otherwise.
  const Entry& get(const std::string& name) const {
    if (const Entry* e = find(name)) return *e;
    FASTANN_THROW(ValueError, "unknown " << role_ << " '" << name << "'; valid " << role_ << "s: " << names_list());
  }
  std::vector<std::string> names() const {
    ensure_filled();
    std::vector<std::string> out;
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
  }
  std::string names_list() const {
    std::string s;
    for (const std::string& n : names()) s += (s.empty() ? "" : ", ") + n;
    return s;
  }

 private:
  void ensure_filled() const {
    std::call_once(filled_, [this] { fill_(const_cast<Registry&>(*this)); });
  }
  const char* role_;
  Filler fill_;
  mutable std::once_flag filled_;
  std::map<std::string, Entry> entries_;
};

// One op's kernels by (device type, dtype). A missing entry is an UnavailableError naming op, device and dtype.
template <typename Fn>
class KernelTable {
 public:
  explicit KernelTable(const char* op) : op_(op) {}
  void add(DeviceType device, DType dtype, Fn fn) { slot(device, dtype) = fn; }
  bool has(DeviceType device, DType dtype) const { return slot(device, dtype) != nullptr; }
  Fn lookup(DeviceType device, DType dtype) const {
    const Fn fn = slot(device, dtype);
    if (fn == nullptr) {
      FASTANN_THROW(UnavailableError, op_ << ": no kernel for device " << (device == DeviceType::CPU ? "cpu" : "cuda")
                                          << " and dtype " << dtype_name(dtype) << " in this build");
    }
    return fn;
  }
  const char* op() const { return op_; }

 private:
  Fn& slot(DeviceType d, DType t) { return table_[static_cast<size_t>(d)][static_cast<size_t>(t)]; }
  const Fn& slot(DeviceType d, DType t) const { return table_[static_cast<size_t>(d)][static_cast<size_t>(t)]; }
  const char* op_;
  std::array<std::array<Fn, kNumDTypes>, kNumDeviceTypes> table_{};
};

}  // namespace fastann
