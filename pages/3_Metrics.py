"""Metrics: every number recomputed from a run's stored out-of-fold predictions, and its mistakes."""

import numpy as np
import pandas as pd
import streamlit as st

from components import charts, clip_view, grid_select, lite, loaders, page, run_picker, search_view, selection, urlstate
from soundlab import metrics, report, runs
from soundlab.errors import DatasetError, ModelError, RunError

settings = page.start("Metrics · SoundLab", "📊")
MAX_OPTIONS = 1000  # clips listed in a selectbox (the tables list every row)
st.title("Metrics and mistakes")

all_runs = loaders.runs_with_warnings()
if not all_runs:
    st.warning(f"No trained runs in `{settings.artifacts_dir / 'runs'}`. Train with `python -m soundlab train`, "
               "or restore the shipped runs with `git checkout model_artifacts/`.")
    st.stop()
status = loaders.dataset_status()
ds = status.dataset

# ---- run and model -----------------------------------------------------------------------------
run, head = run_picker.pick(all_runs, prefix="metrics", header="Run", model_label="Model",
                            run_help="Runs of heads on backbone embeddings, and of models trained from scratch "
                                     "(the model's name is in the run's name: cnn, crnn, wavecnn, mfcc-svm, mfcc-rf).")
with st.sidebar:
    class_filter = st.multiselect("Classes (filter for Mistakes and Map)", run.class_names, key="metrics-class",
                                  bind="query-params")

try:
    p = loaders.predictions(run, head, ds)
except RunError as e:
    st.error(f"The predictions of this model cannot be used: {e}")
    st.stop()
for problem in p.problems:
    st.warning(problem)
table = p.table
labels = run.class_names
label_of = {n: i for i, n in enumerate(labels)}
filter_ids = [label_of[c] for c in class_filter]

# ---- summary ---------------------------------------------------------------------------------
s = p.summary()
page.figures([
    ("Accuracy", f"{s['accuracy']:.1%}"),
    ("Balanced accuracy", f"{s['balanced_accuracy']:.1%}", "The mean of the per-class recalls: every class counts the "
     "same, however many clips it has."),
    ("Top-3 accuracy", f"{s['top3_accuracy']:.1%}"),
    ("Macro-F1", f"{s['macro_f1']:.1%}"),
    # the spread as a grey second line: "92.4% ± 1.9%" as the value did not fit a fifth of the page
    ("Per fold", f"{s['fold_mean']:.1%}", "The mean of the folds' accuracies ± their standard deviation.",
     f"± {s['fold_std']:.1%}")])
cov = run.info["coverage"]
on_disk = int(table["present"].sum())
st.caption(f"**Protocol:** {run.protocol['description']}. **Coverage:** {cov['clips_present']} of "
           f"{cov['clips_listed']} clips, {cov['classes_present']} of {cov['classes_listed']} classes. "
           f"Out-of-fold predictions of `{head}`, recomputed from `{run.model(head)['oof']}`; "
           f"{on_disk} of these {len(table)} clips are on disk here to listen to.")
relabelled = run.protocol.get("labels")
if relabelled:
    st.warning(f"This run's labels are not the official ESC-50 labels: {relabelled['changed']} clips were relabelled by "
               f"review (`{relabelled['source']}`), on the same folds. Compare it with a run on the official labels to "
               "see what the corrections change; published figures are not comparable.",
               icon=":material/rule:")
note = report.imbalance_note(p)
if note:
    st.info(note, icon=":material/balance:")
caption = report.model_caption(run, head)
if caption:
    st.caption(caption)
# The two expanders' tables are drawn only once opened (on_change="rerun"): a data grid in a closed expander still
# made every visitor's browser fetch and start the grid's code (31 files, 1.7 MB) before the summary above appeared.
recall = st.expander("Recall of every class, worst first", key="metrics-recall-open", on_change="rerun")
if recall.open:
    recall.dataframe(report.recall_table(p), hide_index=True, height=300,
                     column_config={"recall": st.column_config.ProgressColumn(format="percent", min_value=0,
                                                                              max_value=1)})
    groups = report.group_accuracy(p)
    if groups:
        recall.caption(f"Accuracy on the clips of the ten ESC-10 classes: {groups['esc10_classes']:.1%}; on the "
                       f"other classes: {groups['other_classes']:.1%} (balanced {groups['other_balanced']:.1%}).")
