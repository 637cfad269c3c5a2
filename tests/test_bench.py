"""The benchmarks still run. Speed is never asserted here (the bench scripts print it); what is checked is that the
scripts the README's figures come from do not break when the pages, the shipped runs or the helpers they use change
(bench_transcribe failed on every configuration from 2026-11-21, when the WER helper moved, to 2026-12-03;
bench_metrics and bench_foundation broke when the default run and Explore's default view changed)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from tests.assets import ROOT

BENCH = ROOT / "bench"


def child_programs() -> list[tuple[str, str, str]]:
    """(script, constant, code) of every program a bench script runs in a child process (a module-level string
    constant handed to `python -c`): ruff, like any linter, sees only a string there."""
    out = []
    for script in sorted(BENCH.glob("*.py")):
        for node in ast.parse(script.read_text()).body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str) and node.value.value.lstrip().startswith("import ")):
                out.append((script.name, node.targets[0].id, node.value.value))
    return out


def test_child_programs_of_the_benchmarks_name_only_what_they_define_or_import(tmp_path):
    programs = child_programs()
    assert {(s, c) for s, c, _ in programs} >= {("bench_transcribe.py", "CHILD"), ("bench_transcribe.py", "CONTENTION")}
    for script, const, code in programs:
        path = tmp_path / f"{script[:-3]}_{const}.py"
        path.write_text(code)
        out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select",
                              "F821,F401", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, f"{script}'s {const}:\n{out.stdout}{out.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("args, expect", [
    (["bench_foundation.py"], "Explore rerun, interactive charts"),
    (["bench_metrics.py"], "Map (PCA"),
    (["bench_accuracy.py"], "open set"),
    (["bench_issues.py", "--repeats", "1", "--queries", "5"], "sound search over 100,000 clips"),
    pytest.param(["bench_transcribe_app.py", "--engines", "faster-whisper", "--rounds", "1"], "beside a visitor",
                 marks=pytest.mark.browser),
], ids=["foundation", "metrics", "accuracy", "issues", "transcribe-app"])
def test_a_benchmark_runs_to_the_end(args, expect, dev_root, tmp_path):
    env = {**os.environ, "SOUNDLAB_ESC50_ROOT": str(dev_root), "SOUNDLAB_CACHE_DIR": str(tmp_path)}
    for key in ("SOUNDLAB_ARTIFACTS_DIR", "SOUNDLAB_DATASET"):
        env.pop(key, None)  # the shipped runs, as a user running the bench has them
    out = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout, out.stdout[-2000:]


def test_a_slow_page_visit_says_where_it_waited():
    """bench_pages' note on a slow visit names the longest stretch with nothing happening and what came before and
    after it (a cold visit once took 9.2 s with the server idle: the next one should explain itself)."""
    sys.path.insert(0, str(BENCH))
    try:
        from bench_pages import Frame, PageLog, WsMeter
    finally:
        sys.path.remove(str(BENCH))

    class FakePage:  # the Playwright page's event registration, unused here
        def on(self, event, handler):
            pass

    page = FakePage()
    log, meter = PageLog(page), WsMeter(page)
    log.events = [(0.1, "request /Metrics"), (0.2, "finished /Metrics"), (3.2, "websocket opened _stcore/stream")]
    meter.frames = [Frame(3.3, 400, "new_session", ""), Frame(3.5, 900, "delta", "metric")]
    gaps = log.gaps(meter, 0.0, 3.6)
    assert gaps[0] == "0.20 s finished /Metrics -> 3.00 s of nothing -> websocket opened _stcore/stream"
    assert len(gaps) == 1  # the other stretches are shorter than half a second
    assert "none" in log.gaps(meter, 3.25, 3.6)[0]


def test_the_real_world_benchmark_changes_recordings_as_asked(tmp_path):
    """bench_realworld --quieter / --inside / --offset / --rate / --room / --noise: the same clips, scaled (clipped at
    full scale, as a recorder clips), in the middle of silence or noise, with a DC offset, at a lower sample rate,
    played in a room (its reverberant tail kept), or under pink noise."""
    import importlib.util

    import numpy as np
    import soundfile as sf

    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_realworld", BENCH / "bench_realworld.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (src := tmp_path / "set" / "clips" / "dog").mkdir(parents=True)
    y = (0.5 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    sf.write(src / "a.wav", np.stack([y, y], axis=1), 8000)
    (tmp_path / "set" / "labels.csv").write_text("filename,label,split\nclips/dog/a.wav,dog,A\n")
    for kw, n, peak_db in (({"quieter_db": 20}, 8000, -26.0), ({"inside": "silence:2"}, 24000, -6.0),
                           ({"quieter_db": 10, "inside": "noise:1:-60"}, 16000, -16.0),
                           ({"quieter_db": -12}, 8000, 0.0), ({"offset": 0.3}, 8000, 20 * np.log10(0.8)),
                           ({"rate": 4000}, 4000, -6.0)):
        (dest := tmp_path / str(kw)).mkdir()
        out = bench.changed_copy(tmp_path / "set", dest, **kw)
        z, sr = sf.read(out / "clips" / "dog" / "a.wav", dtype="float32")
        assert sr == kw.get("rate", 8000) and z.shape == (n,)
        assert (out / "labels.csv").read_text().startswith("filename,label,split")
        assert 20 * np.log10(np.abs(z).max()) == pytest.approx(peak_db, abs=0.1)
        if "inside" in kw:
            assert np.abs(z[: 4000]).max() < 0.01 and np.abs(z[-4000:]).max() < 0.01
        if "offset" in kw:
            assert z.mean() == pytest.approx(0.3, abs=0.01)
    (dest := tmp_path / "room").mkdir()
    z, sr = sf.read(bench.changed_copy(tmp_path / "set", dest, room=(0.5, 2.0)) / "clips" / "dog" / "a.wav")
    assert sr == 8000 and len(z) == 8000 + 4000  # the room's tail: rt60 seconds more
    assert np.abs(z).max() == pytest.approx(0.5, abs=1e-3) and np.abs(z[8000:]).max() > 0.01
    (dest := tmp_path / "noise").mkdir()
    z, _ = sf.read(bench.changed_copy(tmp_path / "set", dest, noise_db=10) / "clips" / "dog" / "a.wav")
    snr = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((z - y) ** 2))
    assert z.shape == (8000,) and snr == pytest.approx(10, abs=0.5)
    for bad, says in (("abc", "write RT60:METRES"), ("0.6:2:1", "write RT60:METRES"), ("5:2", "rt60 is 0.05-2 s"),
                      ("0.6:2.8", "0.1-2.5 m away")):
        with pytest.raises(SystemExit, match=says):
            bench._room(bad)
    for noise in ("nan", "inf"):  # before any model loads: one line
        out = subprocess.run([sys.executable, str(BENCH / "bench_realworld.py"), "--noise", noise], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and out.stderr.strip().endswith("decibels below the clip, e.g. 20")
