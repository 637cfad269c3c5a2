"""The figures at the top of the Metrics page, with their protocol, and the per-class recall and references."""

from __future__ import annotations

import streamlit as st

from components import page
from soundlab import predictions


def render(view) -> None:
    run, p = view.run, view.p
    s = p.summary()
    page.figures([
        ("Accuracy", f"{s['accuracy']:.1%}"),
        ("Balanced accuracy", f"{s['balanced_accuracy']:.1%}", "The mean of the per-class recalls: every class counts "
         "the same, however many clips it has."),
        ("Top-3 accuracy", f"{s['top3_accuracy']:.1%}"),
        ("Macro-F1", f"{s['macro_f1']:.1%}"),
        ("Per fold", f"{s['fold_mean']:.1%}", "The mean of the folds' accuracies ± their standard deviation.",
         f"± {s['fold_std']:.1%}")])
    cov = run.info["coverage"]
    st.caption(f"**Protocol:** {run.protocol['description']}. **Coverage:** {cov['clips_present']} of "
               f"{cov['clips_listed']} clips, {cov['classes_present']} of {cov['classes_listed']} classes. "
               f"Out-of-fold predictions of {page.safe(run.model_title(view.model))} (run `{run.id}`, "
               f"`{run.model(view.model)['oof']}`); {int(view.table['present'].sum())} of these {len(view.table)} "
               "clips are on disk here to listen to.")
    real = run.model(view.model).get("real_conditions")
    if real:
        st.caption(f"**ESC-50 under real conditions:** {real['cv']['accuracy']:.1%} accuracy "
                   f"({real['cv']['balanced_accuracy']:.1%} balanced), the same folds with every held-out clip passed "
                   "through another recording chain (band limit, room, noise, codec) it was never trained on. "
                   + ("Its heads also trained on two such views of every clip." if run.trained_on_real_conditions
                      else ""))
    outside = run.extra_training
    if outside:
        source = str(outside["source"]).replace("`", "'")  # shown in a code span, where markdown escapes would show
        splits = f" (split{'s' if len(outside['splits']) > 1 else ''} {', '.join(outside['splits'])})" \
            if outside.get("splits") else ""
        st.info(f"**Also trained on {outside['recordings']} recordings from outside ESC-50** "
                f"(`{source}`{splits}: {outside['windows']} windows of 5 s, "
                f"{outside['classes']} classes) besides ESC-50's clips"
                + (f", each window weighing as much as {outside['weight']:g} ESC-50 clips" if outside.get("weight", 1) != 1
                   else "") + ". They joined every training fold and the "
                "deployed model, never a test fold: the cross-validation above tests ESC-50 clips only. Its figures on "
                "the real-world set (Outside the training data) come from the same recipe trained without the split "
                "judged."
                + (f" Its check \"is it one of the classes?\" also learned from {run.foreign_training['recordings']} "
                   "recordings of other sounds (the same file's `foreign` rows, the same splits)."
                   if run.foreign_training else ""), icon=":material/public:")
    relabelled = run.protocol.get("labels")
    if relabelled:
        st.warning(f"This run's labels are not the official ESC-50 labels: {relabelled['changed']} clips were "
                   f"relabelled by review (`{relabelled['source']}`), on the same folds. Compare it with a run on the "
                   "official labels to see what the corrections change; published figures are not comparable.",
                   icon=":material/rule:")
    note = predictions.imbalance_note(p)
    if note:
        st.info(note, icon=":material/balance:")
    caption = predictions.model_caption(run, view.model)
    if caption:
        st.caption(caption)
    # drawn only once opened: a data grid in a closed expander still costs a new visitor its code (bench/RESULTS.md)
    recall = st.expander("Recall of every class, worst first", key="metrics-recall-open", on_change="rerun")
    if recall.open:
        recall.dataframe(predictions.recall_table(p), hide_index=True, height=300,
                         column_config={"recall": st.column_config.ProgressColumn(format="percent", min_value=0,
                                                                                  max_value=1)})
        groups = predictions.group_accuracy(p)
        if groups:
            recall.caption(f"Accuracy on the clips of the ten ESC-10 classes: {groups['esc10_classes']:.1%}; on the "
                           f"other classes: {groups['other_classes']:.1%} (balanced {groups['other_balanced']:.1%}).")
    references = st.expander("Published reference points, each with its protocol", key="metrics-refs-open",
                             on_change="rerun")
    if references.open:
        with references:
            _references(view)


def _references(view) -> None:
    refs = predictions.reference_table(view.p)
    # long texts wrap in wide columns instead of being cut at the grid's default width
    st.dataframe(refs, hide_index=True, row_height=60, column_config={
        "what": st.column_config.TextColumn(width="large"), "protocol": st.column_config.TextColumn(width="large"),
        "why": st.column_config.TextColumn(width="large"),
        "accuracy": st.column_config.NumberColumn(format="percent", width="small")})
    if not refs["comparable"].iloc[:-1].any():
        st.caption("None of the published figures is comparable with this run: a figure is comparable only when it was "
                   "measured on the same protocol, the official folds on every clip of the task. "
                   + ("This run is on a partial dataset; download the full ESC-50 and train again for an "
                      "official-protocol run." if not view.run.official else ""))
    st.caption("A random split puts takes of one source recording in both training and test, so a model is tested on "
               "near-copies of what it learned: such numbers are higher and say little. All numbers here keep a "
               "recording's takes in one fold.")
