"""Metrics page benchmarks on a synthetic run (in a temporary folder, never shipped). Run:

    .venv/bin/python bench/bench_metrics.py                 # 2,000 rows on the ESC-50 dev set
    .venv/bin/python bench/bench_metrics.py --rows 50000    # 50,000 rows on a CSV dataset of 50,000 listed clips

Targets (2-core machine): page rerun after a selection <= 300 ms warm with 2000-row predictions;
nearest-neighbour lookup <= 20 ms. With 50,000 rows the page must stay usable: the figures are printed, and the
embedding map shows a sample of `predictions.MAP_MAX_POINTS` clips.

The 50,000-clip dataset is a CSV (`SOUNDLAB_DATASET=csv:`) whose files are hard links to the dev clips (each copy
its own group), so the page reads, validates and joins a dataset of that size as it would a real one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, timeit  # noqa: I001
from common import report as print_figure

from soundlab import metrics, predictions, runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR
from soundlab.data import esc50, layouts, protocol
from tests.assets import dev_dataset


def synthetic_run(artifacts: Path, meta: pd.DataFrame, seed: int = 0, dataset_id: str = "esc50") -> Path:
    """A run folder with 2000 out-of-fold rows of plausible (synthetic) probabilities, for timing only."""
    rng = np.random.default_rng(seed)
    # the shipped YAMNet heads run (its two models and 1024-d embeddings are what the synthetic run imitates); not
    # runs.preferred, which is the app's default model (a fused EfficientAT run since 2026-12-02)
    for template in runs.list_runs(DEFAULT_ARTIFACTS_DIR)[0]:
        info = json.loads((template.path / "run.json").read_text())
        if {"attention", "linear"} <= set(info["models"]):
            break
    else:
        raise SystemExit(f"no shipped run with the attention and linear heads in {DEFAULT_ARTIFACTS_DIR / 'runs'}")
    classes_df = meta.drop_duplicates("target").sort_values("target")
    classes = list(classes_df["category"])
    meta = meta.sort_values("filename")
    n = len(meta)
    true = meta["target"].map({t: i for i, t in enumerate(classes_df["target"])}).to_numpy()
    logits = rng.normal(0, 1, (n, len(classes)))
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
                coverage={**info["coverage"], "clips_present": n}, classes=classes,
                class_names=list(classes_df["class_name"]), targets=[int(t) for t in classes_df["target"]],
                categories=list(classes_df["supercategory"].astype(str)), dataset={"id": dataset_id})
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


def big_dataset(folder: Path, rows: int) -> tuple[str, pd.DataFrame, str]:
    """A CSV dataset of `rows` listed clips, hard links to the dev clips in turn (copy k of a clip is its own group);
    returns (SOUNDLAB_DATASET value, its metadata with folds, its id). Timed: how long reading it takes."""
    import time

    dev = dev_dataset()
    meta = esc50.load_dataset(dev).present.reset_index(drop=True)
    (folder / "c").mkdir(parents=True)
    listing = []
    for i in range(rows):
        r = meta.iloc[i % len(meta)]
        name = f"c/{i:06d}.wav"
        os.link(r["path"], folder / name)
        listing.append({"filename": name, "label": r["category"], "group": f"{r['src_file']}-{i // len(meta)}"})
    pd.DataFrame(listing).to_csv(folder / "labels.csv", index=False)
    t0 = time.perf_counter()
    ds = layouts.load_csv(folder / "labels.csv")
    print(f"reading and validating the {rows:,}-clip csv dataset (header of every file): "
          f"{time.perf_counter() - t0:.2f} s")
    proto = protocol.for_dataset(ds)
    return f"csv:{folder / 'labels.csv'}", proto.clips, ds.desc.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=0, help="out-of-fold rows (default: the dev set's clips)")
    args = parser.parse_args()
    dev = dev_dataset()
    meta = esc50.load_dataset(dev).meta
    with tempfile.TemporaryDirectory() as d:
        art = Path(d)
        for f in ("yamnet.tflite", "yamnet_class_map.csv"):
            shutil.copy(DEFAULT_ARTIFACTS_DIR / f, art / f)
        dataset_id = "esc50"
        if args.rows:
            setting, meta, dataset_id = big_dataset(art / "dataset", args.rows)
            os.environ["SOUNDLAB_DATASET"] = setting
        path = synthetic_run(art, meta, dataset_id=dataset_id)
        run = runs.load_run(path)
        p = predictions.load_predictions(run, "attention", meta)
        emb = predictions.load_embeddings(run)
        wrong = p.table[~p.table["correct"]].iloc[0]
        n = len(p.table)
        print(f"synthetic run: {n} clips, accuracy {p.summary()['accuracy']:.1%}")
        print_figure(f"nearest correct neighbours of one clip ({n} clips)",
               timeit(lambda: predictions.correct_neighbours(p, emb, wrong["filename"], int(wrong["true"])), repeat=50),
               target_ms=20)
        print_figure(f"  of which the cosine search alone (1 x {n} x 1024)",
               timeit(lambda: metrics.nearest_neighbors(emb.pooled[0], emb.pooled, 3), repeat=50))

        os.environ["SOUNDLAB_ARTIFACTS_DIR"] = str(art)
        os.environ["SOUNDLAB_ESC50_ROOT"] = str(dev)
        import time

        t0 = time.perf_counter()
        at = metrics_page()
        print(f"Confusion: first run (cold: dataset, predictions, figure) {time.perf_counter() - t0:.2f} s")
        assert not at.exception, at.exception
        at.selectbox(key="metrics-cell-true").set_value(wrong["true_name"])
        at.selectbox(key="metrics-cell-pred").set_value(wrong["pred_name"]).run()
        assert not at.exception
        print_figure("Confusion: rerun after selecting a cell (warm)", timeit(at.run, repeat=20, warmup=2), target_ms=300)

        at = metrics_page("Mistakes")
        name = next(f for f in predictions.mistakes(p)["filename"] if p.table.set_index("filename").loc[f, "present"])
        at.selectbox(key="metrics-clip").set_value(name).run()
        assert not at.exception
        print_figure("Mistakes: rerun with a clip selected (warm)", timeit(at.run, repeat=20, warmup=2), target_ms=300)
        t0 = time.perf_counter()
        at = metrics_page("Map")
        assert not at.exception, at.exception
        print(f"Map: first run (PCA of {min(n, predictions.MAP_MAX_POINTS)} of {n} clips) {time.perf_counter() - t0:.2f} s")
        print_figure(f"Map (PCA, {min(n, predictions.MAP_MAX_POINTS)} of {n} clips shown): rerun (warm)",
                     timeit(at.run, repeat=10, warmup=1), target_ms=300)
        if n > predictions.MAP_MAX_POINTS:
            assert "random sample" in " ".join(str(c.value) for c in at.caption)


if __name__ == "__main__":
    main()
