"""The sections of the Metrics page: each module draws one (`render(view)`) from what the page chose (`View`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class View:
    """What every section draws from: the run and model chosen, their stored predictions, the dataset in use."""

    run: object  # soundlab.runs.Run
    model: str
    p: object  # soundlab.predictions.Predictions
    ds: object | None  # the dataset in use (None: no clip can be played)
    all_runs: list = field(default_factory=list)
    class_filter: tuple[int, ...] = ()  # labels the sidebar's class filter keeps (empty: all)

    @property
    def table(self) -> pd.DataFrame:
        return self.p.table

    @property
    def labels(self) -> list[str]:
        return self.run.class_names

    def label_of(self, name: str) -> int:
        return self.run.class_names.index(name)
