// Exceptions thrown by fastann. Every failure the caller can cause is reported as one of these, with a message
// naming the argument, what was expected and what was received. The Python bindings map them onto the built-in
// exception of the same meaning.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

#include "fastann/export.hpp"

namespace fastann {

class FASTANN_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad value or shape (Python: ValueError).
class FASTANN_API ValueError : public Error {
 public:
  using Error::Error;
};

// An argument of the wrong kind, e.g. an unknown name where an enumeration is expected (Python: TypeError).
class FASTANN_API TypeError : public Error {
 public:
  using Error::Error;
};

// The object is not in a state that allows the call, e.g. fit before compile (Python: RuntimeError).
class FASTANN_API StateError : public Error {
 public:
  using Error::Error;
};

// A file could not be read or written, or is not a valid fastann file (Python: OSError). A failed system call carries
// its errno and the file name (Python: the OSError subclass of that errno, e.g. FileNotFoundError, with .errno,
// .strerror and .filename set); an invalid file has error_code() 0.
class FASTANN_API IOError : public Error {
 public:
  using Error::Error;
  // "<action> '<filename>': <strerror(error_code)>"; reason() is the same without the file name.
  IOError(int error_code, const std::string& action, const std::string& filename)
      : Error(action + " '" + filename + "': " + std::generic_category().message(error_code)),
        error_code_(error_code),
        filename_(filename),
        reason_(action + ": " + std::generic_category().message(error_code)) {}
  int error_code() const noexcept { return error_code_; }
  const std::string& filename() const noexcept { return filename_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  int error_code_ = 0;
  std::string filename_, reason_;
};

// A memory allocation that cannot succeed, e.g. a layer far larger than the machine's memory (Python: MemoryError).
class FASTANN_API OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

// The requested device or feature is not available in this build or on this machine (Python: RuntimeError).
class FASTANN_API UnavailableError : public Error {
 public:
  using Error::Error;
};

// A call that its should_stop hook ended before it was done (predict; Python: KeyboardInterrupt where the hook saw
// Ctrl-C). The model is as before the call.
class FASTANN_API Interrupted : public Error {
 public:
  using Error::Error;
};

// A CUDA runtime or kernel failure (a call that returned an error, a failed launch, a fault seen at the next
// synchronisation); the message names the CUDA error and the call site (Python: RuntimeError).
class FASTANN_API CudaError : public Error {
 public:
  using Error::Error;
};

}  // namespace fastann