references = st.expander("Published reference points, each with its protocol", key="metrics-refs-open",
                         on_change="rerun")
if references.open:
    with references:
        refs = report.reference_table(p)
        # long texts wrap in wide columns instead of being cut at the grid's default width
        st.dataframe(refs, hide_index=True, row_height=60, column_config={
            "what": st.column_config.TextColumn(width="large"), "protocol": st.column_config.TextColumn(width="large"),
            "why": st.column_config.TextColumn(width="large"),
            "accuracy": st.column_config.NumberColumn(format="percent", width="small")})
        if not refs["comparable"].iloc[:-1].any():
            st.caption("None of the published figures is comparable with this run: a figure is comparable only when it was "
                       "measured on the same protocol, the official folds on every clip of the task. "
                       + ("This run is on a partial dataset; download the full ESC-50 and train again for an "
                          "official-protocol run." if not run.official else ""))
        st.caption("A random split puts takes of one source recording in both training and test, so a model is "
                   "tested on near-copies of what it learned: such numbers are higher and say little. All numbers here "
                   "keep a recording's takes in one fold.")


def play(row: pd.Series, key: str, *, show_meta: bool = False) -> None:
    """Player and charts of one clip of the table, or a note that it is not on disk."""
    if not row.get("present", False) or ds is None:
        st.caption(f"{row['filename']} is not on disk here (download the dataset to listen to it).")
        return
    clip_view.render_clip(ds, row["filename"], clip_view.DEFAULT_PARAMS, key=key, show_meta=show_meta, height=220)


def clip_table(rows: pd.DataFrame, key: str, choice_key: str | None = None) -> pd.Series | None:
    """A clip list whose row click chooses a clip (into `choice_key`, default ``<key>-clip``); returns the chosen
    clip's row if it is in the list."""
    choice_key = choice_key or f"{key}-clip"
    selection.choice_table(rows[["filename", "true_name", "pred_name", "confidence", "fold", "present"]], key=key,
                           value_column="filename", choice_key=choice_key, hide_index=True,
                           height=min(35 * (len(rows) + 1) + 3, 300),
                           column_config={"true_name": "true", "pred_name": "predicted", "present": "on disk",
                                          "confidence": st.column_config.NumberColumn(format="%.2f")})
    chosen = rows[rows["filename"] == st.session_state.get(choice_key)]
    return chosen.iloc[0] if len(chosen) else None


section = st.segmented_control(
    "Section", ["Folds", "Classes", "Confusion", "Mistakes", "Calibration", "Open set", "Map", "Compare", "Export"],
    default="Confusion", required=True, key="metrics-section", bind="query-params", label_visibility="collapsed")

# ---- per fold ----------------------------------------------------------------------------------
if section == "Folds":
    st.plotly_chart(charts.fold_bars(s["per_fold_accuracy"], s["fold_mean"], s["fold_std"]), key="metrics-folds")
    own, problems = loaders.task_predictions([run], run.task, ds)
    for problem in problems:
        st.warning(problem)
    if len(own) > 1:
        flips = report.disagreements(own)
        st.subheader("Clips the models of this run disagree on")
        st.caption(f"{len(flips)} of {len(table)} clips get different answers from different models.")
        st.dataframe(flips, hide_index=True, height=320)
    else:
        st.caption("This run holds one model, so there is no disagreement between its models to list; the Compare "
                   "section sets it against the models of other runs.")

# ---- per class ---------------------------------------------------------------------------------
elif section == "Classes":
    per_class = report.per_class_table(p)
    st.subheader("Per class")
    st.dataframe(per_class, hide_index=True, height=420,
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")})
    if len(run.category_names) > 1:
        st.subheader("Per category")
        st.caption("A prediction counts as right for its category when it names any class of the clip's category.")
        st.dataframe(report.category_table(p), hide_index=True,
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall",
                                                                                              "f1")})

