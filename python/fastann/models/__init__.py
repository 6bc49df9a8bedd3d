"""Models (Keras's keras.models): Sequential, and load_model for the files they save."""

from .sequential import Sequential, load_model

__all__ = ["Sequential", "load_model"]
