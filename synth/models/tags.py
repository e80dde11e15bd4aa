"""Several labels (tags) per fake row, learned from real tags: big-ann-benchmarks' filtered track (YFCC), where a
row carries a set of words and a query's one or two words must all be among them.

A :class:`TagModel` is one logistic regression per tag (one-vs-rest, scikit-learn's ``LogisticRegression``) on the
embedding, fitted on the training rows, with two things calibrated at fit time on the corpus model's own fakes:

- **each tag's frequency**: its intercept moves by ``T * (logit(real share) - logit(fake share))`` until the fakes'
  expected share of rows carrying it matches the training rows' (:data:`FREQUENCY_ROUNDS` rounds);
- **how strongly tags cluster**: the logits are divided by one temperature T, chosen by bisection so that the
  expected *tag purity* of the 10 nearest neighbours among N fakes equals the training rows'. Tag purity is the
  chance that a neighbour of a row carries a tag the row carries, over all (row, tag, neighbour):
  ``sum_i sum_{j in nn(i)} |T_i & T_j| / (k sum_i |T_i|)``; with one label per row it is the label purity of
  :mod:`synth.models.labels`. Among fakes, with tags drawn independently, its expectation is
  ``sum_i sum_j sum_t p_it p_jt / (k sum_i sum_t p_it)``.

Real tags come in bundles: on MiniLM-Debian 53% of the rows carry no tag and the others 3.3 on average. A *gate*
models that: one more logistic regression, of whether a row carries any tag, and the tags' regressions are fitted on
the tagged rows alone, so a tag's chance at a row is the gate's chance times the tag's chance given the gate; the
gate's intercept is matched so that the share of fakes drawing at least one tag is the share of tagged training
rows, and the same temperature divides its logit. (No
gate when fewer than ``min_points`` rows are tagged, or untagged, or when a tag is on every tagged row.)

A share :data:`synth.models.labels.BACKGROUND` of each chance (the gate's and each tag's given it) is drawn
regardless of place, at the training shares, as for one label per row.

The privacy bound: a tag is modelled only when at least ``min_points`` training rows carry it; rarer tags are
dropped (a row keeps its other tags). Every stored weight is a statistic of all N rows.

A fake's tags are drawn independently given the row and the gate: the row is tagged when its gate uniform falls
below the gate's chance, and then carries tag t when uniform (row, t) falls below the tag's chance given the gate;
the uniforms come from a stream keyed by the sample's seed and the row's index (:func:`tag_uniforms`), so that tags,
like rows, do not depend on chunks, shards or threads.

With ``bundles`` (`synth fit --tag-bundles M`, opt-in) tags that go together are drawn together: the tagged training
rows' tag sets are clustered into at most M bundles (k-means on the tag indicators, each bundle of at least
``min_points`` rows), a multinomial logistic regression gives a tagged row's chance of each bundle, and a row drawn
into bundle b carries tag t with log-odds ``bundles_[b, t] + (w_t . x + c_t) / T`` (the bundle's own log-odds of t
relative to t's share, plus the tag's regression); the bundle is drawn with the low digits of the gate uniform
(:data:`BUNDLE_BITS`). The intercepts, the gate and the temperature are calibrated as without bundles, on the chances
summed over the bundles (a row's chance of tag t is still ``gate * sum_b P(b | x) P(t | x, b)``, and the expected
purity among fakes is still that of independent rows).

A tags file (`synth fit --labels FILE --multi-label`) is text, one line per row, the row's tags comma-separated
(spaces around a tag are dropped; an empty line: a row without tags). Without ``--multi-label`` a labels file is
read as before, one label per line (commas included), and the model file is the same, byte for byte.
"""

from pathlib import Path

import numpy as np

from ..errors import SynthError
from .labels import BACKGROUND, FREQUENCY_ROUNDS, LabelModel, _neighbours, label_uniforms

TAG_STREAM = 0x7A65  # spawn key that keeps the tag uniforms apart from the rows' and the one-label stream
TAG_BLOCK = 4096  # rows per block of the tag uniforms' stream (a block holds one uniform per row and tag)
# the share of queries with two tags under the per-query filter (the others have one); big-ann's YFCC queries have one
# or two words, in a proportion its files hold and we do not: an even split is our choice
TWO_TAGS = 0.5
# a bundle model's row picks its bundle with the gate's uniform's low digits (frac(u * 2**BUNDLE_BITS)): nearly
# independent of whether the uniform falls below the gate's chance or TWO_TAGS, and no column added to the stream
BUNDLE_BITS = 16


