"""Validation shared by readers, models and metrics: 2-D numeric arrays of finite, non-zero rows."""

import numpy as np

from ..errors import SynthError


def check_rows(X, min_rows=1, path=None):
    """Check that ``X`` is a 2-D numeric array with at least ``min_rows`` rows; no copy.

    Raises
    ------
    SynthError
        Naming ``path`` if given.
    """
    X = np.asanyarray(X)
    if X.ndim != 2:
        raise SynthError(f"expected a 2-D array of vectors, got {X.ndim}-D with shape {X.shape}", path)
    if X.dtype.kind not in "fiu":
        raise SynthError(f"values of type {X.dtype} are not numbers", path)
    if len(X) < min_rows:
        raise SynthError(f"{len(X)} vectors are too few: at least {min_rows} are needed", path)
    return X


def unit_rows(X, min_rows=1, path=None, chunk=65536, renormalize=False):
    """Validated rows scaled to unit L2 norm, as C-contiguous float32.

    Returns ``X`` itself when it already is such an array (unless ``renormalize``), else a new one, built in
    chunks so that a memory-mapped input is read once, without a float64 copy.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    min_rows : int, default=1
    path : str, optional
        Named in error messages.
    renormalize : bool, default=False
        Divide by the norms even when ``X`` already holds float32 unit rows, as for a file read (a
        memory-mapped input always is): unit rows saved to a file and read back come out as these bytes,
        which can differ from ``X``'s in the last bit.

    Returns
    -------
    U : ndarray of shape (n_samples, n_features), float32

    Raises
    ------
    SynthError
        On NaN or infinite values, all-zero rows, fewer than 2 columns or ``min_rows`` rows.
    """
    X = check_rows(X, min_rows, path)
    n, d = X.shape
    if d < 2:
        raise SynthError(f"vectors need at least 2 dimensions, got {d}", path)
    if not renormalize and X.dtype == np.float32 and X.flags.c_contiguous and isinstance(X, np.ndarray) and not isinstance(
            X, np.memmap) and np.allclose(np.einsum("ij,ij->i", X, X), 1.0, rtol=0, atol=1e-5):
        return X
    U = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, chunk):
        block = np.asarray(X[start:start + chunk])
        # normalize float64 input in float64, the rest in float32, and round once at the end
        block = block.astype(np.float64 if block.dtype == np.float64 else np.float32, copy=False)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise SynthError(f"row {start + int(np.argmin(finite))} contains NaN or infinite values", path)
        with np.errstate(over="ignore", under="ignore"):
            norms = np.linalg.norm(block, axis=1)
        # the sum of squares over- or underflows for finite rows of norm near 1e38 (float32) or below about
        # 1e-19: those rows are divided by their largest entry first, which leaves every other row's bytes
        # as they were (model files fingerprint the normalised training rows)
        tiny = np.finfo(block.dtype).tiny
        bad = ~np.isfinite(norms) | (norms < np.sqrt(tiny) * np.sqrt(d))
        if bad.any():
            block = block.copy()
            peak = np.max(np.abs(block[bad]), axis=1)
            if not peak.all():
                raise SynthError(f"row {start + int(np.flatnonzero(bad)[np.argmin(peak)])} is all zeros "
                                 "(no direction)", path)
            block[bad] /= peak[:, None]
            norms[bad] = np.linalg.norm(block[bad], axis=1)
        U[start:start + len(block)] = block / norms[:, None]
    return U


def raw_rows(X, min_rows=1, path=None):
    """Validated rows as given (norms kept), as C-contiguous float32: metric ``ip`` and ``l2``.

    The checks of :func:`unit_rows` (finite, non-zero rows, at least 2 columns and ``min_rows`` rows; errors
    name ``path``), and none of the values may overflow float32 (finite float64 rows can).

    Returns
    -------
    R : ndarray of shape (n_samples, n_features), float32
    """
    unit_rows(X, min_rows, path)
    with np.errstate(over="ignore"):  # reported below, in one line
        R = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(R).all():
        raise SynthError("values overflow float32", path)
    return R
