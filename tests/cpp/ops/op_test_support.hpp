// Helpers shared by the op tests (tests/cpp/ops/test_<op>.cpp).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "fastann/error.hpp"

namespace fastann_test {

// fn() must throw UnavailableError naming `op`, the device "cpu" and the dtype "bfloat16" (the ops have no bfloat16
// kernel on the CPU yet).
template <typename Fn>
void expect_unavailable(Fn fn, const char* op) {
  try {
    fn();
    FAIL() << "expected UnavailableError from " << op;
  } catch (const fastann::UnavailableError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(op), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bfloat16"), std::string::npos) << msg;
  }
}

inline bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

}  // namespace fastann_test
