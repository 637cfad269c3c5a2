"""The shape of the code: import contracts (import-linter), no import cycles, lazy heavy imports, and the seams
the layout creates (backbone registry, run reader, settings errors, the test harness's own settings)."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from soundlab import audio, live, runs
from soundlab.config import DEFAULT_ARTIFACTS_DIR, get_settings
from soundlab.errors import ModelError, SettingsError
from soundlab.models import backbone
from soundlab.openset import Verdict
from soundlab.storage import write_text_atomic
from tests.apptest import HOME, texts
from tests.apptest import run as run_page
from tests.assets import ROOT

PAGES = [HOME] + [str(p) for p in sorted((ROOT / "pages").glob("*.py"))]


def test_import_contracts_hold():
    """pages -> components -> soundlab; no streamlit in the core; data knows no models; inference no training."""
    out = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "0 broken" in out.stdout, out.stdout[-3000:] + out.stderr[-2000:]


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_any_two_modules_of_the_core():
    import grimp

    graph = grimp.build_graph("soundlab")
    mods = [m for m in graph.modules if m.startswith("soundlab")]
    edges = {m: [x for x in graph.find_modules_directly_imported_by(m) if x.startswith("soundlab")] for m in mods}
    assert _cycles(edges) == []
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]  # the check itself works


def test_home_imports_only_streamlit_components_and_the_core():
    def imported(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        return {(n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
                for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and (
                    not isinstance(n, ast.ImportFrom) or n.level == 0) for a in n.names}

    assert imported(ROOT / "Home.py") <= {"streamlit", "components", "soundlab"}
    code = [p for d in ("soundlab", "components", "pages", "tests", "bench") for p in (ROOT / d).rglob("*.py")]
    assert [p for p in code if "Home" in imported(p)] == []


def test_page_icons_need_no_network():
    """Each page's tab icon is an emoji (components/page.start): a material icon makes every browser fetch it from
    fonts.gstatic.com."""
    icons = {}
    for path in [ROOT / "Home.py", *sorted((ROOT / "pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "page.start":
                icons[path.name] = ast.literal_eval(node.args[1])
    assert len(icons) == 1 + len(list((ROOT / "pages").glob("*.py")))
    assert [name for name, icon in icons.items() if icon.startswith(":")] == []


def test_importing_the_core_and_components_loads_no_heavy_framework():
    code = ("import sys, soundlab.classify, soundlab.live, soundlab.report, soundlab.runs, soundlab.cli, "
            "soundlab.models.heads, soundlab.models.scratch, soundlab.models.backbone, soundlab.asr.longform, "
            "soundlab.asr.gate, soundlab.asr.subtitles, components.loaders, components.run_picker; "
            "from soundlab.config import get_settings; from soundlab.models import backbone; "
            "[backbone.status(k, get_settings()) for k in backbone.REGISTRY]; "
            "[backbone.params_of(k) for k in backbone.REGISTRY]; "
            "print(sorted(m for m in ('tensorflow', 'torch', 'keras', 'transformers', 'tensorflow_hub') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ---- seams -------------------------------------------------------------------------------------

def test_an_unknown_backbone_is_a_clear_error():
    with pytest.raises(ModelError, match="unknown backbone 'wav2vec'; known: yamnet, efficientat"):
        backbone.load_backbone("wav2vec", get_settings())
    with pytest.raises(ModelError, match="unknown backbone"):
        backbone.params_of("")
    assert backbone.params_of("yamnet").embedding_dim == 1024


def test_every_registered_backbone_has_params_and_a_status():
    for key in backbone.REGISTRY:
        p = backbone.params_of(key)
        assert p.sample_rate_hz > 0 and p.frame_hop_s > 0 and p.embedding_dim > 0 and p.n_tags > 0
        st = backbone.status(key, get_settings())
        assert st.key == key and st.files


def _artifacts_copy(tmp_path) -> Path:
    art = tmp_path / "artifacts"
    shutil.copytree(DEFAULT_ARTIFACTS_DIR, art)
    return art


def test_the_run_reader_rejects_a_half_written_run_and_home_agrees(tmp_path, monkeypatch):
    art = _artifacts_copy(tmp_path)
    shipped = runs.preferred(runs.list_runs(art)[0])
    half = art / "runs" / "esc50-half-written"
    shutil.copytree(shipped.path, half)
    (half / "run.json").unlink()  # the writer puts run.json last: without it, the run is not complete
    staging = art / "runs" / ".tmp-esc50-being-written"  # a training still running
    shutil.copytree(shipped.path, staging)
    usable, problems = runs.list_runs(art)
    assert "esc50-half-written" not in {r.id for r in usable} and len(usable) == len(runs.list_runs(DEFAULT_ARTIFACTS_DIR)[0])
    assert any("esc50-half-written" in p and "half-written" in p for p in problems)
    assert not any(".tmp-" in p for p in problems)
    monkeypatch.setenv("SOUNDLAB_ARTIFACTS_DIR", str(art))
    at = run_page(HOME)
    assert not at.exception
    page = " ".join(str(m.value) for m in at.markdown)
    assert "unusable run folder: esc50-half-written" in page
    assert "trained run `esc50-half-written`" not in page and f"trained run `{shipped.id}`" in page


def test_the_run_writer_publishes_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="disk full"), runs.RunWriter(tmp_path, "r1") as w:
        (w.folder / "oof" / "x.csv").write_text("partial")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_atomic_text_write_leaves_the_old_file_when_it_fails(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    target.write_text("old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        write_text_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["run.json"]


@pytest.mark.parametrize("name, value", [("SOUNDLAB_MAX_AUDIO_SECONDS", "ten"), ("SOUNDLAB_WHISPER_THREADS", "2.5"),
                                         ("SOUNDLAB_ICE_SERVERS", "{"), ("SOUNDLAB_DOWNLOAD_TIMEOUT_S", "-1")])
def test_a_bad_setting_is_one_line_on_every_page_and_in_the_cli(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        get_settings()
    for path in PAGES:
        at = run_page(path)
        assert not at.exception, (path, at.exception)
        assert name in texts(at, "error"), path
    out = subprocess.run([sys.executable, "-m", "soundlab", "info"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin", name: value})
    assert out.returncode == 2 and name in out.stderr and "Traceback" not in out.stderr


def test_one_mime_helper():
    assert [audio.mime_type(n) for n in ("a.WAV", "b.flac", "c.ogg", "d.mp3", "e", Path("x/f.flac"))] == [
        "audio/wav", "audio/flac", "audio/ogg", "audio/mpeg", "audio/wav", "audio/flac"]


def test_live_updates_carry_their_verdict_steadied_and_silence():
    seen = []

    def classify(y):
        return np.array([0.9, 0.1]), np.full(3, 0.5), np.ones(4)

    def verdict(probs, emb, tags):
        seen.append((probs.shape, emb.shape, tags.shape))
        return Verdict(outcome="foreign", label="a", hears="Speech", reasons=(), score=99.0)

    stream = live.LiveClassifier(classify, sample_rate_hz=16_000, min_samples=15_600, verdict=verdict, hysteresis=2)
    noise = (np.random.default_rng(0).normal(0, 3000, (32_000, 2))).astype(np.int16)
    stream.push(noise[:16_000], 16_000)
    first = stream.step()
    assert first.verdict.outcome == "foreign" and seen == [((2,), (4,), (3,))]
    assert first.shown == "in-set"  # one update is not enough to change what is shown
    stream.push(noise[16_000:24_000], 16_000)
    assert stream.step().shown == "foreign"  # two that agree are
    stream.push(np.zeros((31_000, 2), np.int16), 16_000)  # more than a window of silence
    quiet = stream.step()
    assert quiet.silent and quiet.verdict is None and quiet.shown == "foreign"  # not yet
    stream.push(np.zeros((8_000, 2), np.int16), 16_000)
    assert stream.step().shown == "silence"


PROBE = "SLAB_TEST_PROBE_EXPECT"  # not SOUNDLAB_*: the isolation fixture would remove it


def test_ci_setting_require_webrtc_reaches_the_tests(tmp_path):
    """conftest.py clears the app's SOUNDLAB_* settings before each test, but not the test run's own: .ci/run sets
    SOUNDLAB_REQUIRE_WEBRTC=1 so that the live-microphone test fails (not skips) where it cannot run."""
    if os.environ.get(PROBE):  # the inner run: the variable must still be there inside a test
        assert os.environ.get("SOUNDLAB_REQUIRE_WEBRTC") == os.environ[PROBE]
        return
    env = {**os.environ, "SOUNDLAB_REQUIRE_WEBRTC": "1", PROBE: "1"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"{Path(__file__).name}::test_ci_setting_require_webrtc_reaches_the_tests"],
                         cwd=Path(__file__).parent, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout[-2000:]


def test_conftest_keeps_only_the_test_runs_own_settings():
    from tests.conftest import TEST_RUN_SETTINGS

    assert "SOUNDLAB_REQUIRE_WEBRTC" in TEST_RUN_SETTINGS
    assert not [k for k in os.environ if k.startswith("SOUNDLAB_") and k not in TEST_RUN_SETTINGS
                and k not in ("SOUNDLAB_ESC50_ROOT", "SOUNDLAB_CACHE_DIR")]


def test_shipped_run_json_uses_the_current_names():
    for path in sorted((DEFAULT_ARTIFACTS_DIR / "runs").glob("*/run.json")):
        info = json.loads(path.read_text())
        assert "models" in info and "heads" not in info and "default_model" in info, path