def tag_uniforms(seed, start, stop, n_tags):
    """The uniforms of rows ``start .. stop-1`` of the tag stream of a sample seeded by ``seed``, shape
    (stop - start, n_tags + 1) (the last: the gate's): row r's do not depend on the rows drawn with it."""
    return label_uniforms(seed, start, stop, stream=TAG_STREAM, block=TAG_BLOCK, width=n_tags + 1)


def read_tags(path, n_rows=None):
    """Tags of a real corpus from a text file: one line per row, the row's tags comma-separated (an empty line: no
    tag). Returns a list of tuples of str (sorted, distinct), one per row; refused in one line when the file is
    unreadable, empty, or holds a number of lines other than ``n_rows``."""
    p = Path(path)
    if not p.is_file():
        raise SynthError("no such tags file", path)
    if p.suffix == ".npy":
        raise SynthError("a tags file (--multi-label) is text: one line per row, its tags comma-separated", path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise SynthError(f"not a tags file (text, one line of comma-separated tags per row): {e}", path) from None
    if not lines:
        raise SynthError("the tags file is empty", path)
    if n_rows is not None and len(lines) != n_rows:
        raise SynthError(f"{len(lines):,} lines of tags for {n_rows:,} rows: one line per row of the corpus", path)
    return [tuple(sorted({t.strip() for t in line.split(",") if t.strip()})) for line in lines]


def tag_matrix(tag_lists, names):
    """The rows' tags as a bool array of shape (n_rows, len(names)); tags not in ``names`` are dropped."""
    col = {t: i for i, t in enumerate(names)}
    Y = np.zeros((len(tag_lists), len(names)), bool)
    for i, tags in enumerate(tag_lists):
        Y[i, [col[t] for t in tags if t in col]] = True
    return Y


def tag_purity(Y, nbrs):
    """The chance that a neighbour (``nbrs``: each row's neighbours' indices) of a row carries a tag the row carries,
    over all (row, tag, neighbour); ``Y`` a 0/1 or chance array of shape (n_rows, n_tags). NaN without tags."""
    Y = np.asarray(Y, np.float32)
    together = sum(float(np.sum(Y * Y[nbrs[:, j]])) for j in range(nbrs.shape[1]))
    total = float(Y.sum()) * nbrs.shape[1]
    return together / total if total else float("nan")


def tag_jaccard(Y, nbrs):
    """The mean Jaccard index of a row's tag set with each of its neighbours' (``Y`` bool (n_rows, n_tags)); pairs
    of rows both without tags count 1."""
    Y = np.asarray(Y, bool)
    out = []
    for j in range(nbrs.shape[1]):
        Z = Y[nbrs[:, j]]
        inter, union = (Y & Z).sum(axis=1), (Y | Z).sum(axis=1)
        out.append(np.where(union > 0, inter / np.maximum(union, 1), 1.0))
    return float(np.mean(out))


class TagModel(LabelModel):
    """A set of tags for every sampled row, as real rows carry them (see the module's text).

    Parameters
    ----------
    min_points : int, default=20
        The privacy bound: fewest training rows a modelled tag must be carried by.
    C : float, default=10.0
        Inverse regularisation of each tag's logistic regression.
    background : float in [0, 1), default=BACKGROUND
        Share of each tag's chance drawn regardless of place.
    random_state : int, default=0
    bundles : int, default=0
        With M > 0, model which tags go together: the tagged training rows' tag sets are clustered into at most M
        bundles (k-means on the tag indicators; a cluster of fewer than ``min_points`` rows is merged into the
        nearest kept one), a multinomial logistic regression gives a tagged row's chance of each bundle, and given
        its bundle a row carries tag t with log-odds the bundle's own (relative to the tag's share) plus the tag's
        regression (:data:`BUNDLE_BITS`). 0: tags drawn independently given the row and the gate.

    Attributes
    ----------
    classes_ : list of str
        The modelled tags, sorted.
    coef_ : ndarray of shape (n_tags, d), float32
    intercept_ : ndarray of shape (n_tags,), float32
        Calibrated to the training rows' tag shares.
    gate_ : ndarray of shape (d + 2,), float32, or None
        The gate (whether a row carries any tag): the training rows' share carrying one, the intercept and the
        weights; the tags' regressions are then fitted on the tagged rows. None when a side of a split is short of
        ``min_points`` rows.
    bundles_ : ndarray of shape (n_bundles, n_tags), float32, or None
        With ``bundles``: each bundle's log-odds of each tag, relative to the tag's share among tagged rows (the
        clusters of the tagged training rows' tag sets, each of at least ``min_points`` rows); None without.
    bundle_coef_ : ndarray of shape (n_bundles, d), float32, or None
    bundle_intercept_ : ndarray of shape (n_bundles,), float32, or None
        The bundles' multinomial logistic regression on the embedding (a tagged row's chance of each bundle).
    temperature_ : float
    shares_ : ndarray of shape (n_tags,), float32
        The share of training rows carrying each tag.
    background_ : float
    fit_info_ : dict
        Tag shares, rows, tags kept and dropped, and the tag purity reached (training rows vs fakes).
    """

    multi_label = True  # several labels per row: sampling writes tag sets (synth.sampling.labels)

    def __init__(self, min_points=20, C=10.0, background=BACKGROUND, random_state=0, bundles=0):
        super().__init__(min_points=min_points, C=C, background=background, random_state=random_state)
        self.bundles = bundles

    def fit(self, X, tag_lists, fakes):
        """Fit on training rows ``X`` with tags ``tag_lists`` (one tuple of str per row) and calibrate on ``fakes``
        of the corpus model (as many as ``X`` for the purity to compare)."""
        from sklearn.linear_model import LogisticRegression

        names, counts = np.unique([t for tags in tag_lists for t in tags], return_counts=True)
        kept = sorted(names[counts >= self.min_points].tolist())
        if not kept:
            raise SynthError(f"tags: no tag is carried by at least {self.min_points} rows (the privacy bound, "
                             "--min-points); nothing to model")
        Y = tag_matrix(tag_lists, kept)
        if (Y.sum(axis=0) > len(Y) - 1).any():
            raise SynthError(f"tags: a tag carried by every row ({kept[int(np.argmax(Y.sum(axis=0)))]!r}) says "
                             "nothing about place; leave it out of the file")
        X = np.ascontiguousarray(X, np.float32)
        tagged = Y.any(axis=1)
        # the gate: whether a row carries any tag, and the tags fitted on the tagged rows alone, when each side of
        # every split has rows (real tags come in bundles: a row carries several or none)
        gated = min(int(tagged.sum()), int((~tagged).sum())) >= self.min_points and \
            bool((Y[tagged].sum(axis=0) < tagged.sum()).all())
        fit = lambda A, b: LogisticRegression(C=self.C, max_iter=300, random_state=self.random_state).fit(A, b)  # noqa: E731
        rows = tagged if gated else np.ones(len(Y), bool)
        models = [fit(X[rows], Y[rows, t]) for t in range(len(kept))]
        self.classes_ = kept
        self.coef_ = np.array([m.coef_[0] for m in models], np.float32)
        self.intercept_ = np.array([m.intercept_[0] for m in models], np.float32)
        self.gate_ = None
        self._fit_bundles(X[rows], Y[rows])
        if gated:
            g = fit(X, tagged)
            self.gate_ = np.concatenate([[tagged.mean(), g.intercept_[0]], g.coef_[0]]).astype(np.float32)
        self.temperature_ = 1.0
        share = Y.mean(axis=0)
        self.shares_, self.background_ = share.astype(np.float32), float(self.background)
        real_purity = tag_purity(Y, _neighbours(X))
        F = np.ascontiguousarray(fakes, np.float32)
        nbrs = _neighbours(F)
        self._calibrate(F, nbrs, share, real_purity)
        dropped = sorted(set(names.tolist()) - set(kept))
        g, none = self._gate_and_none(F)
        self.fit_info_ = {"shares": {c: round(float(v), 6) for c, v in zip(kept, share)}, "rows": len(Y),
                          "tags": len(kept), "dropped_tags": len(dropped),
                          "untagged_rows": int((~tagged).sum()), "gate": gated,
                          "mean_tags": round(float(Y.sum(axis=1).mean()), 4), "real_purity": round(real_purity, 4),
                          "fake_purity": round(self._expected_purity(F, nbrs), 4),
                          "fake_mean_tags": round(float(self.proba(F).sum(axis=1).mean()), 4),
                          "fake_untagged_share": round(float(np.mean(1 - g + g * none)), 4),
                          "temperature": round(float(self.temperature_), 4)}
        if self.bundles_ is not None:
            self.fit_info_["bundles"] = len(self.bundles_)
        return self

    def _fit_bundles(self, X, Y):
        """The bundles (``bundles`` > 0) of tagged rows ``X`` with tags ``Y``: k-means on the tag indicators, each
        cluster of at least ``min_points`` rows kept (the others' rows go to their nearest kept cluster), each
        bundle's tag log-odds relative to the tags' shares, and a multinomial regression of the bundle on ``X``.
        None (tags independent) with fewer than two clusters kept."""
        from sklearn.cluster import KMeans
        from sklearn.linear_model import LogisticRegression

        self.bundles_ = self.bundle_coef_ = self.bundle_intercept_ = None
        m = min(int(self.bundles), len(Y) // max(self.min_points, 1), len(np.unique(Y, axis=0)))
        if m < 2:
            return
        km = KMeans(n_clusters=m, n_init=3, random_state=self.random_state).fit(Y.astype(np.float32))
        keep = np.bincount(km.labels_, minlength=m) >= self.min_points
        if keep.sum() < 2:
            return
        dist = km.transform(Y.astype(np.float32))
        dist[:, ~keep] = np.inf
        code = np.cumsum(keep) - 1
        b = code[np.argmin(dist, axis=1)]
        logit = lambda p: np.log(p / (1 - p))  # noqa: E731
        share = np.clip(Y.mean(axis=0), 1e-4, 1 - 1e-4)
        rate = np.array([(Y[b == j].sum(axis=0) + share) / ((b == j).sum() + 1) for j in range(int(keep.sum()))])
        clf = LogisticRegression(C=self.C, max_iter=300, random_state=self.random_state).fit(X, b)
        self.bundles_ = (logit(np.clip(rate, 1e-4, 1 - 1e-4)) - logit(share)).astype(np.float32)
        self.bundle_coef_, self.bundle_intercept_ = clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)

    def _bundle_chance(self, X):
        """A tagged row's chance of each bundle, shape (n, n_bundles) (softmax of the regression over the
        temperature)."""
        z = (np.asarray(X, np.float32) @ self.bundle_coef_.T + self.bundle_intercept_) / np.float32(self.temperature_)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def _bundle_of(self, X, u):
        """Each row's bundle, drawn with the low digits of its gate uniform ``u`` (:data:`BUNDLE_BITS`)."""
        cdf = np.cumsum(self._bundle_chance(X), axis=1)
        v = np.modf(np.asarray(u, np.float64) * 2.0 ** BUNDLE_BITS)[0]
        return np.minimum((cdf < v[:, None]).sum(axis=1), cdf.shape[1] - 1)

    def _gate_and_none(self, X):
        """The gate's chance at rows ``X`` (:meth:`_parts`) and the chance that they draw no tag given the gate, each
        of shape (n,)."""
        if getattr(self, "bundles_", None) is None:
            g, P = self._parts(X)
            return g, np.prod(1 - P, axis=1)
        g, P = self._parts(X, "each")
        return g, np.einsum("nm,nm->n", self._bundle_chance(X), np.prod(1 - P, axis=2))

    def _parts(self, X, bundle=None):
        """The gate's chance that rows ``X`` carry tags at all, shape (n,) (ones without a gate), and each tag's
        chance given that they do, shape (n, n_tags); with bundles, given the bundle ``bundle`` (an int, or one per
        row), over the bundles (None), or given each bundle (``"each"``: shape (n, n_bundles, n_tags))."""
        X = np.asarray(X, np.float32)
        T = np.float32(self.temperature_)
        sigmoid = lambda z: 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))  # noqa: E731
        Z = (X @ self.coef_.T + self.intercept_) / T
        if getattr(self, "bundles_", None) is None:
            P = sigmoid(Z)
        elif bundle is None or isinstance(bundle, str):
            P = sigmoid(Z[:, None, :] + self.bundles_[None])
            P = P if bundle else np.einsum("nm,nmt->nt", self._bundle_chance(X), P)
        else:
            P = sigmoid(Z + self.bundles_[bundle])
        gate = getattr(self, "gate_", None)
        if gate is None:
            g, given = np.ones(len(X), P.dtype), self.shares_
        else:
            g, given = sigmoid((X @ gate[2:] + gate[1]) / T), self.shares_ / gate[0]
        if self.background_:  # a share drawn regardless of place, at the training shares
            P = (1 - self.background_) * P + self.background_ * np.minimum(given, 1.0)[None, :]
            if gate is not None:
                g = (1 - self.background_) * g + self.background_ * gate[0]
        return g, P

    def proba(self, X):
        """Each tag's chance at rows ``X``, shape (n, n_tags): the gate's chance times the tag's given it."""
        g, P = self._parts(X)
        return g[:, None] * P

    def _match_shares(self, F, share):
        logit = lambda p: np.log(np.clip(p, 1e-9, 1 - 1e-9) / (1 - np.clip(p, 1e-9, 1 - 1e-9)))  # noqa: E731
        for _ in range(FREQUENCY_ROUNDS):
            if getattr(self, "gate_", None) is not None:  # the share of fakes with at least one tag: the real one
                g, none = self._gate_and_none(F)
                got = np.mean(g * (1 - none))
                self.gate_[1] += np.float32(self.temperature_ * (logit(self.gate_[0]) - logit(got)))
            got = self.proba(F).mean(axis=0)
            self.intercept_ = (self.intercept_ + self.temperature_ * (logit(share) - logit(got))).astype(np.float32)

    def _expected_purity(self, F, nbrs):
        """The expected tag purity among fakes ``F`` with neighbours ``nbrs`` (tags drawn independently)."""
        return tag_purity(self.proba(F), nbrs)

    def query_chance(self, X, uniforms):
        """Each tag's chance at queries ``X`` as :meth:`query_tags` ranks them, shape (n, n_tags): :meth:`proba`,
        or with bundles the chance given the bundle the query's gate uniform (``uniforms[:, -1]``) picks."""
        if getattr(self, "bundles_", None) is None:
            return self.proba(X)
        g, P = self._parts(X, self._bundle_of(X, np.asarray(uniforms)[:, -1]))
        return g[:, None] * P

    def query_tags(self, X, uniforms):
        """One or two tags for each query ``X`` (big-ann's filtered track), as a tuple of sorted tag ids per query,
        from uniforms of shape (n, n_tags + 1). Tags are ranked by uniform / chance: the tags a row would carry
        (uniform below chance, :meth:`tags`) come first, in random order; a query takes the first two when its
        last uniform is below :data:`TWO_TAGS`, else the first (so a query that would carry no tag still gets the
        one nearest to being drawn)."""
        u = np.asarray(uniforms)
        order = np.argsort(u[:, :-1] / np.maximum(self.query_chance(X, u), 1e-12), axis=1, kind="stable")
        two = u[:, -1] < TWO_TAGS
        return [tuple(sorted(int(t) for t in order[i, :2 if two[i] else 1])) for i in range(len(u))]

    def tags(self, X, uniforms):
        """Tags of rows ``X`` as a bool array (n, n_tags), drawn with uniforms (n, n_tags + 1) (:func:`tag_uniforms`):
        a row carries tags when its last uniform is below the gate's chance, then tag t when uniform t is below its
        chance given that (with bundles: given the row's bundle, drawn with the gate uniform's low digits)."""
        u = np.asarray(uniforms)
        bundle = None if getattr(self, "bundles_", None) is None else self._bundle_of(X, u[:, -1])
        g, P = self._parts(X, bundle)
        return (u[:, -1] < g)[:, None] & (u[:, :-1] < P)

    def _arrays(self):
        out = super()._arrays()
        if getattr(self, "gate_", None) is not None:
            out["gate"] = self.gate_
        if getattr(self, "bundles_", None) is not None:
            out.update(bundles=self.bundles_, bundle_coef=self.bundle_coef_, bundle_intercept=self.bundle_intercept_)
        return out

    def _set_arrays(self, arrays, classes):
        super()._set_arrays(arrays, classes)
        gate = arrays.get("gate")
        self.gate_ = None if gate is None else np.asarray(gate, np.float32).copy()
        if self.gate_ is not None and (self.gate_.shape != (self.coef_.shape[1] + 2,) or not 0 < self.gate_[0] <= 1):
            raise ValueError(f"a tag gate of shape {self.gate_.shape} for dimension {self.coef_.shape[1]}")
        self.bundles_ = self.bundle_coef_ = self.bundle_intercept_ = None
        if "bundles" in arrays:
            self.bundles_ = np.asarray(arrays["bundles"], np.float32).copy()
            self.bundle_coef_ = np.asarray(arrays["bundle_coef"], np.float32).copy()
            self.bundle_intercept_ = np.asarray(arrays["bundle_intercept"], np.float32).copy()
            m = len(self.bundles_)
            if self.bundles_.shape != (m, len(self.coef_)) or self.bundle_coef_.shape != (m, self.coef_.shape[1]) \
                    or self.bundle_intercept_.shape != (m,) or m < 2:
                raise ValueError(f"tag bundles of shapes {self.bundles_.shape}, {self.bundle_coef_.shape}, "
                                 f"{self.bundle_intercept_.shape} for {len(self.coef_)} tags")
        return self
