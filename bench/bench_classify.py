"""Classification benchmarks, for both backbones. Prints medians; run:

    .venv/bin/python bench/bench_classify.py [--skip-app]

Also: the default model's classification as the app calls it (a new thread per clip), idle, with one core busy and
with another Python thread busy (at Python's default thread switch interval and at the one scripts/serve.py sets).

Targets (2-core machine): warm end-to-end classification of a 5 s clip <= 25 ms with YAMNet and <= 15 ms with
EfficientAT mn04; `embed` over the dev set >= 65 clips/s with YAMNet and >= 100 clips/s with mn04; live mode latency
from audio frame to updated probabilities <= 1 s. Also reported: cold load of backbone + head, CPU use while
streaming, peak memory of the app with one and with both backbones loaded.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from common import ROOT, busy_python_thread, report, served_switch_interval, timeit  # noqa: E402,I001

import numpy as np  # noqa: E402

from soundlab import audio, runs
from soundlab.config import get_settings  # noqa: E402
from soundlab.models.backbone import load_backbone  # noqa: E402
from soundlab.models import embeddings
from soundlab.classify import classify_audio, load_classifier  # noqa: E402
from soundlab.config import DEFAULT_ARTIFACTS_DIR  # noqa: E402
from soundlab.live import for_classifier  # noqa: E402
from tests.assets import dev_dataset  # noqa: E402


def cold_load() -> None:
    code = ("import time; t0 = time.perf_counter()\n"
            "from soundlab import runs\nfrom soundlab.models.backbone import load_backbone\n"
            "from soundlab.classify import load_classifier, classify_audio\n"
            "from soundlab.config import DEFAULT_ARTIFACTS_DIR as A\n"
            "r = runs.preferred(runs.list_runs(A)[0])\n"
            "t1 = time.perf_counter(); bb = load_backbone(r.backbone_key); t2 = time.perf_counter()\n"
            "clf = load_classifier(r, None, bb); t3 = time.perf_counter()\n"
            f"classify_audio(clf, {str(CLIP)!r}); t4 = time.perf_counter()\n"
            "print(f'{t1-t0:.3f} {t2-t1:.3f} {t3-t2:.3f} {t4-t3:.3f}')")
    times = []
    for _ in range(3):  # the default model on its backbone (the app's first Classify visit)
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        times.append([float(x) for x in out.stdout.split()[-4:]])
    med = np.median(np.array(times), axis=0)
    print(f"{'cold start (fresh process), median of 3':55s} imports {med[0]:.2f} s, backbone {med[1]:.2f} s, "
          f"head (load + trace) {med[2]:.2f} s, first classification {med[3] * 1000:.0f} ms")


def live_latency(clf) -> None:
    a = audio.load(CLIP, sr=48_000)
    stereo = (np.stack([a.y, a.y], axis=1) * 32767).astype(np.int16)
    live = for_classifier(clf, window_s=1.92, smoothing=0.5)
    frame = 960  # 20 ms at 48 kHz
    latencies, steps = [], []
    cpu0, wall0 = time.process_time(), time.monotonic()
    n_frames = 10 * 50  # 10 s of audio, fed in real time
    for i in range(n_frames):
        chunk = stereo[(i * frame) % (len(stereo) - frame):][:frame]
        t_arrival = time.monotonic()
        live.push(chunk, 48_000, t_arrival)
        while live.ready():
            t0 = time.perf_counter()
            u = live.step()
            steps.append((time.perf_counter() - t0) * 1000)
            latencies.append(u.latency_s * 1000)
        sleep = wall0 + (i + 1) * 0.02 - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    report("live: one update (classify the last 1.92 s)", steps)
    report("live: latency from newest frame to probabilities", latencies, target_ms=1000)
    print(f"{'live: CPU while streaming 10 s in real time':55s} {100 * cpu / wall:.0f}% of one core "
          f"(page redraws not included; {len(steps)} updates)")
    print(f"{'live: worst case frame-to-update delay':55s} ~{480 + float(np.median(steps)):.0f} ms "
          "(a frame can wait up to one 0.48 s hop before its window is classified)")


def _memory(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
    rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024
    return hwm, rss


def app_memory() -> None:
    """The app's memory after the Classify page of a run of each backbone (both backbones are then loaded)."""
    from tests.browser import ANSWER, launch_chromium, start_app, wait_for_app

    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    with start_app({"SOUNDLAB_ESC50_ROOT": str(DEV)}) as url:
        out = subprocess.run(["pgrep", "-f", f"streamlit run app.py --server.address 127.0.0.1 --server.port {url.rsplit(':', 1)[1]}"],
                             capture_output=True, text=True)
        pid = int(out.stdout.split()[0])
        with launch_chromium() as browser:
            page = browser.new_page()
            for key in ("yamnet", "efficientat"):
                run = runs.preferred([r for r in shipped if r.backbone_key == key])
                if run is None:
                    continue
                page.goto(f"{url}/Classify?classify-backbone={key}&classify-run={run.id}")
                wait_for_app(page, 120_000)
                page.locator(ANSWER).first.wait_for(timeout=120_000)
                hwm, rss = _memory(pid)
                print(f"{'app process after Classify with ' + key:55s} peak RSS {hwm:.0f} MB, now {rss:.0f} MB")


