"""Plotly figures (arrays in, Figure out) and spectrogram thumbnails. No data loading here."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

COLORSCALE = "Viridis"
_LAYOUT = dict(margin=dict(l=10, r=10, t=36, b=10), template="plotly_white")


def waveform_figure(t: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, title: str = "Waveform",
                    height: int = 220) -> go.Figure:
    """Min/max envelope as a filled band (bounded number of points, see `soundlab.dsp.envelope`)."""
    x = np.concatenate([t, t[::-1]])
    y = np.concatenate([hi, lo[::-1]])
    fig = go.Figure(go.Scatter(x=x, y=y, fill="toself", mode="lines", line=dict(width=0.6, color="#3b6ea8"),
                               fillcolor="rgba(59,110,168,0.55)", hoverinfo="skip", name="waveform"))
    fig.update_layout(title=title, height=height, showlegend=False, **_LAYOUT)
    peak = float(max(np.max(np.abs(lo)) if lo.size else 0, np.max(np.abs(hi)) if hi.size else 0, 1e-3))
    fig.update_yaxes(title="amplitude", range=[-peak * 1.05, peak * 1.05], zeroline=True)
    fig.update_xaxes(title="time (s)", range=[0, float(t[-1]) if t.size else 1])
    return fig


def _hz_label(f: float) -> str:
    return f"{f / 1000:.2f} kHz" if f >= 1000 else f"{f:.0f} Hz"


def band_labels(freqs: np.ndarray) -> list[str]:
    """Unique readable labels for mel band centre frequencies (used as a category axis)."""
    labels, seen = [], set()
    for f in freqs:
        label = _hz_label(float(f))
        while label in seen:  # very dense bands can round to the same text
            label += " "
        seen.add(label)
        labels.append(label)
    return labels


def mel_figure(S_db: np.ndarray, times: np.ndarray, freqs: np.ndarray, *, title: str = "Mel spectrogram (dB)",
               height: int = 320, zmin: float | None = None) -> go.Figure:
    """Heatmap of a (n_mels, t) dB array; bands are labelled by their centre frequency."""
    labels = band_labels(freqs)
    # float32: plotly sends numpy arrays as typed binary; float64 doubles the page's largest message for precision no
    # screen shows (bench/RESULTS.md)
    fig = go.Figure(go.Heatmap(
        z=np.asarray(S_db, np.float32), x=np.asarray(times, np.float32), y=labels, colorscale=COLORSCALE, zmin=zmin if zmin is not None else float(S_db.min()),
        zmax=0.0, colorbar=dict(title="dB", thickness=12),
        hovertemplate="t=%{x:.2f} s<br>%{y}<br>%{z:.1f} dB<extra></extra>",
    ))
    step = max(1, len(labels) // 8)
    fig.update_yaxes(type="category", tickvals=labels[::step], title="frequency (mel bands)")
    fig.update_xaxes(title="time (s)")
    fig.update_layout(title=title, height=height, **_LAYOUT)
    return fig


def probability_bars(probs: np.ndarray, class_names: list[str], *, top_k: int = 5, height: int | None = None,
                     title: str = "Class probabilities", limit: int | None = None, greyed: bool = False) -> go.Figure:
    """Classes as horizontal bars (all, or the `limit` most probable), most probable on top; top k highlighted.
    `greyed`: the answer is hypothetical (the sound is not one of the classes), every bar in grey."""
    order = np.argsort(-probs)[:limit]
    names = [class_names[i] for i in order]
    values = probs[order]
    strong, weak = ("#9e9e9e", "#dedede") if greyed else ("#3b6ea8", "#c9d6e6")
    colors = [strong if r < top_k else weak for r in range(len(order))]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colors,
                           text=[f"{v:.1%}" if r < top_k else "" for r, v in enumerate(values)], textposition="outside",
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=11))
    fig.update_xaxes(range=[0, max(1.0, float(values.max()) * 1.15)], tickformat=".0%", title="probability")
    fig.update_layout(title=title, height=height or max(260, 18 * len(order) + 80), showlegend=False, **_LAYOUT)
    return fig


def confusion_figure(cm: np.ndarray, labels: list[str], *, normalize: bool, title: str,
                     height: int = 760, selected: tuple[int, int] | None = None) -> go.Figure:
    """Confusion matrix heatmap (rows true, columns predicted) with a clickable marker on every non-empty
    cell: plotly heatmaps send no selection events, scatter points do (customdata = [true, pred])."""
    counts = np.asarray(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(counts.sum(1, keepdims=True) > 0, counts / counts.sum(1, keepdims=True), 0.0)
    z = rates if normalize else counts
    idx = list(range(len(labels)))
    fig = go.Figure(go.Heatmap(
        z=z, x=idx, y=idx, colorscale="Blues", zmin=0, zmax=1 if normalize else max(1, int(counts.max())),
        customdata=np.dstack([counts, rates]), hoverinfo="skip",
        colorbar=dict(title="share of row" if normalize else "clips", thickness=12),
    ))
    ti, pi = np.nonzero(counts)
    fig.add_trace(go.Scatter(
        x=pi, y=ti, mode="markers", marker=dict(symbol="square", size=max(4, int(600 / len(labels))), opacity=0.01,
                                                color="black"),
        customdata=np.stack([ti, pi, counts[ti, pi]], axis=1),
        text=[f"true {labels[t]} → predicted {labels[p]}: {counts[t, p]} clips ({rates[t, p]:.0%} of {labels[t]})"
              for t, p in zip(ti, pi)],
        hovertemplate="%{text}<extra>click to list the clips</extra>", showlegend=False, name="cells",
    ))
    if selected is not None:
        t, p = selected
        fig.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5, line=dict(color="#d62728", width=2))
    tick = dict(tickmode="array", tickvals=idx, ticktext=labels, tickfont=dict(size=9 if len(labels) > 12 else 11))
    fig.update_xaxes(title="predicted", side="bottom", tickangle=-60, range=[-0.5, len(labels) - 0.5], **tick)
    fig.update_yaxes(title="true", autorange="reversed", **tick)
    fig.update_layout(title=title, height=height, clickmode="event+select", dragmode=False, **_LAYOUT)
    return fig


def fold_bars(per_fold: dict[int, float], mean: float, std: float) -> go.Figure:
    folds = sorted(per_fold)
    fig = go.Figure(go.Bar(x=[f"fold {f}" for f in folds], y=[per_fold[f] for f in folds], marker_color="#3b6ea8",
                           text=[f"{per_fold[f]:.1%}" for f in folds], textposition="auto"))
    fig.add_hline(y=mean, line_dash="dash", line_color="#d62728",
                  annotation_text=f"mean {mean:.1%} ± {std:.1%}", annotation_position="top left")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title="accuracy")
    fig.update_layout(title="Accuracy per fold", height=300, **_LAYOUT)
    return fig


def reliability_figure(bins, ece: float) -> go.Figure:
    """Accuracy against mean confidence per bin; the diagonal is perfect calibration."""
    used = bins[bins["count"] > 0]
    centers = (used["lower"] + used["upper"]) / 2
    fig = go.Figure()
    fig.add_trace(go.Bar(x=centers, y=used["accuracy"], width=(used["upper"] - used["lower"]) * 0.9,
                         marker_color="#3b6ea8", name="accuracy",
                         customdata=np.stack([used["count"], used["confidence"]], axis=1),
                         hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.1%}<br>%{customdata[0]} clips<extra></extra>"))
    fig.add_trace(go.Scatter(x=used["confidence"], y=used["accuracy"], mode="markers", marker=dict(color="#d62728"),
                             name="mean confidence of the bin"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="gray"),
                             name="perfect calibration"))
    fig.update_xaxes(range=[0, 1], title="confidence (top probability)")
    fig.update_yaxes(range=[0, 1], title="accuracy", tickformat=".0%")
    fig.update_layout(title=f"Reliability diagram · ECE {ece:.3f}", height=380, **_LAYOUT)
    return fig


def confidence_histogram(conf_right: np.ndarray, conf_wrong: np.ndarray) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=conf_right, name=f"right ({len(conf_right)})", xbins=dict(start=0, end=1, size=0.05),
                               marker_color="#5b8a3c", opacity=0.75))
    fig.add_trace(go.Histogram(x=conf_wrong, name=f"wrong ({len(conf_wrong)})", xbins=dict(start=0, end=1, size=0.05),
                               marker_color="#d62728", opacity=0.75))
    fig.update_layout(barmode="overlay", title="Confidence of right and wrong answers", height=320, **_LAYOUT)
    fig.update_xaxes(range=[0, 1], title="confidence")
    fig.update_yaxes(title="clips")
    return fig


def embedding_scatter(xy: np.ndarray, color: list[str], text: list[str], *, title: str, keys: list[str],
                      height: int = 620) -> go.Figure:
    """One point per clip; clicking a point selects it (customdata = its file name)."""
    import plotly.express as px

    # SVG, not WebGL: plotly express switches to WebGL above 1000 points, which browsers without a GPU (and
    # headless ones) draw slowly or not at all; 2000 points are fine as SVG
    # right / wrong in two colours people with any colour vision tell apart; classes in a 60-colour sequence (plotly's
    # default has 10, so 50 classes shared five colours each)
    palette = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24 + px.colors.qualitative.Alphabet[:12]
    fig = px.scatter(x=xy[:, 0], y=xy[:, 1], color=color, hover_name=text, custom_data=[keys], height=height,
                     render_mode="svg", color_discrete_map={"right": "#3b6ea8", "wrong": "#e66100"},
                     color_discrete_sequence=palette)
    fig.update_traces(marker=dict(size=7, opacity=0.8))
    fig.update_layout(title=title, legend=dict(font=dict(size=9), itemsizing="constant"), clickmode="event+select",
                      **_LAYOUT)
    fig.update_xaxes(title="", showticklabels=False)
    fig.update_yaxes(title="", showticklabels=False)
    return fig


def point_customdata(point: dict) -> list:
    """A selected point's customdata as a list (Streamlit passes a list, or a dict keyed "0", "1", ...)."""
    cd = point.get("customdata")
    if cd is None:
        return []
    if isinstance(cd, dict):
        return [cd[k] for k in sorted(cd, key=lambda k: int(k))]
    if isinstance(cd, (list, tuple)):
        return list(cd)
    return [cd]