# ---- confusion ---------------------------------------------------------------------------------
elif section == "Confusion":

    def choose_cell(cell) -> None:
        if cell is not None and all(0 <= i < len(labels) for i in cell):
            st.session_state["metrics-cell-true"] = labels[int(cell[0])]
            st.session_state["metrics-cell-pred"] = labels[int(cell[1])]

    def on_grid_click() -> None:
        choose_cell(grid_select.clicked_cell("metrics-cm-grid"))

    def on_plotly_click() -> None:
        event = st.session_state.get("metrics-cm")
        points = event.selection.points if event is not None else []
        data = charts.point_customdata(points[0]) if points else []
        choose_cell(data[:2] if len(data) >= 2 else None)

    t1, t2 = st.columns(2)
    normalize = t1.toggle("Normalise rows (share of each true class)", value=True, key="metrics-normalize")
    # the matrix is HTML by default: plotly.js (4.7 MB) is started only for those who want to zoom (components/grid_select)
    zoomable = t2.toggle("Zoomable chart (plotly)", value=False, key="metrics-cm-plotly", bind="query-params",
                         help="The same matrix as a plotly chart: zoom, pan and save it as PNG. Slower to open.")
    cm = metrics.confusion(table["true"], table["pred"], p.n_classes)
    st.session_state.setdefault("metrics-cell-true", None)
    st.session_state.setdefault("metrics-cell-pred", None)
    cur_true, cur_pred = st.session_state["metrics-cell-true"], st.session_state["metrics-cell-pred"]
    selected = (label_of[cur_true], label_of[cur_pred]) if cur_true in label_of and cur_pred in label_of else None
    title = "Confusion matrix (click a cell to list its clips)"
    if zoomable:
        st.plotly_chart(loaders.confusion_figure(cm, tuple(labels), normalize=normalize, selected=selected,
                                                 title=title, height=900 if p.n_classes > 12 else 480),
                        key="metrics-cm", on_select=on_plotly_click, selection_mode="points")
    else:
        grid_select.grid(lite.confusion_grid(cm, labels, normalize=normalize, title=title, selected=selected),
                         key="metrics-cm-grid", on_click=on_grid_click)
    left, right = st.columns(2)
    if len(run.category_names) <= 1:  # no category matrix: the cell chooser takes the first column
        right = left
    else:
        with left:
            cat_cm = metrics.category_confusion(cm, run.category_index, len(run.category_names))
            short = {"Natural soundscapes & water sounds": "Natural", "Human, non-speech sounds": "Human",
                     "Interior/domestic sounds": "Interior", "Exterior/urban noises": "Exterior"}
            cats = [short.get(c, c) for c in run.category_names]
            if zoomable:
                st.plotly_chart(loaders.confusion_figure(cat_cm, tuple(cats), normalize=normalize, title="Categories",
                                                         height=380),
                                key="metrics-cat-cm")
            else:
                grid_select.grid(lite.confusion_grid(cat_cm, cats, normalize=normalize, title="Categories",
                                                     clickable=False), key="metrics-cat-grid")
    with right:
        st.markdown("**Clips behind a cell** (click a cell above, or choose)")
        true_name = st.selectbox("True class", labels, index=None, key="metrics-cell-true")
        pred_name = st.selectbox("Predicted class", labels, index=None, key="metrics-cell-pred")
    if true_name and pred_name:
        cell = report.cell_clips(p, label_of[true_name], label_of[pred_name])
        st.subheader(f"{len(cell)} clip{'s' if len(cell) != 1 else ''}: true {true_name}, predicted {pred_name}")
        if len(cell):
            row = clip_table(cell, "metrics-cell-table")
            if row is None and len(cell) == 1:  # one clip: shown at once
                row = cell.iloc[0]
            if row is not None:
                play(row, "metrics-cell-player")
            else:
                st.caption("Select a clip in the list to hear and see it.")

