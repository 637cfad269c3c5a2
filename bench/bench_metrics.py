"""Metrics page benchmarks on a synthetic 2000-clip run (in a temporary folder, never shipped). Run:

    .venv/bin/python bench/bench_metrics.py

Targets (2-core machine): page rerun after a selection <= 300 ms warm with 2000-row predictions;
nearest-neighbour lookup <= 20 ms.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, timeit  # noqa: I001
from common import report as print_figure

from soundlab import metrics, report, runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.data import esc50
from tests.assets import dev_dataset


def synthetic_run(artifacts: Path, meta: pd.DataFrame, seed: int = 0) -> Path:
    """A run folder with 2000 out-of-fold rows of plausible (synthetic) probabilities, for timing only."""
    rng = np.random.default_rng(seed)
    template = runs.preferred(runs.list_runs(DEFAULT_ARTIFACTS_DIR)[0])
    info = json.loads((template.path / "run.json").read_text())
    classes = info["classes"]
    meta = meta.sort_values("filename")
    n = len(meta)
    true = meta["target"].to_numpy()
    logits = rng.normal(0, 1, (n, 50))
    logits[np.arange(n), true] += rng.normal(3.5, 1.5, n)  # about 85% right
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = probs.argmax(1)
    path = artifacts / "runs" / "synthetic-2000"
    (path / "oof").mkdir(parents=True)
    table = pd.DataFrame({"filename": meta["filename"].to_numpy(), "fold": meta["fold"].to_numpy(),
                          "src_file": meta["src_file"].to_numpy(), "true": true, "true_class": np.asarray(classes)[true],
                          "pred": pred, "pred_class": np.asarray(classes)[pred], "confidence": probs.max(1)})
    table = pd.concat([table, pd.DataFrame(probs, columns=[f"p_{c}" for c in classes])], axis=1)
    models = {}
    for name in ("attention", "linear"):
        table.to_csv(path / "oof" / f"{name}.csv", index=False, float_format="%.6g")
        models[name] = {**info["models"][name], "oof": f"oof/{name}.csv",
                        "cv": metrics.summary(true, probs, table["fold"].to_numpy())}
    np.savez_compressed(path / "embeddings.npz", filenames=table["filename"].to_numpy().astype(str),
                        pooled=rng.normal(0, 1, (n, 1024)).astype(np.float16),
                        audioset=rng.uniform(0, 1, (n, 521)).astype(np.float16))
    info.update(id="synthetic-2000", created="2099-01-01T00:00:00+00:00", models=models, default_model="attention",
                protocol={"name": "esc50-official", "description": "SYNTHETIC predictions for benchmarking only"},
                coverage={**info["coverage"], "clips_present": n})
    (path / "run.json").write_text(json.dumps(info))
    return path


def metrics_page(section: str | None = None):
    """The Metrics page on the synthetic run, run once (AppTest)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "3_Metrics.py"), default_timeout=120)
    at.query_params["metrics-run"] = "synthetic-2000"
    if section:
        at.query_params["metrics-section"] = section
    return at.run()


def main() -> None:
    dev = dev_dataset()
    meta = esc50.load_dataset(dev).meta
    with tempfile.TemporaryDirectory() as d:
        art = Path(d)
        for f in ("yamnet.tflite", "yamnet_class_map.csv"):
            shutil.copy(DEFAULT_ARTIFACTS_DIR / f, art / f)
        path = synthetic_run(art, meta)
        run = runs.load_run(path)
        p = report.load_predictions(run, "attention", meta)
        emb = report.load_embeddings(run)
        wrong = p.table[~p.table["correct"]].iloc[0]
        print(f"synthetic run: {len(p.table)} clips, accuracy {p.summary()['accuracy']:.1%}")
        print_figure("nearest correct neighbours of one clip (2000 clips)",
               timeit(lambda: report.correct_neighbours(p, emb, wrong["filename"], int(wrong["true"])), repeat=50),
               target_ms=20)
        print_figure("  of which the cosine search alone (1 x 2000 x 1024)",
               timeit(lambda: metrics.nearest_neighbors(emb.pooled[0], emb.pooled, 3), repeat=50))

        os.environ["SOUNDLAB_ARTIFACTS_DIR"] = str(art)
        os.environ["SOUNDLAB_ESC50_ROOT"] = str(dev)
        at = metrics_page()
        assert not at.exception, at.exception
        at.selectbox(key="metrics-cell-true").set_value(wrong["true_name"])
        at.selectbox(key="metrics-cell-pred").set_value(wrong["pred_name"]).run()
        assert not at.exception
        print_figure("Confusion: rerun after selecting a cell (warm)", timeit(at.run, repeat=20, warmup=2), target_ms=300)

        at = metrics_page("Mistakes")
        name = next(f for f in p.table[~p.table["correct"]]["filename"] if p.table.set_index("filename").loc[f, "present"])
        at.selectbox(key="metrics-clip").set_value(name).run()
        assert not at.exception
        print_figure("Mistakes: rerun with a clip selected (warm)", timeit(at.run, repeat=20, warmup=2), target_ms=300)
        at = metrics_page("Map")
        print_figure("Map (PCA of 2000 clips): rerun (warm)", timeit(at.run, repeat=10, warmup=1), target_ms=300)


if __name__ == "__main__":
    main()
