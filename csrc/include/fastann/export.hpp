// FASTANN_API marks the public API. The library is built with hidden visibility, so only these symbols are exported
// from libfastann.so: apps cannot bind to internals, and the internals can change without breaking them.
#pragma once

#if defined(_WIN32)
#define FASTANN_API
#else
#define FASTANN_API __attribute__((visibility("default")))
#endif
