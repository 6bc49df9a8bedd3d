"""Optimizers (Keras names, defaults and update rules; the updates run in C++ as one fused step).

Update rules, as Keras 3:
  SGD      m = momentum*m - lr*g; w += m   (nesterov: w += momentum*m - lr*g); no momentum: w -= lr*g
  Adam     m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
           w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
  AdamW    Adam after decoupled weight decay w -= lr * weight_decay * w
  RMSprop  v = rho*v + (1 - rho) g^2; w -= lr * g / sqrt(v + epsilon)   (momentum, centered as Keras)
  Adagrad  acc += g^2 (acc starts at initial_accumulator_value); w -= lr * g / sqrt(acc + epsilon)
  Lion     w -= lr * sign(beta_1*m + (1 - beta_1) g); m = beta_2*m + (1 - beta_2) g
"""

from __future__ import annotations

from .._module_path import set_module as _set_module
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .lion import Lion
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .serialization import from_config, get
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion", "get", "from_config"]

_set_module(globals(), __all__)
del _set_module
