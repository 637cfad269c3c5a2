"""Transcription benchmarks: real-time factor, load time, peak memory and word error rate of whisper-base
and tiny.en with both engines, on the same clips. Each configuration runs in a fresh process. Run:

    .venv/bin/python bench/bench_transcribe.py

Target: real-time factor <= 0.1 for whisper-base with the faster engine on the 58 s clip (2 threads).

Also: whisper-base on the clip's first 15 s beside another busy Python thread (in the app, another session's script or
the server's event loop), at Python's default thread switch interval (5 ms) and at the one scripts/serve.py sets.
The worst case for the GIL the app's sessions share; bench_transcribe_app.py measures the page beside a real visitor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from common import ROOT, loop_time, served_switch_interval  # noqa: I001

from tests.assets import shared, whisper_models

CHILD = r"""
import json, resource, sys, time
import soundfile as sf
from soundlab.asr import engines, longform
from tests.wer import word_error_rate
engine, model, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter(); e = engines.load_engine(engine, model, threads=threads); load = time.perf_counter() - t0
out = {"load_s": load, "runs": {}}
for clip in sys.argv[4:]:
    y, _ = sf.read(f"{clip}.wav", dtype="float32")
    ref = open(f"{clip}.txt").read()
    rtfs = []
    for _ in range(3 if "long" in clip else 1):
        t = longform.transcribe(e, y)
        rtfs.append(t.real_time_factor)
    out["runs"][clip.rsplit("/", 1)[-1]] = {"rtf": sorted(rtfs)[len(rtfs) // 2], "wer": word_error_rate(ref, t.text),
                                           "chunks": t.chunks, "seconds": t.seconds}
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


CONTENTION = r"""
import sys, time
import soundfile as sf
from common import busy_python_thread
from soundlab.asr import engines, longform
engine, model, clip, app_interval = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
e = engines.load_engine(engine, model, threads=2)
y, _ = sf.read(clip, dtype="float32")
y = y[: 16_000 * 15]
longform.transcribe(e, y[: 16_000 * 3], language="en")
def seconds():
    t0 = time.perf_counter(); longform.transcribe(e, y, language="en"); return time.perf_counter() - t0
out = [f"alone {seconds():.1f} s"]
for interval in (0.005, app_interval):
    with busy_python_thread(interval):
        out.append(f"beside a busy thread, switch interval {interval * 1000:g} ms: {seconds():.1f} s")
print(" | ".join(out))
"""


def contention(models) -> None:
    clip = str(shared("speech", "en-long.wav"))
    for engine, name in (("transformers", "whisper-base-hf"), ("faster-whisper", "whisper-base-ct2")):
        out = subprocess.run([sys.executable, "-c", CONTENTION, engine, str(models / name), clip,
                              str(served_switch_interval())], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "bench")))})
        line = out.stdout.strip().splitlines()[-1] if out.returncode == 0 else "FAILED " + out.stderr[-300:]
        print(f"{engine:15s} whisper-base, 15 s: {line}")


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-contention", action="store_true", help="skip the runs beside a busy thread")
    ap.add_argument("--contention-only", action="store_true", help="only the runs beside a busy thread")
    args = ap.parse_args()
    models = whisper_models()
    if args.contention_only:
        print(f"the machine's speed: a fixed Python loop {loop_time():.3f} s")
        contention(models)
        print(f"the fixed Python loop after the runs: {loop_time():.3f} s")
        return
    clips = [str(shared("speech", f"{c}.wav"))[:-4] for c in ("en-long", "en-short")]
    configs = [("faster-whisper", "whisper-base-ct2"), ("transformers", "whisper-base-hf"),
               ("faster-whisper", "whisper-tiny.en-ct2"), ("transformers", "whisper-tiny.en-hf")]
    print(f"cpu cores {os.cpu_count()}; 2 threads; greedy decoding; clips: en-long (58 s), en-short (7 s); the machine's "
          f"speed: a fixed Python loop {loop_time():.3f} s (compare runs at similar loop times)")
    print(f"{'engine':15s} {'model':15s} {'RTF 58 s (median of 3)':>24s} {'WER long':>9s} {'WER short':>10s} "
          f"{'load':>7s} {'peak RSS':>9s}")
    results = {}
    for engine, name in configs:
        out = subprocess.run([sys.executable, "-c", CHILD, engine, str(models / name), "2", *clips], cwd=ROOT,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode != 0:
            print(engine, name, "FAILED", out.stderr[-500:])
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results[(engine, name)] = r
        long, short = r["runs"]["en-long"], r["runs"]["en-short"]
        target = ""
        if name == "whisper-base-ct2":
            target = f"  target <= 0.1: {'met' if long['rtf'] <= 0.1 else 'NOT met'}"
        print(f"{engine:15s} {name.rsplit('-', 1)[0]:15s} {long['rtf']:24.3f} {long['wer']:9.1%} {short['wer']:10.1%} "
              f"{r['load_s']:6.1f}s {r['peak_rss_mb']:7.0f}MB{target}")
    for name in ("whisper-base", "whisper-tiny.en"):
        fw = results.get(("faster-whisper", f"{name}-ct2"))
        tr = results.get(("transformers", f"{name}-hf"))
        if fw and tr:
            print(f"{name}: faster-whisper is {tr['runs']['en-long']['rtf'] / fw['runs']['en-long']['rtf']:.1f}x "
                  "faster than transformers on the 58 s clip")
    if not args.no_contention:
        contention(models)
    print(f"the fixed Python loop after the runs: {loop_time():.3f} s")


if __name__ == "__main__":
    main()
