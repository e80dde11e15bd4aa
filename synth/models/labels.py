"""Labels on fake rows, learned from real labels: a categorical attribute for filtered search.

A :class:`LabelModel` is a multinomial logistic regression of the real label on the embedding (scikit-learn's
``LogisticRegression``), fitted on the training rows, with two things calibrated at fit time on the corpus
model's own fakes so that labelled fakes look like labelled real rows:

- **the class frequencies**: each class's intercept moves by ``log(real share / fake share)`` until the fakes'
  expected shares match the training rows' (:data:`FREQUENCY_ROUNDS` rounds);
- **how strongly labels cluster**: the logits are divided by a temperature T, chosen by bisection so that the
  expected label purity of the 10 nearest neighbours among N fakes (the chance that a fake and one of its
  neighbours draw the same label) equals the purity among the N training rows.

A share :data:`BACKGROUND` of the labels is drawn regardless of place (at the training shares), the rest from the
sharpened regression, and T is calibrated with it: real classes have a core and members scattered elsewhere, and
without the scattered part a narrow filter's rows sit too far from most queries (HNSW under a filter of 10% of the
rows cost 1.69x real's on MiniLM-WordNet, 1.13x with it; docs/workloads.md, "Filtered search").

On MiniLM-WordNet (lexicographer files, N = 10,000; docs/workloads/scratch/label_purity.py) real purity is 0.42;
labels drawn from per-patch frequencies give fakes 0.27, the regression at T = 1 gives 0.38 and at T = 0.7 0.45:
a label depends on where a row sits inside its patch, not only on the patch.

The privacy bound: a class is modelled only when at least ``min_points`` training rows carry it; rarer classes
are pooled into one class :data:`OTHER` when together they reach ``min_points`` rows, else their rows are left out
of the fit. Every stored weight is a statistic of all N rows (a linear classifier), never of one row.

A fake's label is drawn from its class probabilities with a uniform number of its own, from a stream keyed by
the sample's seed and the row's index (:func:`label_uniforms`), so that labels, like rows, do not depend on chunks,
shards or threads.
"""

import math
from pathlib import Path

import numpy as np

from ..errors import SynthError

OTHER = "(other)"  # the pooled class of labels with fewer than min_points training rows
FREQUENCY_ROUNDS = 8
TEMPERATURE_RANGE = (0.05, 4.0)
TEMPERATURE_STEPS = 14
PURITY_K = 10
# the share of labels drawn regardless of place: on MiniLM-WordNet it brings HNSW's cost under a 10% filter from 1.69x
# real's to 1.13x (IVF 0.78x to 0.65x), on MiniLM-Debian, not tuned on, from 1.23x to 1.18x (IVF 0.68x both)
# (docs/workloads/scratch/label_classes.py); 0.1 and 0.25 need a temperature at the floor and lose the purity
BACKGROUND = 0.05
CLASS_ROUNDS = 12  # per-class calibration rounds (LabelModel(per_class=True))
LABEL_BLOCK = 65536  # rows per block of the label uniforms' stream
LABEL_STREAM = 0x1ABE1  # spawn key that keeps the label uniforms apart from the rows' own stream