def as_the_app_calls_it(clf, clips: list[str]) -> None:
    """Classification as the app runs it: each clip from a new thread (Streamlit runs every script run in a new
    thread), idle, with another process keeping one core busy (a browser drawing a page on the same machine), and
    beside another busy Python thread (other sessions' scripts, the server's event loop: they hold the GIL)."""
    served = served_switch_interval()
    conditions = (("idle", contextlib.nullcontext), ("one core busy (another process)", busy_core),
                  ("another Python thread busy (the GIL), switch 5 ms", lambda: busy_python_thread(0.005)),
                  (f"the same, switch {served * 1000:g} ms (the served app's)", lambda: busy_python_thread(served)))
    for what, condition in conditions:
        times = []

        def one(path, times=times):
            t0 = time.perf_counter()
            classify_audio(clf, path)
            times.append((time.perf_counter() - t0) * 1000)

        with condition():
            for path in clips:
                t = threading.Thread(target=one, args=(path,))
                t.start()
                t.join()
        report(f"  each clip from a new thread, {what}", times)


@contextlib.contextmanager
def busy_core():
    """Another process keeping one core busy, for the block."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


TARGETS = {"yamnet": (25, 65), "efficientat": (15, 100)}  # warm ms per 5 s clip (one head), embed clips/s
FUSED_MS = 25  # a fused default hears a clip through every member: its own target, the app's default's


def main() -> None:
    global CLIP, DEV
    DEV = dev_dataset()
    CLIP = DEV / "audio" / "2-117271-A-0.wav"
    shipped, _ = runs.list_runs(DEFAULT_ARTIFACTS_DIR)
    print(f"cpu cores {os.cpu_count()}")
    clips = [(f, str(DEV / "audio" / f)) for f in sorted(os.listdir(DEV / "audio")) if f.endswith(".wav")]
    for key in ("yamnet", "efficientat"):
        bb = load_backbone(key, get_settings())
        run = runs.preferred([r for r in shipped if r.backbone_key == key])
        warm_ms, rate = TARGETS[key]
        print(f"\n{bb.name}: run {run.id if run else '(none shipped)'}")
        if run is not None:
            # the default model, and the logreg baseline (of the run of heads, when the default run is a fused model)
            base = runs.preferred([r for r in shipped if r.backbone_key == key and "logreg" in r.model_names])
            pairs = {(r.id, kind): (r, kind) for r, kind in ((run, run.default_model), (base, "logreg")) if r}
            for r, kind in pairs.values():
                clf = load_classifier(r, kind, bb)
                what = (f"{kind}: {r.model_title(kind)}" if r.is_fused(kind) else f"{kind}, {len(clf.tta_views)} passes")
                report(f"warm classification, 5 s clip, end to end ({what})",
                       timeit(lambda c=clf: classify_audio(c, CLIP), repeat=40, warmup=3),
                       target_ms=FUSED_MS if r.is_fused(kind) else warm_ms)
                if kind == run.default_model and r is run:
                    as_the_app_calls_it(clf, [path for _, path in clips[:20]])
        y = audio.load(CLIP, sr=bb.params.sample_rate_hz).y
        report(f"  of which {bb.short_name} alone (one pass)", timeit(lambda b=bb, y=y: b(y), repeat=40))
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            es, _ = embeddings.embed_clips(clips, bb, cache_dir=Path(cache))
            dt = time.perf_counter() - t0
            print(f"{'embed: dev set, cold cache':55s} {len(es)} clips in {dt:.1f} s = {len(es) / dt:.0f} clips/s"
                  f"  target >= {rate} clips/s: {'met' if len(es) / dt >= rate else 'NOT met'}")
            t0 = time.perf_counter()
            embeddings.embed_clips(clips, bb, cache_dir=Path(cache))
            print(f"{'embed: dev set, warm cache (rerun)':55s} {time.perf_counter() - t0:.2f} s")
        if run is not None:
            live_latency(load_classifier(run, None, bb))
    cold_load()
    if "--skip-app" not in sys.argv:
        app_memory()


if __name__ == "__main__":
    main()
