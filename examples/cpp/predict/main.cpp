// Loads a model saved from Python (model.save) or C++ (fastann::save_model) and prints its predictions, one line per
// input row, values separated by commas, with full float precision (%.9g: the exact float32 value).
//
//   predict MODEL_FILE ROWS.csv   one row per line, values separated by commas or spaces ('#' comments, blank
//                                 lines ignored); each row has the model's input_dim values
//   predict MODEL_FILE ROWS.bin   raw little-endian float32, row after row (n * input_dim values)
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fastann/fastann.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Rows of a CSV (or whitespace separated) text file, each with `cols` values.
std::vector<float> read_csv(const std::string& path, int64_t cols) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<float> values;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    for (char& c : line) {
      if (c == ',' || c == ';' || c == '\t' || c == '\r') c = ' ';
    }
    int64_t n = 0;
    const char* p = line.c_str();
    for (;;) {
      while (*p == ' ') ++p;
      if (*p == '\0') break;
      char* end = nullptr;
      errno = 0;
      const float v = std::strtof(p, &end);  // the nearest float: "%.9g" text round-trips exactly
      const bool overflow = errno == ERANGE && std::isinf(v);
      if (end == p || (*end != ' ' && *end != '\0') || overflow) {
        std::string token(p);
        token.resize(std::min(token.find(' '), token.size()));
        std::ostringstream msg;
        msg << path << ":" << line_no << ": " << (overflow ? "out of float32 range" : "not a number") << ": '" << token
            << "'";
        throw std::runtime_error(msg.str());
      }
      values.push_back(v);
      ++n;
      p = end;
    }
    if (n != 0 && n != cols) {
      std::ostringstream msg;
      msg << path << ":" << line_no << ": " << n << " values, but the model takes " << cols << " features";
      throw std::runtime_error(msg.str());
    }
  }
  return values;
}

// Raw little-endian float32 values, a whole number of rows of `cols` values.
std::vector<float> read_bin(const std::string& path, int64_t cols) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::streamoff bytes = in.tellg();
  const int64_t row_bytes = cols * static_cast<int64_t>(sizeof(float));
  if (bytes < 0 || bytes % row_bytes != 0) {
    std::ostringstream msg;
    msg << path << ": " << bytes << " bytes is not a whole number of rows of " << cols << " float32 values ("
        << row_bytes << " bytes each)";
    throw std::runtime_error(msg.str());
  }
  std::vector<float> values(static_cast<size_t>(bytes / static_cast<std::streamoff>(sizeof(float))));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(values.data()), bytes)) throw std::runtime_error("cannot read " + path);
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL_FILE ROWS.csv|ROWS.bin\n", argc > 0 ? argv[0] : "predict");
    return 2;
  }
  try {
    const fastann::Sequential model = fastann::load_model(argv[1]);
    const int64_t cols = model.input_dim();
    const std::string rows_path = argv[2];
    std::vector<float> x = ends_with(rows_path, ".bin") ? read_bin(rows_path, cols) : read_csv(rows_path, cols);
    const int64_t n = static_cast<int64_t>(x.size()) / cols;

    const fastann::Tensor y = model.predict(fastann::Tensor::view(x.data(), {n, cols}));
    const int64_t outs = model.output_dim();
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t j = 0; j < outs; ++j) {
        std::printf(j ? ",%.9g" : "%.9g", static_cast<double>(y.data()[r * outs + j]));
      }
      std::printf("\n");
    }
  } catch (const std::exception& e) {  // fastann::Error (bad model file: IOError) and read errors
    std::fprintf(stderr, "predict: %s\n", e.what());
    return 1;
  }
  return 0;
}
