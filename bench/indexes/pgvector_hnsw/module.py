"""pgvector's HNSW index in PostgreSQL (Malkov & Yashunin 2018, arXiv:1603.09320)."""

from bench.indexes.postgres import PgvectorIndex


class PgvectorHNSW(PgvectorIndex):
    """``CREATE INDEX ... USING hnsw (embedding vector_ip_ops) WITH (m, ef_construction)``; the query parameter
    is the setting ``hnsw.ef_search`` (1 to 1,000).

    pgvector returns at most ``ef_search`` rows per scan (iterative scans are off, its default), so a setting
    below ``k`` finds fewer than ``k`` rows. The level of each inserted row is drawn from the server's own
    random generator, which cannot be seeded: two builds give slightly different graphs.

    Parameters
    ----------
    m : int
        Graph degree (2 * m links on the bottom layer).
    ef_construction : int
        Candidate list size while inserting.
    """

    method, setting = "hnsw", "hnsw.ef_search"
    iterative = ("hnsw.iterative_scan", "relaxed_order")  # filtered searches: pgvector 0.8's iterative scan

    def __init__(self, m=16, ef_construction=200):
        super().__init__(m=m, ef_construction=ef_construction)
        self.m, self.ef_construction = int(m), int(ef_construction)

    def with_clause(self):
        return f"m = {self.m}, ef_construction = {self.ef_construction}"

    def query_limit(self):
        return 1000  # pgvector's largest hnsw.ef_search

    def set_query_params(self, ef_search):
        self.set_setting(ef_search)