def label_uniforms(seed, start, stop, stream=LABEL_STREAM, block=LABEL_BLOCK, width=None):
    """The uniforms of rows ``start .. stop-1`` of the label stream (or of another keyed ``stream``: the
    attributes', the tags') of a sample seeded by ``seed``, in blocks of ``block`` rows keyed by (stream, block);
    with ``width``, ``width`` uniforms per row, shape (stop - start, width)."""
    out = []
    for b in range(start // block, -(-stop // block)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, b)))
        u = rng.random(block) if width is None else rng.random((block, width))
        out.append(u[max(start - b * block, 0):min(stop - b * block, block)])
    if out:
        return np.concatenate(out)
    return np.empty(0) if width is None else np.empty((0, width))


def _neighbours(X, k=PURITY_K):
    """Each row's ``k`` nearest other rows (cosine, exact)."""
    from ..metrics.neighbors import knn

    return knn(np.ascontiguousarray(X, np.float32), k=k, exclude_self=True)[1]


def label_purity(X, y, k=PURITY_K):
    """The share of each row's ``k`` nearest other rows (cosine, exact) that carry its label, averaged."""
    return float(np.mean(y[_neighbours(X, k)] == y[:, None]))


def class_purity(X, y, n_classes, k=PURITY_K):
    """Per class c, the share of the ``k`` nearest other rows of c's rows that are also of class c (NaN for a
    class without rows)."""
    same = np.mean(y[_neighbours(X, k)] == y[:, None], axis=1)
    counts = np.bincount(y, minlength=n_classes)
    return np.bincount(y, weights=same, minlength=n_classes) / np.where(counts, counts, np.nan)


KNOB_DEFAULTS = {"classes": 20, "purity": 0.4, "zipf": 1.0}  # purity: real MiniLM sets have 0.42-0.44


def parse_knob(text):
    """``classes=C[,purity=P][,zipf=S]`` (labels set by a knob, without real labels) as a dict with the defaults
    filled in, or None when ``text`` is not written that way (a file or a named label kind)."""
    text = str(text)
    if "=" not in text or Path(text).exists():
        return None
    out = dict(KNOB_DEFAULTS)
    for part in text.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in KNOB_DEFAULTS:
            raise SynthError(f"--labels {text}: unknown knob {key!r} (knobs: {', '.join(KNOB_DEFAULTS)})")
        try:
            out[key] = int(value) if key == "classes" else float(value)
        except ValueError:
            raise SynthError(f"--labels {text}: {key} must be a number, got {value!r}") from None
    if not 2 <= out["classes"] <= 10_000:
        raise SynthError(f"--labels {text}: classes must be between 2 and 10,000")
    if not 0 < out["purity"] < 1 or out["zipf"] < 0:
        raise SynthError(f"--labels {text}: purity must be in (0, 1) and zipf >= 0")
    return out


def read_labels(path, n_rows=None):
    """Labels of a real corpus from a file: ``.npy`` (one integer or string per row) or text (one per line).

    Returns a 1-d array of str, one per row; refused in one line when the file is unreadable, empty, not 1-d,
    or holds a number of labels other than ``n_rows``.
    """
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise SynthError("no such labels file", path)
    try:
        if p.suffix == ".npy":
            y = np.load(p, allow_pickle=False)
        else:
            y = np.array(p.read_text(encoding="utf-8").splitlines())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise SynthError(f"not a labels file (.npy of one label per row, or text of one per line): {e}",
                         path) from None
    if y.ndim != 1 or not len(y):
        raise SynthError(f"labels must be one per row (a 1-d array), got shape {y.shape}", path)
    if y.dtype.kind == "f":
        raise SynthError("labels must be integers or strings, not floats", path)
    if n_rows is not None and len(y) != n_rows:
        raise SynthError(f"{len(y):,} labels for {n_rows:,} rows: one label per row of the corpus", path)
    return y.astype(str)


def choose_filter(shares, target):
    """The classes a filter of selectivity ``target`` keeps, from class ``shares`` (dict name -> share).

    Candidates: every class alone, and the k most frequent and the k least frequent classes together for every k;
    the one whose total share is nearest ``target`` on a log scale wins (ties: fewer classes). Returns
    ``(classes, share)``.
    """
    names = sorted(shares, key=lambda c: (-shares[c], c))
    cands = [[c] for c in names]
    cands += [names[:i] for i in range(2, len(names) + 1)] + [names[-i:] for i in range(2, len(names) + 1)]
    best = min(cands, key=lambda s: (abs(math.log(sum(shares[c] for c in s) / target)), len(s)))
    return sorted(best), float(sum(shares[c] for c in best))


class LabelModel:
    """A label for every sampled row, as real rows carry one (see the module's text).

    Parameters
    ----------
    min_points : int, default=20
        The privacy bound: fewest training rows a modelled class must have.
    C : float, default=10.0
        Inverse regularisation of the logistic regression.
    per_class : bool, default=False
        Also scale each class's weights so that its own purity among fakes follows the training rows' (tried, not
        kept: docs/workloads/scratch/label_classes.py).
    background : float in [0, 1), default=BACKGROUND
        Share of labels drawn regardless of place.
    random_state : int, default=0

    Attributes
    ----------
    classes_ : list of str
        The modelled classes (:data:`OTHER` last when rare classes were pooled).
    coef_ : ndarray of shape (n_classes, d), float32
    intercept_ : ndarray of shape (n_classes,), float32
        Calibrated to the training rows' class shares.
    temperature_ : float
    shares_ : ndarray of shape (n_classes,), float32
        The training rows' class shares.
    background_ : float
    fit_info_ : dict
        Rows, classes kept, pooled and left out, and the purity reached (training rows vs fakes).
    """

    def __init__(self, min_points=20, C=10.0, per_class=False, background=BACKGROUND, random_state=0):
        self.min_points = min_points
        self.C = C
        self.per_class = per_class
        self.background = background
        self.random_state = random_state

    def fit(self, X, y, fakes):
        """Fit on training rows ``X`` with labels ``y`` (strings) and calibrate on ``fakes`` of the corpus model
        (as many as ``X`` for the purity to compare)."""
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y).astype(str)
        names, counts = np.unique(y, return_counts=True)
        kept = names[counts >= self.min_points]
        rare = ~np.isin(y, kept)
        pooled = int(rare.sum()) >= self.min_points
        y = np.where(rare, OTHER, y) if pooled else y
        use = np.ones(len(y), bool) if pooled else ~rare
        classes = sorted(kept.tolist()) + ([OTHER] if pooled else [])
        if len(classes) < 2:
            raise SynthError(f"labels: fewer than two classes carry at least {self.min_points} rows (the privacy "
                             "bound, --min-points); nothing to model")
        code = {c: i for i, c in enumerate(classes)}
        target = np.array([code[v] for v in y[use]])
        clf = LogisticRegression(C=self.C, max_iter=500, random_state=self.random_state).fit(X[use], target)
        self.classes_ = classes
        self.coef_ = clf.coef_.astype(np.float32)
        self.intercept_ = clf.intercept_.astype(np.float32)
        self.temperature_ = 1.0
        share = np.bincount(target, minlength=len(classes)) / len(target)
        self.shares_, self.background_ = share.astype(np.float32), float(self.background)
        real_purity = label_purity(X[use], target)
        F = np.ascontiguousarray(fakes, np.float32)
        nbrs = _neighbours(F)  # the fakes' neighbours, for every calibration step
        self._calibrate(F, nbrs, share, real_purity)
        if self.per_class:
            self._calibrate_classes(F, nbrs, share, class_purity(X[use], target, len(classes)))
        self.fit_info_ = self._fit_info(F, nbrs, share, rows=int(use.sum()), classes=len(kept),
                                        pooled_rows=int(rare.sum()) if pooled else 0,
                                        left_out_rows=0 if pooled else int(rare.sum()),
                                        real_purity=round(real_purity, 4))
        return self

    def _fit_info(self, F, nbrs, share, **figures):
        """The fit's figures: the class shares, ``figures``, then the purity reached among fakes ``F`` and the
        temperature (in this order: it is the model file's header entry)."""
        return {"shares": {c: round(float(v), 6) for c, v in zip(self.classes_, share)}, **figures,
                "fake_purity": round(self._expected_purity(F, nbrs), 4),
                "temperature": round(float(self.temperature_), 4)}

    def fit_knob(self, fakes, classes=20, purity=0.4, zipf=1.0):
        """Labels set by a knob, without real labels: ``classes`` classes with Zipf(``zipf``) shares (share of the
        i-th class proportional to 1 / i**zipf), each class's weights a fake drawn at random from ``fakes`` (its
        anchor: rows near it tend to carry it), the intercepts matched to the shares and the temperature to a label
        purity of the 10 nearest neighbours of ``purity`` among the fakes. Nothing here is a statistic of real rows.

        The purity reachable is bounded: from the sum of squared shares (labels regardless of place) to that of a
        hard partition by nearest anchor, about 0.40 for 20 classes on the bundled sample's fakes (real
        lexicographer files: 0.42 with 41 classes); ``fit_info_["fake_purity"]`` says what was reached.
        """
        F = np.ascontiguousarray(fakes, np.float32)
        if len(F) < 10 * classes:
            raise SynthError(f"labels: {classes} classes need at least {10 * classes:,} rows to calibrate on, "
                             f"got {len(F):,}")
        rng = np.random.default_rng(self.random_state)
        share = 1.0 / np.arange(1, classes + 1) ** zipf
        share /= share.sum()
        self.classes_ = [f"c{i:0{len(str(classes - 1))}d}" for i in range(classes)]
        anchors = F[rng.choice(len(F), classes, replace=False)]
        # scaled so that at temperature 1 the logits spread by one unit across classes: the temperature's range
        # then spans labels nearly regardless of place to a hard partition by nearest anchor, at any dimension
        self.coef_ = (anchors / max(float(np.std(F @ anchors.T, axis=1).mean()), 1e-6)).astype(np.float32)
        self.intercept_ = np.zeros(classes, np.float32)
        self.temperature_ = 1.0
        self.shares_, self.background_ = share.astype(np.float32), float(self.background)
        nbrs = _neighbours(F)
        self._calibrate(F, nbrs, share, purity)
        self.fit_info_ = self._fit_info(F, nbrs, share, rows=0, classes=classes, pooled_rows=0, left_out_rows=0,
                                        knob={"classes": classes, "purity": purity, "zipf": zipf})
        return self

    def proba(self, X):
        """Class probabilities of rows ``X``, shape (n, n_classes)."""
        z = (np.asarray(X, np.float32) @ self.coef_.T + self.intercept_) / np.float32(self.temperature_)
        z -= z.max(axis=1, keepdims=True)
        P = np.exp(z)
        P /= P.sum(axis=1, keepdims=True)
        if self.background_:  # a share of labels drawn regardless of place, at the classes' training shares
            P = (1 - self.background_) * P + self.background_ * self.shares_[None, :]
        return P

    def _match_shares(self, F, share):
        for _ in range(FREQUENCY_ROUNDS):
            got = self.proba(F).mean(axis=0)
            self.intercept_ = (self.intercept_ + self.temperature_ * np.log(np.maximum(share, 1e-12)
                                                                           / np.maximum(got, 1e-12))).astype(np.float32)

    def _expected_purity(self, F, nbrs):
        """The chance that a fake and one of its neighbours ``nbrs`` draw the same label."""
        P = self.proba(F)
        return float(np.mean(np.einsum("ic,ikc->ik", P, P[nbrs])))

    def _calibrate(self, F, nbrs, share, target):
        lo, hi = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
        for _ in range(TEMPERATURE_STEPS):  # purity falls as the temperature rises
            mid = (lo + hi) / 2
            self.temperature_ = float(np.exp(mid))
            self._match_shares(F, share)
            lo, hi = (mid, hi) if self._expected_purity(F, nbrs) > target else (lo, mid)
        self.temperature_ = float(np.exp((lo + hi) / 2))
        self._match_shares(F, share)

    def _class_purity(self, F, nbrs):
        """Per class, the expected share of a fake's neighbours drawing its label, weighted by its own chance."""
        P = self.proba(F)
        together = np.einsum("ic,ikc->c", P, P[nbrs]) / PURITY_K
        return together / np.maximum(P.sum(axis=0), 1e-12)

    def _calibrate_classes(self, F, nbrs, share, target):
        """Scale each class's weights so that its own purity among fakes follows the training rows' (a class that
        clusters more than the fakes say gets sharper), keeping the class shares."""
        ok = np.isfinite(target) & (target > 0)
        for _ in range(CLASS_ROUNDS):
            got = self._class_purity(F, nbrs)
            step = np.where(ok, np.log(np.maximum(target, 1e-6) / np.maximum(got, 1e-6)), 0.0)
            self.coef_ = (self.coef_ * np.exp(np.clip(step, -0.5, 0.5))[:, None]).astype(np.float32)
            self._match_shares(F, share)

    def labels(self, X, uniforms):
        """Class indices of rows ``X``, drawn with one uniform per row (:func:`label_uniforms`)."""
        cdf = np.cumsum(self.proba(X), axis=1)
        return np.minimum((cdf < np.asarray(uniforms)[:, None]).sum(axis=1), len(self.classes_) - 1)

    def _arrays(self):
        return {"coef": self.coef_, "intercept": self.intercept_, "shares": self.shares_,
                "temperature": np.array([self.temperature_, self.background_], np.float64)}

    def _set_arrays(self, arrays, classes):
        coef, intercept = np.asarray(arrays["coef"], np.float32), np.asarray(arrays["intercept"], np.float32)
        if coef.ndim != 2 or intercept.shape != (len(coef),) or len(classes) != len(coef):
            raise ValueError(f"label arrays of shapes {coef.shape} and {intercept.shape} for {len(classes)} classes")
        self.coef_, self.intercept_, self.classes_ = coef, intercept, list(classes)
        self.shares_ = np.asarray(arrays["shares"], np.float32)
        self.temperature_, self.background_ = (float(v) for v in np.asarray(arrays["temperature"]).ravel()[:2])
        if self.shares_.shape != intercept.shape or not self.temperature_ > 0 or not 0 <= self.background_ < 1:
            raise ValueError(f"label shares of shape {self.shares_.shape}, temperature {self.temperature_}, "
                             f"background {self.background_}")
        return self
