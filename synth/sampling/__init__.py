"""Sampling corpora of any size: streaming to files in chunks, shards and resume (stream), on a Dask cluster
(distributed), with exact ground truth computed blockwise on the way (groundtruth)."""

from .stream import iter_rows, sample_to_file

__all__ = ["iter_rows", "sample_to_file"]
