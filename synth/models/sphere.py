"""Uniform random unit vectors: the baseline most benchmarks still use."""

import numpy as np

from ..io.arrays import unit_rows
from .base import Generator, check_array, normalize


class RandomSphere(Generator):
    """Uniform distribution on the unit sphere of the data's dimension.

    Only the dimension is taken from the data: ``x = z / ||z||`` with ``z ~ N(0, I_d)``.
    """

    kind = "random"

    def fit(self, X, y=None):
        X = unit_rows(X, min_rows=1)
        self.dim_ = X.shape[1]
        return self

    def _sample_block(self, m, rng):
        return normalize(rng.standard_normal((m, self.dim_), dtype=np.float32))

    def _arrays(self):
        return {"dim": np.array([self.dim_], dtype=np.int64)}

    def _set_arrays(self, arrays):
        check_array(arrays, "dim", (1,), minimum=2)
        self.dim_ = int(arrays["dim"][0])
