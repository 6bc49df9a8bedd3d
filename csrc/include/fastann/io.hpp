// The model file: one file holding a Sequential's architecture, compile configuration, weights and (optionally) its
// optimizer state, shared by Python (`model.save` / `fastann.models.load_model`) and C++.
//
// Layout (safetensors, so tools without fastann can read the weights):
//   u64 little-endian header length N | N bytes of JSON header (space padded) | raw little-endian float32 data
// The header maps each tensor name ("dense/kernel", "dense/bias", ..., "optimizer/dense/kernel/m", ...) to its dtype,
// shape and [begin, end) byte offsets in the data section, and holds a "__metadata__" object of strings:
//   format = "fastann.model", format_version = "1", config = the model as JSON, data_crc32 = CRC-32 of the data.
//
//   fastann::save_model(model, "model.fastann");          // atomic: temporary file + rename
//   fastann::Sequential m = fastann::load_model("model.fastann");
//   fastann::Tensor y = m.predict(fastann::Tensor::view(rows, {n, m.input_dim()}));
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "fastann/export.hpp"
#include "fastann/model.hpp"

namespace fastann {

// The newest model-file format version this library writes and reads.
constexpr int kModelFormatVersion = 1;

// Writes `model` to `path` atomically: the file appears complete or not at all (a previous file at `path` is kept
// until the new one is in place). include_optimizer: also store the compile configuration's optimizer state
// (slots and iteration count), so a loaded model resumes training exactly where this one stopped.
// A model that is not built is saved without weights (its architecture and compile configuration only).
// Throws IOError when the file cannot be written.
FASTANN_API void save_model(const Sequential& model, const std::string& path, bool include_optimizer = true);
// The same, polling should_stop (when set) between 1 MiB chunks of the write: when it answers true the
// save ends with fastann::Interrupted, the temporary file removed and a previous file at `path` untouched.
FASTANN_API void save_model(const Sequential& model, const std::string& path, bool include_optimizer,
                            const std::function<bool()>& should_stop);

// Reads a model written by save_model (from Python or C++). A file that is not a valid fastann model (truncated,
// inconsistent offsets, wrong dtype, foreign or newer format, bad JSON, data that fails its checksum, ...) is
// rejected with IOError naming the problem; the reader never trusts a size or offset it has not checked.
FASTANN_API Sequential load_model(const std::string& path);

// As load_model, from a file's bytes in memory (e.g. a model embedded in the application).
FASTANN_API Sequential load_model_from_memory(const void* data, size_t size);

// The model's architecture and compile configuration as JSON, as the model file stores it:
// {"class_name": "Sequential", "name", "built", "input_dim", "layers": [{"class_name": "Dense"|"Activation"|
//  "Dropout"|"BatchNormalization", "config": {...}}], "compile": null | {"optimizer": {...}, "loss": {...},
//  "metrics": [...], optional "weighted_metrics": [...]}}. A metric is its name, or {"name", "display_name", "k",
//  "num_thresholds", "threshold"} when it has other parameters or is reported under another name. Weights are stored
//  as "<layer>/<name>" (kernel, bias, gamma, beta, moving_mean, moving_variance); optimizer slots exist for the
//  trainable ones only.
FASTANN_API std::string model_config_json(const Sequential& model);

// The file's bytes, as save_model would write them.
FASTANN_API std::string serialize_model(const Sequential& model, bool include_optimizer = true);

}  // namespace fastann
