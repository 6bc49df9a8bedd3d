// DType names (see include/fastann/dtype.hpp).
#include "fastann/dtype.hpp"

#include "core/check.hpp"

namespace fastann {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::float32:
      return "float32";
    case DType::bfloat16:
      return "bfloat16";
    case DType::int32:
      return "int32";
    case DType::int64:
      return "int64";
  }
  return "unknown";
}

DType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "float") return DType::float32;
  if (name == "bfloat16" || name == "bf16") return DType::bfloat16;
  if (name == "int32" || name == "int") return DType::int32;
  if (name == "int64" || name == "long") return DType::int64;
  FASTANN_THROW(ValueError, "unknown dtype '" << name << "'; valid dtypes: float32, bfloat16, int32, int64");
}

}  // namespace fastann
