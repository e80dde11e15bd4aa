"""Reading and writing: embedding files in every format (formats), the checks every input array passes
(arrays), and the model file (artifact)."""

from .arrays import unit_rows
from .artifact import load_model, save_model
from .formats import load_embeddings

__all__ = ["load_embeddings", "load_model", "save_model", "unit_rows"]
