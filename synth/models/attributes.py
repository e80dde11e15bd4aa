"""A numeric attribute on fake rows, learned from real values: for range filters (``price BETWEEN lo AND hi``).

Production vector search filters by numbers as well as by classes: a date, a size, a price, a popularity. Such a
value depends on where a row sits (long package descriptions belong to large packages), and a range filter keeps
a region of the corpus, not a random share of it. An :class:`AttributeModel` learns that dependence from real
values, through a Gaussian copula:

- **the marginal**: the values' quantile table, each level the mean of at least ``min_points`` consecutive sorted
  training values (so no level is one row's value, the extremes included); a fake's value is read off it by
  linear interpolation, and rounded when every training value is a whole number;
- **the dependence on place**: the values' normal scores (ranks mapped through the normal quantile function) are
  regressed on the embedding (ridge); a fake's score is ``a * (its standardised prediction) + sqrt(1 - a^2) *
  (a normal of its own)``, a unit normal whatever ``a``;
- **how strongly values cluster**: ``a`` is set in closed form so that the correlation of a fake's score with its
  10 nearest neighbours' scores, among as many of the corpus model's fakes as training rows, equals that of the
  training rows' normal scores (the numeric counterpart of the labels' purity). When even ``a = 1`` falls short,
  the fit says so (``fit_info_["reached"]``).

Every stored number is a statistic of all N rows (the regression) or of at least ``min_points`` rows (the levels).
A fake's normal is drawn from a stream keyed by the sample's seed and the row's index (:func:`attribute_normals`),
apart from the labels' stream, so values do not depend on chunks, threads or shards.
"""

from pathlib import Path

import numpy as np

from ..errors import SynthError
from .labels import PURITY_K, _neighbours, label_uniforms

PREDICT_BLOCK = 4096  # rows per block of the regression's float64 prediction (memory: 4096 x d x 8 bytes)
MAX_LEVELS = 512  # the quantile table keeps at most this many levels (more training rows: more rows per level)
INTEGER_RANGES = 200  # a whole-number attribute with at most this many distinct levels: ranges chosen among them
ATTRIBUTE_STREAM = 0xA77B  # spawn key of the attribute normals, apart from the rows' and the labels' streams
QUERY_RANGE_STREAM = 0xA77C  # spawn key of the uniforms placing each query's own range (of the query seed)


RESERVED_NAMES = ("id", "vector", "emb", "label", "labels")  # columns beside an attribute's in the outputs


def attribute_name(source):
    """An attribute's name from where its values were read: the file's stem (``sizes.npy``: ``sizes``) or the named
    kind (``gloss-words``); ``attribute`` when there is none or it is a column of the outputs already (``id``,
    ``vector``, ``emb``, ``label``, ``labels``)."""
    name = Path(str(source)).stem if source is not None else ""
    return name if name and name not in RESERVED_NAMES else "attribute"


def attribute_normals(seed, start, stop):
    """The standard normals of rows ``start .. stop-1`` of the attribute stream of a sample seeded by ``seed``."""
    from scipy.special import ndtri

    u = label_uniforms(seed, start, stop, ATTRIBUTE_STREAM)
    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))


