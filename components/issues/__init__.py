"""The sections of the Data issues page: the ranked table and clip picker (`table`), the clip or pair (`clip`), the
review form and the log with its exports (`review`). They share a `View` of what the page loaded."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class View:
    run: object  # soundlab.runs.Run
    model: str
    others: list  # the other backbones' runs the label issues were compared with
    found: object  # soundlab.issues.DataIssues
    p: object  # soundlab.predictions.Predictions
    ds: object | None
    store: object | None  # soundlab.review.ReviewStore, None when the log cannot be used
    review_problem: str | None
    current: pd.DataFrame  # the decisions in effect

    @property
    def class_names(self) -> dict[str, str]:
        """Class key -> the name people read."""
        return dict(zip(self.run.classes, self.run.class_names, strict=True))

    def decided(self, filename: str, kind: str):
        rows = self.current[(self.current["filename"] == filename) & (self.current["kind"] == kind)]
        return None if rows.empty else rows.iloc[0]
