"""SoundLab entry page: what is loaded, what is missing and how to get it, where to go."""

import streamlit as st

from components import loaders, page
from soundlab.asr import engines
from soundlab.data.download import download_esc50
from soundlab.errors import DownloadError
from soundlab.models import backbone

settings = page.start("SoundLab", "🔊")

st.title(":material/graphic_eq: SoundLab")
st.write("Environmental sound classification on **ESC-50**: 2,000 five-second clips, 50 classes in "
         "5 categories, 5 folds. Explore the data by eye and ear, and hear what classifiers on two pretrained AudioSet "
         "networks (YAMNet and EfficientAT) make of any sound. UrbanSound8K, a CSV of labelled files or a folder per "
         "class work the same way (setting `SOUNDLAB_DATASET`).")

st.page_link("pages/1_Explore.py", label="Explore the dataset: filter, listen, waveform and mel spectrogram",
             icon=":material/search:")
st.page_link("pages/2_Classify.py", label="Classify a sound: a clip, an upload, a recording or the live microphone",
             icon=":material/hearing:")
st.page_link("pages/3_Metrics.py", label="Metrics: cross-validated results, confusion matrix, the clips the model gets wrong",
             icon=":material/analytics:")
st.page_link("pages/4_Transcribe.py", label="Transcribe speech with Whisper: segments, language, subtitles",
             icon=":material/record_voice_over:")
st.page_link("pages/5_Data_issues.py", label="Data issues: mislabelled clips, near-duplicates, outliers; listen and "
             "record a decision", icon=":material/rule:")

# ---- dataset ----------------------------------------------------------------------------------
st.header("Dataset")
status = loaders.dataset_status()
ds = status.dataset
if ds is None:
    st.error(f"No dataset available: {status.problem}")
elif ds.desc.is_esc50:
    if status.unusable:  # SOUNDLAB_DATASET names a dataset that cannot be used
        st.warning(status.problem)
    kind = {"full": "Full ESC-50", "partial": "Partial ESC-50", "sample": "Shipped sample"}[ds.kind]
    present = ds.present
    page.figures([("In use", kind), ("Clips on disk", f"{ds.n_present} / {len(ds.meta)}"),
                  ("Classes with audio", f"{present['target'].nunique()} / 50"),
                  ("ESC-10 clips on disk", f"{int(present['esc10'].sum())} / {int(ds.meta['esc10'].sum())}")])
    st.caption(f"Folder: `{ds.root}`")
    if ds.kind == "sample":
        st.info("The app is showing its shipped sample (one real clip per class, see `sample/LICENSE.md`). "
                + (status.problem or ""))
    elif ds.kind == "partial":
        st.info(f"{len(ds.meta) - ds.n_present} clips listed in the metadata are not on disk; every page "
                "works on the clips that are there and says how many.")
else:
    present = ds.present
    page.figures([
        ("In use", ds.title, f"SOUNDLAB_DATASET={settings.dataset_setting}"),
        ("Clips usable", f"{ds.n_present:,} / {len(ds.meta):,}"),
        ("Classes", f"{present['target'].nunique()} / {ds.n_classes}"),
        ("Folds", str(ds.desc.n_folds) if ds.desc.n_folds and not ds.desc.folds_leak else "made by SoundLab",
         "The dataset's own folds are used when it defines them, every listed clip is usable and no group spans two "
         "folds; otherwise SoundLab makes 5 folds stratified by class and grouped by the group.")])
    st.caption(f"Folder: `{ds.root}` · groups: {ds.desc.group or 'none'}"
               + (f" · categories: {len(ds.desc.categories)}" if ds.desc.categories else ""))
    for note in ds.desc.notes:
        st.warning(note, icon=":material/warning:")

if ds is None or (ds.desc.is_esc50 and ds.kind != "full"):
    with st.expander("Get the full ESC-50 dataset (about 600 MB)", expanded=ds is None or ds.kind == "sample"):
        st.markdown(
            f"- Download it here, or in a terminal: `python -m soundlab download` "
            f"(resumes if interrupted; installs into `{settings.esc50_root}` only once complete).\n"
            "- Already have it? Set `SOUNDLAB_ESC50_ROOT` to the folder that holds `meta/esc50.csv` and "
            "`audio/`, or run `python -m soundlab download --archive ESC-50-master.zip`.\n"
            "- ESC-50 is licensed CC BY-NC 3.0 (K. J. Piczak)."
        )
        if st.button("Download ESC-50 now", key="home-download", type="primary"):
            bar = st.progress(0.0, text=f"Connecting to {settings.esc50_url} ...")

            def show(stage: str, done: int, total: int | None) -> None:
                if stage == "download":
                    text = f"Downloading: {done / 2**20:.1f} MB" + (f" of {total / 2**20:.1f} MB" if total else "")
                else:
                    text = {"verify": "Checking the archive ...", "extract": f"Extracting {done}/{total} files ..."}[stage]
                bar.progress(min(done / total, 1.0) if total else 0.0, text=text)

            try:
                download_esc50(settings.esc50_root, url=settings.esc50_url, timeout_s=settings.download_timeout_s,
                               progress=show)
            except DownloadError as e:
                bar.empty()
                st.error(str(e))
            else:
                bar.progress(1.0, text="Done.")
                st.success(f"ESC-50 installed at {settings.esc50_root}.")
                st.rerun()

# ---- models -----------------------------------------------------------------------------------
st.header("Models")
st.caption(f"Folder: `{settings.artifacts_dir}` (setting `SOUNDLAB_ARTIFACTS_DIR`)")
lines = []
for key in backbone.REGISTRY:
    bb = backbone.status(key, settings)
    for what, where, present in bb.files:
        size = f" ({where.stat().st_size / 2**20:.1f} MB)" if present and where.stat().st_size > 2**20 else ""
        lines.append(f"- :green[:material/check_circle:] {what}{size}" if present else
                     f"- :red[:material/cancel:] not present: {what} (`{where}`). {bb.note}")
    if bb.ready and not bb.files:
        lines.append(f"- {bb.name}: {bb.note}")
all_runs, problems = loaders.runs()
lines += [f"- :green[:material/check_circle:] trained run `{r.id}` ({r.family}, {len(r.model_names)} "
          f"model{'s' if len(r.model_names) != 1 else ''})" for r in all_runs]
elsewhere = len(loaders.all_runs()[0]) - len(all_runs)
if elsewhere:
    lines.append(f"- {elsewhere} run{'s' if elsewhere != 1 else ''} of other datasets not listed: the pages use the "
                 f"runs of the dataset in use ({ds.title if ds is not None else 'none'}; setting `SOUNDLAB_DATASET`).")
if not all_runs:
    lines.append("- :red[:material/cancel:] not present: trained runs. Train with `python -m soundlab train`, or "
                 "restore the shipped ones with `git checkout model_artifacts/`.")
lines += [f"- :orange[:material/warning:] unusable run folder: {p}" for p in problems]
st.markdown("\n".join(lines))
where = engines.model_source(settings.whisper_model, settings.whisper_engine)
st.markdown(f"- Whisper (Transcribe page): `{settings.whisper_model}` with {settings.whisper_engine}: {where}. "
            "Set `SOUNDLAB_WHISPER_MODEL` to another hub id or a local folder.")
