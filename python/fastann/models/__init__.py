"""Models (Keras's keras.models): Sequential, and load_model for the files they save."""

from .saving import load_model
from .sequential import Sequential

__all__ = ["Sequential", "load_model"]
