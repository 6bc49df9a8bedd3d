// The device an op runs on: its operands', which must all be on one device (internal to ops/).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "core/check.hpp"
#include "fastann/tensor.hpp"

namespace fastann::ops {

// Every op runs where its tensors live: the device of its operands, which must all be on the same one.
struct DeviceCheck {
  const char* op = "";
  bool set = false;
  Device dev;
  void operator()(const Tensor& t) {
    if (!t.defined()) return;
    if (!set) {
      dev = t.device();
      set = true;
    } else if (t.device() != dev) {
      FASTANN_THROW(ValueError, op << ": operands are on different devices (" << dev.str() << " and "
                                   << t.device().str() << "); move them to one device first");
    }
  }
  bool cuda() const { return set && dev.type == DeviceType::CUDA; }
};

// The device of an op's operands (null ones skipped); ValueError when they differ.
inline DeviceCheck devices(const char* op, std::initializer_list<const Tensor*> ts) {
  DeviceCheck d;
  d.op = op;
  for (const Tensor* t : ts) {
    if (t) d(*t);
  }
  return d;
}

// Every operand has `first`'s dtype (an op's kernel is looked up by it); null or undefined operands are skipped.
inline void check_same_dtype(const char* op, const Tensor& first, std::initializer_list<const Tensor*> others) {
  for (const Tensor* t : others) {
    if (t && t->defined() && t->dtype() != first.dtype()) {
      FASTANN_THROW(ValueError, op << ": operands of dtypes " << dtype_name(first.dtype()) << " and "
                                   << dtype_name(t->dtype()) << " (convert one of them first)");
    }
  }
}

// Rows of a tensor seen as (rows, last axis); a 0-d tensor is one row.
inline int64_t rows_of(const Tensor& t) { return t.ndim() == 0 ? 1 : t.numel() / std::max<int64_t>(t.dim(-1), 1); }
// Its last axis (1 for a 0-d tensor).
inline int64_t cols_of(const Tensor& t) { return t.ndim() == 0 ? 1 : t.dim(-1); }

}  // namespace fastann::ops
