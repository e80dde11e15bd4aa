"""How close fake is to real: the geometry statistics (statistics), the k-NN two-sample test and the
memorization check (twosample), the field's standard measures (standard_measures), membership inference
(privacy), IVF and HNSW search cost (searchcost), and the exact k-NN they share (neighbors)."""

from .statistics import geometry_stats
from .twosample import score

__all__ = ["geometry_stats", "score"]