# ---- misclassified clips -----------------------------------------------------------------------
elif section == "Mistakes":
    c1, c2, c3 = st.columns(3)
    f_pred = c1.multiselect("Predicted class", labels, key="metrics-wrong-pred")
    f_fold = c2.multiselect("Fold", sorted(table["fold"].unique()), key="metrics-wrong-fold")
    f_conf = c3.slider("Wrong with at least this confidence", 0.0, 1.0, 0.0, 0.05, key="metrics-wrong-conf")
    wrong = report.mistakes(p, true=filter_ids, pred=[label_of[c] for c in f_pred], folds=f_fold,
                              min_confidence=f_conf)
    st.subheader(f"{len(wrong)} misclassified clips" + (" (filtered)" if filter_ids or f_pred or f_fold or f_conf else "")
                 + f", {int(wrong['present'].sum())} on disk")

    def check_in_run(name: str) -> None:
        if ds is not None:
            ds.check_name(name)
        if name not in set(table["filename"]):
            raise DatasetError(f"{name} is not one of this run's clips.")

    refused = urlstate.seed_from_url("metrics-clip", "clip", check_in_run)
    if refused:
        st.error(f"The link's clip was rejected: {refused}")
    clip_table(wrong, "metrics-wrong-table", choice_key="metrics-clip")
    # the most confidently wrong first; a selectbox of every mistake of a 50,000-clip run (12,500 names) made each
    # rerun slow, and a clip picked in the table (or a link) is added to the list anyway
    options = list(wrong["filename"].head(MAX_OPTIONS))
    current = st.session_state.get("metrics-clip")
    if current and current not in options and current in set(table["filename"]):
        options.insert(0, current)
    elif current and current not in options:  # not one of this run's clips (another run was chosen)
        st.session_state["metrics-clip"] = None
    if not options:
        st.info("No misclassified clip matches these filters.")
        st.stop()
    choice = st.selectbox("Clip", options, index=None, key="metrics-clip", placeholder="Pick a clip, or click a row")
    urlstate.write_url("clip", choice)
    if choice:
        row = report.clip_row(p, choice)
        st.markdown(f"### {choice}: **{row['true_name']}** heard as **{row['pred_name']}** ({row['confidence']:.0%})")
        left, right = st.columns([3, 2])
        with left:
            play(row, "metrics-wrong-clip", show_meta=False)
        with right:
            top5 = report.top_probs(p, choice, 5)
            st.plotly_chart(charts.probability_bars(np.array([v for _, v in top5]), [n for n, _ in top5], top_k=1,
                                                    title="Top-5 probabilities (out of fold)", height=260),
                            key="metrics-wrong-top5")
        try:
            emb = loaders.run_embeddings(run)
        except RunError as e:
            st.warning(f"No neighbours: {e}")
        else:
            st.subheader("Nearest correctly classified clips")
            st.caption("Closest in the run's embedding space (cosine). Listen to how the clip resembles the class it "
                       "was mistaken for.")
            n_true, n_pred = st.columns(2)
            for col, label, what in ((n_true, int(row["true"]), "true"), (n_pred, int(row["pred"]), "predicted")):
                with col:
                    near = report.correct_neighbours(p, emb, choice, label)
                    st.markdown(f"**From the {what} class, {labels[label]}**")
                    if near.empty:
                        st.caption("No correctly classified clip of this class.")
                    search_view.show_hits(ds, list(zip(near["filename"], near["distance"])),
                                          key=f"metrics-near-{what}")

# ---- calibration -------------------------------------------------------------------------------
elif section == "Calibration":
    n_bins = st.slider("Bins", 5, 20, 10, key="metrics-bins")
    conf, correct = table["confidence"].to_numpy(), table["correct"].to_numpy()
    bins = metrics.calibration_bins(conf, correct, n_bins)
    ece = metrics.expected_calibration_error(conf, correct, n_bins)
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.reliability_figure(bins, ece), key="metrics-reliability")
    c2.plotly_chart(charts.confidence_histogram(conf[correct], conf[~correct]), key="metrics-confhist")
    st.caption(f"Expected calibration error {ece:.3f}: the gap between confidence and accuracy, averaged over "
               f"{n_bins} equal-width bins weighted by how many clips they hold. Mean confidence {conf.mean():.1%}, "
               f"accuracy {correct.mean():.1%}.")

