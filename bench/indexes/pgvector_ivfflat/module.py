"""pgvector's IVFFlat index in PostgreSQL: k-means inverted lists over full vectors (Jegou et al. 2011,
TPAMI 33(1))."""

from bench.indexes.base import InvertedLists
from bench.indexes.postgres import PgvectorIndex


class PgvectorIVFFlat(InvertedLists, PgvectorIndex):
    """``CREATE INDEX ... USING ivfflat (embedding vector_ip_ops) WITH (lists)``; the query parameter is the
    setting ``ivfflat.probes``.

    ``lists: auto`` is ``round(sqrt(n))``, as for faiss-ivf (pgvector's own advice is n / 1,000 up to a
    million rows). A ``probes`` above ``lists`` is clipped to ``lists``. pgvector trains its k-means on a
    random sample with the server's own random generator, which cannot be seeded: two builds give slightly
    different lists.

    Parameters
    ----------
    lists : int
        Number of k-means lists.
    """

    method, setting, lists_param = "ivfflat", "ivfflat.probes", "lists"
    iterative = ("ivfflat.iterative_scan", "relaxed_order")  # filtered searches: pgvector 0.8's iterative scan

    def __init__(self, lists):
        super().__init__(lists=lists)
        self.lists = int(lists)

    def with_clause(self):
        return f"lists = {self.lists}"

    def query_limit(self):
        return self.lists

    def set_query_params(self, probes):
        self.set_setting(min(int(probes), self.lists))
