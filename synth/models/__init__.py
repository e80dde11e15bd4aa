"""Generators of unit vectors: the patch model, the statistics-matched fog, and uniform random."""

from .base import BLOCK_ROWS, Generator
from .fog import Fog
from .patch import PatchPCA
from .sphere import RandomSphere

MODELS = {cls.kind: cls for cls in (PatchPCA, Fog, RandomSphere)}

__all__ = ["BLOCK_ROWS", "Fog", "Generator", "MODELS", "PatchPCA", "RandomSphere"]