# ---- open set -----------------------------------------------------------------------------------
elif section == "Open set":
    if not run.classifies_audio:
        st.info("Models trained from scratch (or fine-tuned) have no open-set check here: the verdict uses a "
                "backbone's AudioSet tags and embeddings. Pick a run of heads on YAMNet or EfficientAT.")
        st.stop()
    try:
        summary = report.openset_summary(run, head, loaders.tag_names(run.backbone_key))
    except ModelError as e:
        st.error(str(e))
        st.stop()
    if summary is None:
        st.warning("This run has no open-set calibration yet: `python -m soundlab calibrate` makes one from its "
                   "stored predictions and embeddings.")
        st.stop()
    oof = summary["oof"]
    m1, m2, m3 = st.columns(3)
    m1.metric("ESC-50 clips judged in-set", f"{oof['in_set']:.1%}", help="Out of fold, nested: each fold judged with "
              "thresholds and a tag map fitted without it.")
    m2.metric("judged unsure", f"{oof['unsure']:.1%}")
    m3.metric("judged not one of the classes", f"{oof['foreign']:.1%}")
    st.caption("Signals (larger = less like ESC-50) and the value 95% of ESC-50 clips stay within, out of fold: "
               + "; ".join(f"`{k}` {v:.2f}" for k, v in summary["p95"].items())
               + ". A clip's signals become tail probabilities against these clips; Fisher's combination decides.")
    st.subheader("The tag map, learned from the data")
    st.caption(f"For each class, the AudioSet tags among the top five of at least 15% of its clips. "
               f"{summary['known']} of {summary['n_tags']} tags are produced by some class; a clip whose strongest tags "
               f"are outside them sounds like no ESC-50 class. Generic tags (produced by six classes or more) do not "
               f"count as a class's own: {', '.join(summary['generic'])}.")
    st.dataframe(summary["tag_map"], hide_index=True, height=420)

# ---- embedding map -----------------------------------------------------------------------------
elif section == "Map":
    c1, c2 = st.columns(2)
    method = c1.radio("Projection", ["pca", "tsne"], horizontal=True, key="metrics-map-method",
                      format_func={"pca": "PCA", "tsne": "t-SNE"}.get)
    color_by = c2.radio("Colour by", ["right / wrong", "class"], horizontal=True, key="metrics-map-color")
    try:
        emb, xy, n_all = loaders.embedding_map(run, method)
    except RunError as e:
        st.error(str(e))
        st.stop()
    pts, fig = loaders.map_view(run, head, p, emb, xy, method=method, color_by=color_by, classes=filter_ids)
    if len(emb.filenames) < n_all:
        st.caption(f"A random sample of {len(emb.filenames):,} of the run's {n_all:,} clips (seed 0; every class in "
                   "proportion): a map of every clip would take minutes with t-SNE and slow the browser.")
    event = st.plotly_chart(fig, key="metrics-map", on_select="rerun", selection_mode="points")
    points = event.selection.points if event is not None else []
    data = charts.point_customdata(points[0]) if points else []
    if data and str(data[0]) in set(table["filename"]):  # a point of this map, not of one drawn before
        name = str(data[0])
        row = report.clip_row(p, name)
        st.markdown(f"**{name}**: {row['true_name']} → predicted {row['pred_name']} ({row['confidence']:.0%})")
        play(row, "metrics-map-clip")