def normal_scores(values):
    """Ranks of ``values`` (ties averaged) mapped through the normal quantile function: mean 0, about unit
    variance."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    return ndtri((rankdata(values) - 0.5) / len(values))


def neighbour_correlation(X, scores, k=PURITY_K, nbrs=None):
    """The correlation of each row's standardised ``scores`` with those of its ``k`` nearest other rows (cosine,
    exact): how strongly a numeric attribute clusters in embedding space (0 when it does not depend on place)."""
    z = (scores - scores.mean()) / max(float(scores.std()), 1e-12)
    nbrs = _neighbours(np.ascontiguousarray(X, np.float32), k) if nbrs is None else nbrs
    return float(np.mean(z[:, None] * z[nbrs]))


def read_values(path, n_rows=None):
    """A numeric attribute of a real corpus from a file: ``.npy`` (one number per row) or text (one per line).

    Returns float64 values; refused in one line when the file is unreadable, empty, not 1-d, not numeric, not
    finite, or holds a number of values other than ``n_rows``.
    """
    p = Path(path)
    if not p.is_file():
        raise SynthError("no such attribute file", path)
    try:
        if p.suffix == ".npy":
            v = np.load(p, allow_pickle=False)
        else:
            v = np.array([float(line) for line in p.read_text(encoding="utf-8").split()])
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise SynthError(f"not an attribute file (.npy of one number per row, or text of one per line): {e}",
                         path) from None
    if v.ndim != 1 or not len(v):
        raise SynthError(f"attribute values must be one per row (a 1-d array), got shape {v.shape}", path)
    if v.dtype.kind not in "iuf":
        raise SynthError(f"attribute values must be numbers, got dtype {v.dtype}", path)
    v = v.astype(np.float64)
    if not np.isfinite(v).all():
        raise SynthError(f"{int((~np.isfinite(v)).sum()):,} attribute values are not finite (NaN or inf)", path)
    if n_rows is not None and len(v) != n_rows:
        raise SynthError(f"{len(v):,} attribute values for {n_rows:,} rows: one value per row of the corpus", path)
    return v


def quantile_table(values, min_points, max_levels=MAX_LEVELS):
    """The quantile table of ``values``: ``(levels, positions)``, each level the mean of at least ``min_points``
    consecutive sorted values (at most ``max_levels`` levels; the last takes the remainder), each position the
    middle of its group's ranks as a share of the values. No level is one value's."""
    v = np.sort(np.asarray(values, np.float64))
    group = max(min_points, -(-len(v) // max_levels))
    n_levels = max(1, len(v) // group)
    bounds = np.linspace(0, len(v), n_levels + 1).round().astype(int)
    levels = np.array([v[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])])
    return levels, (bounds[:-1] + bounds[1:]) / 2 / len(v)


def _whole_levels(levels):
    """The distinct whole numbers of a quantile table (its levels rounded) and their cumulative shares (from 0)."""
    vals = np.unique(np.round(levels))
    share = np.array([np.mean(np.round(levels) == x) for x in vals])
    return vals, np.concatenate([[0.0], np.cumsum(share)])


def choose_range(levels, positions, target, integer=False):
    """The range ``[lo, hi]`` whose share of the training values (from the quantile table) is nearest ``target``.

    A real attribute: the window centred on the median, ``lo`` and ``hi`` the quantiles ``(1 - target) / 2`` and
    ``(1 + target) / 2``. A whole-number attribute with at most :data:`INTEGER_RANGES` distinct levels: every range
    between two of them, the one whose share is nearest ``target`` on a log scale (ties: the most central), since
    ties make a centred window miss a narrow target (11 words is 6% of WordNet's glosses); with more levels, the
    centred window widened to whole numbers.
    """
    levels = np.asarray(levels, np.float64)
    if integer:
        vals, cum = _whole_levels(levels)
        if len(vals) <= INTEGER_RANGES:
            i, j = np.triu_indices(len(vals))
            got = cum[j + 1] - cum[i]
            off = np.abs(cum[i] - (1 - cum[j + 1]))  # how far from centred
            best = np.lexsort((off, np.abs(np.log(np.maximum(got, 1e-12) / target))))[0]
            return float(vals[i[best]]), float(vals[j[best]])
    lo = float(np.interp((1 - target) / 2, positions, levels))
    hi = float(np.interp((1 + target) / 2, positions, levels))
    if integer:
        lo, hi = float(np.floor(lo)), float(np.ceil(hi))
    return lo, hi


class AttributeModel:
    """A numeric value for every sampled row, as real rows carry one (see the module's text).

    Parameters
    ----------
    min_points : int, default=20
        The privacy bound: each level of the quantile table is the mean of at least this many training values.
    alpha : float, default=1.0
        Ridge penalty of the regression of the normal scores on the embedding.
    name : str, default="attribute"
        The attribute's name (a column name in the outputs).

    Attributes
    ----------
    levels_ : ndarray of shape (n_levels,), float64
        The quantile table; ``positions_`` the quantile of each level.
    integer_ : bool
        Every training value was a whole number: sampled values are rounded.
    coef_ : ndarray of shape (d,), float32
    intercept_, mean_, scale_ : float
        The regression, and its prediction's mean and standard deviation over the calibration fakes.
    strength_ : float in [0, 1]
        ``a`` of the module's text.
    fit_info_ : dict
        Rows, levels, the regression's R^2 on the training rows, the neighbour correlation of the training rows'
        scores and the one reached among fakes, and whether it was reached.
    """

    def __init__(self, min_points=20, alpha=1.0, name="attribute"):
        self.min_points = min_points
        self.alpha = alpha
        self.name = name

    def fit(self, X, values, fakes):
        """Fit on training rows ``X`` (unit rows) with their ``values`` and calibrate on ``fakes`` of the corpus
        model (as many as ``X``, for the neighbour correlations to compare)."""
        from sklearn.linear_model import Ridge

        v = np.asarray(values, np.float64)
        if len(v) != len(X):
            raise SynthError(f"{len(v):,} attribute values for {len(X):,} rows")
        if len(v) < 2 * self.min_points:
            raise SynthError(f"an attribute needs at least {2 * self.min_points} rows (twice the privacy bound, "
                             f"--min-points), got {len(v)}")
        if np.ptp(v) == 0:
            raise SynthError("the attribute has one value on every row: nothing to model")
        self.levels_, self.positions_ = quantile_table(v, self.min_points, MAX_LEVELS)
        n_levels, group = len(self.levels_), max(self.min_points, -(-len(v) // MAX_LEVELS))
        self.integer_ = bool(np.all(v == np.round(v)))
        u = normal_scores(v)
        reg = Ridge(alpha=self.alpha).fit(X, u)
        self.coef_, self.intercept_ = reg.coef_.astype(np.float32), float(reg.intercept_)
        F = np.ascontiguousarray(fakes, np.float32)
        p = self._predict(F)
        self.mean_, self.scale_ = float(p.mean()), max(float(p.std()), 1e-12)
        target = neighbour_correlation(X, u)
        nbrs = _neighbours(F)
        got = neighbour_correlation(F, p, nbrs=nbrs)  # at a = 1
        self.strength_ = float(np.sqrt(np.clip(target / got, 0.0, 1.0))) if got > 0 else 0.0
        self.fit_info_ = {"rows": int(len(v)), "levels": int(n_levels), "rows_per_level": int(group),
                          "integer": self.integer_, "r2": round(float(reg.score(X, u)), 4),
                          "real_neighbour_correlation": round(target, 4),
                          "fake_neighbour_correlation": round(self.strength_ ** 2 * got, 4),
                          "reached": bool(got >= target), "strength": round(self.strength_, 4),
                          "range": [float(self.levels_[0]), float(self.levels_[-1])]}
        return self

    def _predict(self, X):
        """The regression's prediction for rows ``X``, each row reduced on its own in float64 (a matrix product's
        rounding can depend on how many rows it is given, and a row's value must not depend on its chunk)."""
        X = np.asarray(X)
        coef = self.coef_.astype(np.float64)
        out = np.empty(len(X))
        for a in range(0, len(X), PREDICT_BLOCK):  # in blocks: a float64 copy of a whole chunk would be large
            out[a:a + PREDICT_BLOCK] = (X[a:a + PREDICT_BLOCK].astype(np.float64) * coef).sum(axis=1)
        return out + self.intercept_

    def scores(self, X, normals):
        """Normal scores of rows ``X``, each with its own standard normal from ``normals``."""
        a = self.strength_
        p = (self._predict(X) - self.mean_) / self.scale_
        return a * p + np.sqrt(max(1.0 - a * a, 0.0)) * np.asarray(normals)

    def values(self, X, normals):
        """Attribute values of rows ``X`` (float64), drawn with one standard normal per row
        (:func:`attribute_normals`)."""
        from scipy.special import ndtr

        out = np.interp(ndtr(self.scores(X, normals)), self.positions_, self.levels_)
        return np.round(out) if self.integer_ else out

    def range(self, target):
        """The range ``[lo, hi]`` a filter of selectivity ``target`` keeps (:func:`choose_range`)."""
        return choose_range(self.levels_, self.positions_, target, self.integer_)

    def windows(self, starts, target):
        """Ranges ``[lo, hi]`` holding about ``target`` of the training values each, one per uniform of ``starts``:
        the window of the quantile table from quantile ``u * (1 - target)`` to ``u * (1 - target) + target``
        (linear interpolation between levels, clamped to the table's ends, which bound every sampled value too).
        A whole-number attribute: with at most :data:`INTEGER_RANGES` distinct levels, the range from the level
        nearest the window's start up to the level that makes its share nearest ``target`` on a log scale (as
        :func:`choose_range` chooses; a narrow target is at least one level's share); with more, the window widened
        to whole numbers.

        Returns
        -------
        ndarray of shape (len(starts), 2), float64
        """
        a = np.asarray(starts, np.float64) * (1 - target)
        lo = np.interp(a, self.positions_, self.levels_)
        hi = np.interp(a + target, self.positions_, self.levels_)
        if self.integer_:
            vals, cum = _whole_levels(self.levels_)
            if len(vals) <= INTEGER_RANGES:
                i = np.clip(np.searchsorted(vals, np.round(lo)), 0, len(vals) - 1)
                got = cum[None, 1:] - cum[i][:, None]  # share of [vals[i], vals[j]] for every j
                miss = np.abs(np.log(np.maximum(got, 1e-12) / target))
                miss[np.arange(len(vals))[None, :] < i[:, None]] = np.inf
                lo, hi = vals[i], vals[np.argmin(miss, axis=1)]
            else:
                lo, hi = np.floor(lo), np.ceil(hi)
        return np.stack([lo, hi], axis=1)

    def train_share(self, lo, hi):
        """The share of the quantile table's levels between ``lo`` and ``hi`` (each stands for an equal share of
        the training rows): about the training rows' share."""
        return float(np.mean((self.levels_ >= lo) & (self.levels_ <= hi)))

    def _arrays(self):
        return {"coef": self.coef_, "levels": self.levels_, "positions": self.positions_,
                "scalars": np.array([self.intercept_, self.mean_, self.scale_, self.strength_,
                                     float(self.integer_)], np.float64)}

    def _set_arrays(self, arrays):
        self.coef_ = np.asarray(arrays["coef"], np.float32)
        self.levels_ = np.asarray(arrays["levels"], np.float64)
        self.positions_ = np.asarray(arrays["positions"], np.float64)
        s = np.asarray(arrays["scalars"], np.float64).ravel()
        if self.coef_.ndim != 1 or self.levels_.shape != self.positions_.shape or len(self.levels_) < 1 \
                or len(s) != 5 or not s[2] > 0 or not 0 <= s[3] <= 1 or np.any(np.diff(self.levels_) < 0):
            raise ValueError(f"attribute arrays of shapes {self.coef_.shape}, {self.levels_.shape}, "
                             f"{self.positions_.shape}, scalars {s.tolist()}")
        self.intercept_, self.mean_, self.scale_, self.strength_ = (float(x) for x in s[:4])
        self.integer_ = bool(s[4])
        return self
