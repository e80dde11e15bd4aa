"""Synthetic embedding corpora: fit a patch model to real embeddings, sample, and score."""

__version__ = "0.1.0"
