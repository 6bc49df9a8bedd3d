// fastann: the public C++ API (umbrella header). Include this and link fastann::fastann.
#pragma once

#include "fastann/distributed.hpp"
#include "fastann/dtype.hpp"
#include "fastann/error.hpp"
#include "fastann/io.hpp"
#include "fastann/model.hpp"
#include "fastann/tensor.hpp"
#include "fastann/version.hpp"
