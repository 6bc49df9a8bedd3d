// fastann: the public C++ API (umbrella header). Include this and link fastann::fastann.
#pragma once

#include "fastann/distributed.hpp"
#include "fastann/dtype.hpp"
#include "fastann/error.hpp"
#include "fastann/fit.hpp"
#include "fastann/io.hpp"
#include "fastann/layers.hpp"
#include "fastann/losses.hpp"
#include "fastann/metrics.hpp"
#include "fastann/model.hpp"
#include "fastann/optimizers.hpp"
#include "fastann/tensor.hpp"
#include "fastann/version.hpp"
