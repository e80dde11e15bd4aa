"""The generator interface shared by every model: scikit-learn estimator contract plus block-seeded sampling."""

import numpy as np
from sklearn.base import BaseEstimator

from ..errors import SynthError

# Rows are generated in blocks of this many; block b draws from SeedSequence(seed, spawn_key=(b,)), so row r
# is the same whatever chunk size, shard split or n the caller asks for (sample(n)[:m] == sample(m)).
BLOCK_ROWS = 4096


def check_seed(random_state):
    """Resolve ``random_state`` (None or int) to a non-negative int entropy value."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, (int, np.integer)) and random_state >= 0:
        return int(random_state)
    raise ValueError(f"random_state must be None or a non-negative int, got {random_state!r}")


_BLAS = None


def one_blas_thread():
    """Context in which BLAS runs on one thread.

    Multi-threaded BLAS splits a matrix product differently for different thread counts, which changes the
    last bit of some results; blocks are generated under this limit so that their bytes do not depend on the
    machine's cores, a Dask worker's settings or the caller's threads.
    """
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def blas_threads():
    """The number of threads BLAS runs on here (at least 1): the cores, or the limit the caller set."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return max([lib.num_threads for lib in _BLAS.select(user_api="blas").lib_controllers] + [1])


def block_rng(seed, block):
    """The generator of block ``block`` of the stream seeded by ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(block),)))


class Generator(BaseEstimator):
    """A fitted model of a set of unit vectors that can sample new ones.

    Subclasses implement ``fit(X)``, ``_sample_block(m, rng)``, ``_arrays()`` and ``_set_arrays(arrays)``
    (the fitted state, as named numpy arrays, for the model file).
    """

    kind = None  # name in the model registry and the model file

    @property
    def n_features_(self):
        return int(self.dim_)

    def _check_fitted(self):
        if not hasattr(self, "dim_"):
            raise SynthError(f"this {type(self).__name__} is not fitted yet")

    def _blocks(self, seed, start, stop):
        """Rows start .. stop-1 of the stream, as slices of whole generated blocks."""
        for b in range(start // BLOCK_ROWS, -(-stop // BLOCK_ROWS)):
            with one_blas_thread():
                block = self.sample_block(BLOCK_ROWS, block_rng(seed, b))
            yield block[max(start - b * BLOCK_ROWS, 0):min(stop - b * BLOCK_ROWS, BLOCK_ROWS)]

    def iter_samples(self, n, random_state=None, start=0, chunk_size=65536):
        """Yield rows ``start .. n-1`` of the sample stream in chunks.

        Parameters
        ----------
        n : int
            End of the row range (exclusive).
        random_state : int or None
            Seed of the stream. Row r depends only on (random_state, r).
        start : int, default=0
            First row, e.g. the start of a shard.
        chunk_size : int, default=65536
            Rows per yielded chunk (the last may be shorter); it does not change the values.

        Yields
        ------
        chunk : ndarray of shape (m, n_features), float32, unit rows
        """
        self._check_fitted()
        seed = check_seed(random_state)
        if not 0 <= start <= n:
            raise ValueError(f"need 0 <= start <= n, got start={start}, n={n}")
        chunk_size = max(1, int(chunk_size))
        pending, have = [], 0
        for block in self._blocks(seed, start, n):
            pending.append(block)
            have += len(block)
            while have >= chunk_size:
                buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
                yield buf[:chunk_size]
                pending, have = [buf[chunk_size:]], have - chunk_size
        if have:
            yield np.concatenate(pending)

    def sample(self, n, random_state=None):
        """Draw ``n`` unit vectors.

        Parameters
        ----------
        n : int
        random_state : int or None
            Seed; the same seed gives the same rows, and ``sample(n)[:m] == sample(m)``.

        Returns
        -------
        X : ndarray of shape (n, n_features), float32
        """
        self._check_fitted()
        out = np.empty((n, self.n_features_), dtype=np.float32)
        row = 0
        for block in self._blocks(check_seed(random_state), 0, n):
            out[row:row + len(block)] = block
            row += len(block)
        return out

    def sample_block(self, m, rng):
        """``m`` rows drawn with ``rng``: ``_sample_block``, checked to be finite before anyone writes them.

        Raises
        ------
        SynthError
            Naming the model file (``path_``, set by :func:`synth.io.artifact.load_model`) when a row holds
            NaN or infinite values, e.g. a model whose finite parameters overflow float32 when combined.
        """
        block = self._sample_block(m, rng)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise SynthError(f"the model produced a non-finite vector (row {int(np.argmin(finite))} of a block): "
                             "its parameters are unusable; nothing was written", getattr(self, "path_", None))
        return block

    def _sample_block(self, m, rng):
        raise NotImplementedError

    def _arrays(self):
        raise NotImplementedError

    def _set_arrays(self, arrays):
        raise NotImplementedError


def normalize(Y):
    """Scale rows of a float32 array to unit norm, in place; returns it."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # sample_block refuses what breaks here
        Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    return Y


def check_array(arrays, name, shape, minimum=None):
    """Check a model-file array's shape (None = any length on that axis) and lower bound; returns it.

    Raises
    ------
    ValueError
        Naming the array, for :func:`synth.io.artifact.load_model` to report in one line.
    """
    a = arrays[name]
    if a.ndim != len(shape) or any(want is not None and got != want for got, want in zip(a.shape, shape)):
        want = "(" + ", ".join("*" if w is None else str(w) for w in shape) + ")"
        raise ValueError(f"array {name!r} has shape {a.shape}, expected {want}")
    if minimum is not None and a.size and not (a >= minimum).all():
        raise ValueError(f"array {name!r} has values below {minimum}")
    return a
