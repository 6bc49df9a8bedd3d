// The JSON forms of the pieces layer configs share (activations, initializers, regularizers, seeds, the declared
// input shape): written by each layer's to_json, read back by its from_json. Keys are those of format version 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/json.hpp"
#include "fastann/layers.hpp"

namespace fastann::nn {

using io::Json;

inline constexpr int64_t kMaxDim = int64_t{1} << 40;  // the largest dimension a config may declare

Json number_or_null(double v);
Json initializer_json(const InitializerSpec& s);
Json regularizer_json(const std::optional<Regularizer>& r);
Json seed_json(const std::optional<uint64_t>& seed);  // a string: JSON numbers lose integers above 2^53

// Readers: every failure is an IOError naming the JSON path (Sequential::add reports it as a ValueError).
ActivationSpec activation_from(const Json& c, const std::string& path);  // "activation", "activation_alpha"
uint64_t seed_from(const Json& seed, const std::string& path);
std::optional<uint64_t> optional_seed_from(const Json& c, const std::string& path);  // "seed": null or a string
InitializerSpec initializer_from(const Json& j, const std::string& path);
// An optional regularizer: absent or null is none (files written before regularizers existed have no key).
std::optional<Regularizer> regularizer_from(const Json& c, const char* key, const std::string& path);
const std::string& name_from(const Json& c, const std::string& path);  // "name" (may be empty: a default is given)

// The input shape a layer was declared with (empty: from the previous layer): "input_dim": d for one axis (0 when
// undeclared: the form of version 1 files), else "input_shape": [d0, d1, ...].
void set_input_shape(Json& c, const Shape& declared);
Shape input_shape_from(const Json& c, const std::string& path);
Json shape_json(const Shape& s);
Shape shape_from(const Json& j, const std::string& path, int64_t lo);  // every dimension in [lo, kMaxDim]

}  // namespace fastann::nn
