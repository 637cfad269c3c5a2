"""Sound search: the dataset clips nearest to any sound, in a backbone's embedding space.

Exact cosine search as one matrix-vector product on unit-length float32 embeddings: for ESC-50's 2,000 clips a
query takes well under a millisecond, for 100,000 a few milliseconds (`bench/bench_issues.py` measures both). An
approximate index (faiss, hnswlib) is not used: at this size it would add a dependency and an index build for no
measurable gain; the benchmark says when that changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SoundIndex:
    filenames: np.ndarray  # (n,) str
    vectors: np.ndarray  # (n, d) float32, unit length

    @classmethod
    def build(cls, filenames, embeddings: np.ndarray) -> SoundIndex:
        x = np.asarray(embeddings, np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return cls(np.asarray(filenames).astype(str), np.ascontiguousarray(x))

    def __len__(self) -> int:
        return len(self.filenames)

    def query(self, vector: np.ndarray, k: int = 10, *, exclude: str | None = None) -> list[tuple[str, float]]:
        """The k nearest clips to an embedding (d,), as (filename, cosine distance), nearest first."""
        q = np.asarray(vector, np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        sims = self.vectors @ q
        if exclude is not None:
            sims = np.where(self.filenames == exclude, -np.inf, sims)
        k = min(k, len(sims) - (exclude is not None and exclude in self.filenames))
        if k <= 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return [(str(self.filenames[i]), float(1.0 - sims[i])) for i in top]

    def vector_of(self, filename: str) -> np.ndarray | None:
        rows = np.flatnonzero(self.filenames == filename)
        return self.vectors[rows[0]] if len(rows) else None
