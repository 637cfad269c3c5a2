"""A small SavedModel with YAMNet's TF Hub interface, built by the tests (real loading code, tiny model).

Signature as https://tfhub.dev/google/yamnet/1: ``model(waveform float32[None])`` returns
``(scores [N, 521], embeddings [N, 1024], log_mel_spectrogram [M, 64])`` and
``model.class_map_path()`` returns the path of the class map csv asset.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np


def build(dest: Path, class_map_csv: Path) -> Path:
    import tensorflow as tf

    dest = Path(dest)
    if (dest / "saved_model.pb").is_file():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(0)

    class TinyYamnet(tf.Module):
        def __init__(self):
            super().__init__()
            self.w_emb = tf.Variable((0.1 * rng.standard_normal((64, 1024))).astype(np.float32))
            self.w_scores = tf.Variable((0.01 * rng.standard_normal((1024, 521))).astype(np.float32))
            self.class_map = tf.saved_model.Asset(str(class_map_csv))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, waveform):
            # 25 ms windows every 10 ms, 64 log bands: (M, 64)
            spec = tf.abs(tf.signal.stft(waveform, frame_length=400, frame_step=160, fft_length=512))
            log_mel = tf.math.log(tf.reduce_mean(tf.reshape(spec[:, :256], [-1, 64, 4]), axis=-1) + 1e-3)
            # 0.96 s patches every 0.48 s: (N, 96, 64)
            patches = tf.signal.frame(log_mel, 96, 48, axis=0, pad_end=True)
            embeddings = tf.nn.relu(tf.reduce_mean(patches, axis=1) @ self.w_emb)
            scores = tf.sigmoid(embeddings @ self.w_scores)
            return scores, embeddings, log_mel

        @tf.function(input_signature=[])
        def class_map_path(self):
            return self.class_map.asset_path

    tf.saved_model.save(TinyYamnet(), str(tmp))
    tmp.rename(dest)
    return dest