# ---- compare ------------------------------------------------------------------------------------
elif section == "Compare":
    c1, c2 = st.columns(2)
    same_task = [r.id for r in all_runs if r.task == run.task]
    b_run_id = c1.selectbox("Compare with run", same_task, index=same_task.index(runs.counterpart(all_runs, run, head).id),
                            key="metrics-b-run")
    b_run = runs.find(all_runs, b_run_id)
    b_heads = [k for k in b_run.model_names if not (b_run.id == run.id and k == head)] or b_run.model_names
    b_head = c2.selectbox("and model", b_heads, key="metrics-b-head")
    try:
        q = loaders.predictions(b_run, b_head, ds)
    except RunError as e:
        st.error(str(e))
        st.stop()
    cmp = report.compare(p, q)
    name_a, name_b = f"A ({run.id} · {head})", f"B ({b_run.id} · {b_head})"
    st.info(report.verdict_line(cmp, f"{head}" if b_run.id == run.id else name_a,
                                  f"{b_head}" if b_run.id == run.id else name_b), icon=":material/balance:")
    if cmp.get("n") and "error" not in cmp:
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Accuracy A", f"{cmp['acc_a']:.1%}")
        m2.metric("Accuracy B", f"{cmp['acc_b']:.1%}", delta=f"{cmp['acc_b'] - cmp['acc_a']:+.1%}")
        m3.metric("McNemar p", f"{cmp['mcnemar']['p_value']:.3g}", help=cmp["mcnemar"]["method"])
        m4.metric("Clips they disagree on", f"{cmp['disagree']} / {cmp['n']}")
        st.dataframe(cmp["per_class"], hide_index=True, height=260,
                     column_config={c: st.column_config.NumberColumn(format="%.2f")
                                    for c in ("recall A", "recall B", "difference")})
        col_a, col_b = st.columns(2)
        with col_a:
            st.markdown(f"**A right, B wrong ({len(cmp['only_a'])})**")
            row = clip_table(cmp["only_a"], "metrics-only-a")
            if row is not None:
                play(row, "metrics-only-a-player")
        with col_b:
            st.markdown(f"**B right, A wrong ({len(cmp['only_b'])})**")
            row = clip_table(cmp["only_b"], "metrics-only-b")
            if row is not None:
                play(row, "metrics-only-b-player")

    st.subheader("Every model of this task on the same clips")
    pool, problems = loaders.task_predictions(all_runs, run.task, ds)
    for problem in problems:
        st.caption(problem)
    verdict = report.family_verdict(pool)
    if verdict:
        st.info(verdict, icon=":material/lightbulb:")
    board = report.leaderboard(p, pool)
    if len(board):
        st.dataframe(board, hide_index=True, column_config={
            "accuracy": st.column_config.NumberColumn(format="percent"),
            "vs selected (points)": st.column_config.NumberColumn(format="%+.1f"),
            "McNemar p": st.column_config.NumberColumn(format="%.2g")})
        st.caption(f"Each row is compared with the selected head ({run.id} · {head}) on the clips both have "
                   "predictions for; McNemar's test asks whether their disagreements lean one way by more than chance.")

# ---- export -------------------------------------------------------------------------------------
else:
    oof_path = run.path / run.model(head)["oof"]
    st.download_button("Out-of-fold predictions (CSV)", oof_path.read_bytes(), file_name=f"{run.id}-{head}-oof.csv",
                       mime="text/csv", key="metrics-dl-oof")
    st.download_button("Per-class table (CSV)", report.per_class_table(p).to_csv(index=False).encode(),
                       file_name=f"{run.id}-{head}-per-class.csv", mime="text/csv", key="metrics-dl-class")
    cm = metrics.confusion(table["true"], table["pred"], p.n_classes)
    st.download_button("Confusion matrix (interactive HTML)",
                       charts.confusion_figure(cm, labels, normalize=True, title=f"{run.id} · {head}")
                       .to_html(include_plotlyjs="cdn").encode(),
                       file_name=f"{run.id}-{head}-confusion.html", mime="text/html", key="metrics-dl-cm")
    conf, correct = table["confidence"].to_numpy(), table["correct"].to_numpy()
    st.download_button("Reliability diagram (interactive HTML)",
                       charts.reliability_figure(metrics.calibration_bins(conf, correct),
                                                 metrics.expected_calibration_error(conf, correct))
                       .to_html(include_plotlyjs="cdn").encode(),
                       file_name=f"{run.id}-{head}-reliability.html", mime="text/html", key="metrics-dl-rel")
    st.caption("Every plotly chart also saves itself as PNG from its toolbar (the camera icon, top right of the "
               "chart); the confusion matrix is one with *Zoomable chart* on.")
