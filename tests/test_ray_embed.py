"""`embed --engine ray`: a local Ray (2 CPUs, one per test session) embeds real dev clips exactly as the in-process
engine does, into the same cache; a corrupt clip is skipped and reported; an interrupted job resumes without
recomputing the committed shards."""

import os
import sys

import numpy as np
import pytest

from soundlab.config import get_settings
from soundlab.errors import ModelError
from soundlab.models import embeddings, ray_embed
from soundlab.models.backbone import load_backbone
from tests.assets import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-scale.txt")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def eat():
    return load_backbone("efficientat", get_settings())


def dev_clips(dev_root, n=None):
    names = sorted(p.name for p in (dev_root / "audio").glob("*.wav"))[:n]
    return [(name, str(dev_root / "audio" / name)) for name in names]


def test_ray_embeds_the_dev_clips_exactly_as_in_process(local_ray, eat, dev_root, tmp_path):
    clips = dev_clips(dev_root)
    ref, ref_fail = embeddings.embed_clips(clips, eat, cache_dir=tmp_path / "local")
    got, fail, stats = ray_embed.embed_clips_ray(clips, eat, cache_dir=tmp_path / "ray", actors=2, batch_size=16,
                                                 shard_size=200)
    assert ref_fail == fail == []
    assert stats["computed"] == len(clips) and stats["shards"] >= len(clips) // 200
    assert list(got.filenames) == list(ref.filenames) == [c[0] for c in clips]
    assert np.array_equal(got.offsets, ref.offsets) and np.array_equal(got.stamps, ref.stamps)
    assert np.allclose(got.embeddings, ref.embeddings, atol=1e-4)
    assert np.allclose(got.tags.astype(np.float32), ref.tags.astype(np.float32), atol=2e-3)
    # the same cache file, in the same place the app reads it (same backbone fingerprint), and no shard left
    path = embeddings.cache_path(tmp_path / "ray", eat.fingerprint, "orig")
    assert path.relative_to(tmp_path / "ray") == embeddings.cache_path(tmp_path / "local", eat.fingerprint,
                                                                       "orig").relative_to(tmp_path / "local")
    cached = embeddings.load_cache(path, eat.params)
    assert len(cached) == len(clips) and not ray_embed.shard_dir(tmp_path / "ray", eat.fingerprint, "orig").exists()
    # and the in-process engine finds nothing left to do in it
    seen: list[int] = []
    embeddings.embed_clips(clips, eat, cache_dir=tmp_path / "ray", progress=lambda done, total: seen.append(done))
    assert seen[0] == len(clips)


def test_a_corrupt_clip_is_skipped_and_an_interrupted_job_resumes(local_ray, eat, dev_root, tmp_path):
    clips = dev_clips(dev_root, 40)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + os.urandom(2000))
    clips.insert(7, ("broken.wav", str(bad)))
    cache = tmp_path / "cache"
    first, fail1, s1 = ray_embed.embed_clips_ray(clips, eat, cache_dir=cache, actors=1, batch_size=5, shard_size=10,
                                                 stop_after_shards=2)
    assert s1.get("interrupted") and s1["shards"] == 2 and 10 <= s1["computed"] < 40
    assert not embeddings.cache_path(cache, eat.fingerprint, "orig").exists()  # nothing merged yet
    committed = s1["computed"]
    _, fail2, s2 = ray_embed.embed_clips_ray(clips, eat, cache_dir=cache, actors=1, batch_size=5, shard_size=10)
    assert s2["resumed"] == committed  # the committed shards are read back ...
    assert s2["computed"] == 40 - committed  # ... and their clips are not embedded again
    assert [f for f, _ in fail2] == ["broken.wav"] and fail2[0][1]  # named, with the decoder's message
    final = embeddings.load_cache(embeddings.cache_path(cache, eat.fingerprint, "orig"), eat.params)
    assert sorted(final.filenames) == sorted(c[0] for c in clips if c[0] != "broken.wav")


def test_without_ray_the_message_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ModelError, match="pip install -r requirements-scale.txt"):
        ray_embed.require_ray()
