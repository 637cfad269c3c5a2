"""Build the real-world validation set: recordings from Debian game and sound packages, labelled from their names.

    python -m tests.realworld.build [DEST] [--cache DIR] [--manifest FILE] [--training FILE]

DEST defaults to .test-assets/realworld and the .deb cache to .cache/debs (both git-ignored). README.md beside
this file gives the rules; MANIFEST.tsv (package, path_in_package, label, split, why) says which clips are taken
and LEFT_OUT.tsv lists files looked at and left out as ambiguous; TRAINING.tsv (same columns) lists recordings
for training only, never evaluated. Stages:

1. `apt-get download PKG` into the cache (a .deb already there is reused; a failed download skips that package
   with one line) and unpack only its audio files and its text documentation (copyright, credits, READMEs,
   licences, small text files beside the sounds) into .cache/realworld-unpacked/PKG/. Zip archives inside a
   package (0ad's public.zip, trigger-rally's data.zip) are opened and only their audio and text members kept; a
   manifest path into a zip reads `ARCHIVE.zip!MEMBER`. espeak-ng is unpacked with its libraries and data and run
   from the cache: its rows read `tts:VOICE:TEXT`.
2. Every row is checked: the label is an ESC-50 category or `foreign`; Freesound ids are gathered from the file
   name (`12345__user__name.ogg`), the file's own tags, the paragraphs of the package docs that name the file and
   the row's `why` ("freesound 12345"), and a clip whose id is a `src_file` of esc50.csv is left out (a leak).
   Exact duplicates (same file) and near-exact ones (the same recording re-encoded, re-levelled or cut: a
   coarse 16 kHz log spectrogram compared after taking out each band's and each frame's mean) are left out.
3. Clips are written as DEST/clips/LABEL/PACKAGE--NAME.wav (mono, original sample rate, 16-bit PCM; longer than
   20 s cut to the loudest 10 s; shorter than 0.1 s or silent skipped), with DEST/labels.csv
   (filename,label,split: the validation set), DEST/training.csv (the same, plus TRAINING.tsv's recordings under
   their package's split, for `train --extra-train`) and DEST/PROVENANCE.tsv, and a summary is printed.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_DEST = ROOT / ".test-assets" / "realworld"
DEFAULT_CACHE = ROOT / ".cache" / "debs"
MANIFEST = HERE / "MANIFEST.tsv"
LEFT_OUT = HERE / "LEFT_OUT.tsv"
TRAINING = HERE / "TRAINING.tsv"
SHARED = Path(os.environ.get("SOUNDLAB_SHARED", ROOT.parent / "shared")).resolve()
ESC50_CSV = SHARED / "data" / "esc50" / "meta" / "esc50.csv"

AUDIO_EXT = (".wav", ".ogg", ".oga", ".flac", ".mp3", ".au", ".aif", ".aiff")
DOC_NAME = re.compile(r"(copyright|credit|author|readme|licen[cs]e|copying|attribution|thanks|sources?\b|"
                      r"\.txt$|\.md$|\.soundspec$|\.spec$|sfx\.xml$|sounds?\.xml$|\.json$)", re.I)
DOC_MAX = 2_000_000
# espeak-ng is run from the cache, so its libraries and data come along (no install on the machine): libpcaudio0
# links PulseAudio, which a machine without a desktop lacks, and PulseAudio's client links libsndfile and its codecs.
ESPEAK_DEBS = ("espeak-ng", "libespeak-ng1", "espeak-ng-data", "libpcaudio0", "libsonic0", "libpulse0",
               "libasyncns0", "libsndfile1", "libflac12", "libvorbis0a", "libvorbisenc2", "libopus0", "libogg0",
               "libmpg123-0", "libmp3lame0")

MAX_SECONDS = 20.0
CUT_SECONDS = 10.0
MIN_SECONDS = 0.1


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Stage 1: download and unpack


def find_deb(cache: Path, pkg: str) -> Path | None:
    debs = sorted(cache.glob(f"{pkg}_*.deb"))
    return debs[-1] if debs else None


def download(cache: Path, pkg: str) -> Path:
    """The package's .deb in the cache, downloaded with apt-get if absent. Raises RuntimeError with one line."""
    deb = find_deb(cache, pkg)
    if deb is not None:
        return deb
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["apt-get", "download", pkg], cwd=cache, capture_output=True, text=True)
    deb = find_deb(cache, pkg)
    if proc.returncode != 0 or deb is None:
        errs = [ln for ln in (proc.stderr or "").splitlines() if ln.startswith("E:")] or [proc.stderr.strip()[-200:]]
        hint = " (an `apt-get update` may help)" if "Unable to locate" in (proc.stderr or "") else ""
        raise RuntimeError(f"apt-get download {pkg} failed: {errs[0] if errs else 'no .deb'}{hint}")
    return deb


def deb_version(deb: Path) -> str:
    out = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _keep(name: str, size: int) -> str | None:
    """'audio', 'doc', 'zip' or None for a path inside a package or an archive."""
    low = name.lower()
    if low.endswith(AUDIO_EXT):
        return "audio"
    if low.endswith(".zip"):
        return "zip"
    base = low.rsplit("/", 1)[-1]
    if size <= DOC_MAX and (low.startswith("usr/share/doc/") or DOC_NAME.search(base)):
        return "doc"
    return None


def _safe_join(root: Path, rel: str) -> Path:
    out = (root / rel).resolve()
    if not str(out).startswith(str(root.resolve()) + os.sep):
        raise RuntimeError(f"unsafe path in archive: {rel}")
    return out


def _unpack_zip(zpath: Path, root: Path, rel: str) -> int:
    n = 0
    with zipfile.ZipFile(zpath) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            kind = _keep(info.filename, info.file_size)
            if kind in ("audio", "doc"):
                out = _safe_join(root, f"{rel}!/{info.filename}")
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                n += 1
    return n


def unpack(deb: Path, dest: Path, everything: bool = False) -> Path:
    """Unpack the audio and text files of DEB into DEST (once: a marker names the .deb)."""
    marker = dest / f".unpacked-{deb.name}"
    if marker.is_file():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    n = 0
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for m in tar:
            rel = m.name.lstrip("./")
            if not m.isfile() and not (everything and m.issym()):
                continue
            kind = "audio" if everything else _keep(rel, m.size)
            if kind is None:
                continue
            if m.issym():
                out = _safe_join(dest, rel)
                out.parent.mkdir(parents=True, exist_ok=True)
                if not out.exists():
                    os.symlink(m.linkname, out)
                continue
            src = tar.extractfile(m)
            if kind == "zip":
                with tempfile.NamedTemporaryFile(dir=dest, suffix=".zip") as tmp:
                    shutil.copyfileobj(src, tmp, 1 << 20)
                    tmp.flush()
                    try:
                        n += _unpack_zip(Path(tmp.name), dest, rel)
                    except zipfile.BadZipFile:
                        log(f"  {deb.name}: {rel} is not a readable zip, skipped")
                continue
            out = _safe_join(dest, rel)
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if everything:
                os.chmod(out, m.mode & 0o755)
            n += 1
    if proc.wait() != 0:
        raise RuntimeError(f"dpkg-deb --fsys-tarfile {deb.name} failed")
    marker.write_text(f"{n}\n")
    return dest


def prepare_packages(packages: list[str], cache: Path, unpacked: Path) -> tuple[dict[str, tuple[Path, str]], dict]:
    """{package: (unpacked root, version)} for every package that could be had, and {package: reason} for the rest."""
    ready: dict[str, tuple[Path, str]] = {}
    skipped: dict[str, str] = {}
    for pkg in packages:
        try:
            if pkg == "espeak-ng":
                root = unpacked / pkg
                for dep in ESPEAK_DEBS:
                    unpack(download(cache, dep), root / dep, everything=True)
                ready[pkg] = (root, deb_version(download(cache, pkg)))
                continue
            deb = download(cache, pkg)
            log(f"  {pkg}: {deb.name}")
            ready[pkg] = (unpack(deb, unpacked / pkg), deb_version(deb))
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log(f"SKIP {pkg}: {line}")
            skipped[pkg] = line
    return ready, skipped



# ---------------------------------------------------------------------------------------------------------------
# Stage 2: the manifest, documentation, Freesound ids


@dataclass
class Row:
    line: int
    package: str
    path: str
    label: str
    split: str
    why: str
    training_only: bool = False


def esc50_meta(csv_path: Path = ESC50_CSV) -> tuple[set[str], set[str]]:
    """(the 50 category names, every src_file) of esc50.csv."""
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r["category"] for r in rows}, {r["src_file"].strip() for r in rows}


def _member(path: str) -> str:
    """The unpacked location of a manifest path: `X.zip!MEMBER` is unpacked as `X.zip!/MEMBER`."""
    return path.replace("!", "!/", 1) if "!" in path and "!/" not in path else path


def read_manifest(path: Path, categories: set[str], *, training_only: bool = False,
                  split_of: dict[str, str] | None = None) -> list[Row]:
    """The rows of a manifest. `split_of` (package -> split) is filled in, or with `training_only` checked: a
    training-only recording goes with its package's split, so the recipe judging a split never learned from it."""
    rows: list[Row] = []
    errors: list[str] = []
    split_of = {} if split_of is None else split_of
    name = path.name
    with open(path, newline="", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if cols[0] == "package":
                continue
            if len(cols) != 5:
                errors.append(f"{name}:{n}: {len(cols)} columns, want 5")
                continue
            row = Row(n, *[c.strip() for c in cols], training_only=training_only)
            if row.label != "foreign" and row.label not in categories:
                errors.append(f"{name}:{n}: label {row.label!r} is not an ESC-50 category nor 'foreign'")
            if row.split not in ("A", "B"):
                errors.append(f"{name}:{n}: split {row.split!r} is not A or B")
            if training_only and row.package not in split_of:
                errors.append(f"{name}:{n}: package {row.package} has no clip in the validation set, so no split")
            elif split_of.setdefault(row.package, row.split) != row.split:
                errors.append(f"{name}:{n}: package {row.package} is in both splits")
            rows.append(row)
    seen = Counter((r.package, r.path) for r in rows)
    errors += [f"{name}: {p} {q} listed {c} times" for (p, q), c in seen.items() if c > 1]
    if errors:
        raise SystemExit("\n".join(errors))
    return rows


FREESOUND_URL = re.compile(r"freesound[.\w/%:-]*?/(?:s|sounds?)/(\d{2,7})\b|samplesViewSingle\.php\?id=(\d{2,7})", re.I)
FREESOUND_WHY = re.compile(r"freesound(?:\s+id)?[\s:#]+(\d{2,7})\b", re.I)
FREESOUND_NAME = re.compile(r"^(\d{3,7})__")
FREESOUND_TAG = re.compile(rb"freesound[^\x00\n]{0,100}?(?:/s/|/sounds/|id=|#)(\d{2,7})", re.I)
FILE_TOKEN = re.compile(r"[\w*?\[\]./@!-]+\.(?:wav|ogg|oga|flac|mp3|au|aiff?)\b", re.I)
LICENCE_PAREN = re.compile(r"\(((?:CC[- ]?BY[^)]*|CC0[^)]*|GPL[^)]*|LGPL[^)]*|public domain[^)]*))\)", re.I)


def _ids(text: str) -> set[str]:
    return {a or b for a, b in FREESOUND_URL.findall(text)}


class Docs:
    """The text documentation of one unpacked package, split in paragraphs, to look a clip's file name up in."""

    def __init__(self, root: Path, package: str):
        self.paragraphs: list[tuple[str, list[str]]] = []  # (doc path, lines)
        self.copyright = root / "usr" / "share" / "doc" / package / "copyright"
        for p in sorted(root.rglob("*")):
            if not p.is_file() or p.suffix.lower() in AUDIO_EXT or p.name.startswith(".unpacked-"):
                continue
            if "/usr/share/doc/HTML/" in str(p) or p.stat().st_size > DOC_MAX * 4:
                continue
            try:
                data = p.read_bytes()
                if p.suffix == ".gz":
                    data = gzip.decompress(data)
                text = data.decode("utf-8", "replace")
            except (OSError, EOFError, ValueError):
                continue
            if "\x00" in text[:2000]:
                continue
            para: list[str] = []
            for line in text.splitlines():
                if line.strip() in ("", "."):
                    if para:
                        self.paragraphs.append((str(p.relative_to(root)), para))
                    para = []
                else:
                    para.append(line)
            if para:
                self.paragraphs.append((str(p.relative_to(root)), para))

    @staticmethod
    def _token_matches(token: str, rel: str) -> bool:
        tok = token.removeprefix("./").rstrip(".,;:)").replace("data/data.zip/", "data.zip!/").lower()
        if not re.search(r"[a-z0-9]", tok):
            return False
        if tok.endswith("/"):
            tok += "*"
        rel_l = "/" + rel.lower()
        if not any(ch in tok for ch in "*?["):
            return rel_l.endswith("/" + tok)
        return fnmatch.fnmatchcase(rel_l, "*/" + tok)

    def _index(self) -> None:
        """Per paragraph: the file names or globs it names, its Freesound ids and its licence line."""
        self.index = []
        for i, (doc, lines) in enumerate(self.paragraphs):
            text = "\n".join(lines)
            tokens = FILE_TOKEN.findall(text)
            if text.startswith("Files:"):  # DEP-5 stanza: its Files field (globs without an audio extension too)
                field = [lines[0][len("Files:"):]]
                for ln in lines[1:]:
                    if not ln[:1].isspace():
                        break
                    field.append(ln)
                tokens += " ".join(field).split()
            if not tokens:
                continue
            found = _ids(text)
            prev_doc, prev = self.paragraphs[i - 1] if i > 0 else ("", [])
            if not found and prev_doc == doc and len(prev) <= 2 and not FILE_TOKEN.search("\n".join(prev)):
                found = _ids("\n".join(prev))  # a lone URL line, then a blank line, then the file name
            m = re.search(r"^License:[ \t]*([^\n]+)", text, re.M) or LICENCE_PAREN.search(text)
            self.index.append((doc, tokens, found, m.group(1).strip() if m else ""))

    def lookup(self, rel: str) -> tuple[set[str], str, list[str]]:
        """(Freesound ids, licence, where) from the paragraphs that name this file. Ids come from the paragraphs
        that name it exactly, or failing that from those whose glob matches; the licence from the last DEP-5
        stanza that matches (as DEP-5 reads), else from a credits paragraph."""
        if not hasattr(self, "index"):
            self._index()
        exact: set[str] = set()
        globbed: set[str] = set()
        dep5 = credit = ""
        where: list[str] = []
        for doc, tokens, found, lic in self.index:
            hits = [t for t in tokens if self._token_matches(t, rel)]
            if not hits:
                continue
            where.append(doc)
            if any(not any(ch in t for ch in "*?[") for t in hits):
                exact |= found
            else:
                globbed |= found
            if doc.endswith("/copyright") and lic:
                dep5 = lic
            elif lic:
                credit = lic
        return (exact or globbed), (dep5 or credit), where

    def folder_licence(self, root: Path, rel: str) -> str:
        """The licence named by the nearest LICENSE/COPYING file in a folder above the clip, if any."""
        folder = (root / rel).parent
        while folder != root and root in folder.parents:
            for name in ("LICENSE.txt", "LICENSE", "license.txt", "COPYING", "LICENSE.md"):
                f = folder / name
                if f.is_file():
                    text = " ".join(f.read_text("utf-8", "replace").split())
                    m = re.search(r"licensed under the ([^.(]{5,80})", text, re.I) or re.search(
                        r"(Creative Commons [^.(]{5,60}|CC[- ]BY[^.(]{0,30}|GNU [^.(]{5,60}|CC0[^.(]{0,20})", text)
                    found = m.group(1).strip() if m else text[:80]
                    return f"{found} ({f.relative_to(root)})"
            folder = folder.parent
        return ""

    def default_licence(self) -> str:
        try:
            text = self.copyright.read_text("utf-8", "replace")
        except OSError:
            return "see copyright file"
        m = re.search(r"^Files:[ \t]*\*[ \t]*\n(?:[^\n]+\n)*?License:[ \t]*([^\n]+)", text, re.M)
        if m:
            return m.group(1).strip() + " (package default)"
        m = re.search(r"^License:[ \t]*([^\n]+)", text, re.M)
        return (m.group(1).strip() + " (package default)") if m else "see /usr/share/doc copyright"


def tag_ids(path: Path) -> set[str]:
    """Freesound ids written in the file's own tags (Vorbis comments, RIFF INFO, ID3): scan the head and tail."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(65536)
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    return {m.decode() for m in FREESOUND_TAG.findall(head + tail)}


# ---------------------------------------------------------------------------------------------------------------
# Stage 3: audio


def espeak(root: Path, spec: str, out_dir: Path) -> Path:
    """Synthesise `tts:VOICE:TEXT` with the espeak-ng unpacked in ROOT (cached by content)."""
    _, voice, text = spec.split(":", 2)
    out = out_dir / f"{hashlib.sha1(spec.encode()).hexdigest()[:16]}.wav"
    if out.is_file():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    lib_dirs = [root / d / "usr" / "lib" / "x86_64-linux-gnu" for d in ESPEAK_DEBS]
    libs = ":".join(map(str, lib_dirs + [root / "libpulse0" / "usr" / "lib" / "x86_64-linux-gnu" / "pulseaudio"]))
    exe = root / "espeak-ng" / "usr" / "bin" / "espeak-ng"
    data = root / "espeak-ng-data" / "usr" / "lib" / "x86_64-linux-gnu"
    env = dict(os.environ, LD_LIBRARY_PATH=libs)
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run([str(exe), f"--path={data}", "-v", voice, "-w", str(tmp), text], env=env, check=True,
                   capture_output=True)
    tmp.replace(out)
    return out


def decode(path: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return x.mean(axis=1), sr


def loudest(x: np.ndarray, sr: int, seconds: float) -> tuple[np.ndarray, float]:
    """The loudest window of SECONDS (by energy) and its start in seconds."""
    n = int(round(seconds * sr))
    if len(x) <= n:
        return x, 0.0
    c = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    hop = max(1, sr // 100)
    starts = np.arange(0, len(x) - n + 1, hop)
    best = int(starts[np.argmax(c[starts + n] - c[starts])])
    return x[best:best + n], best / sr


def signature(x: np.ndarray, sr: int) -> np.ndarray:
    """A coarse log spectrogram at 16 kHz (frames x 32 bands) to find duplicates."""
    import soxr
    y = soxr.resample(x.astype(np.float32), sr, 16000) if sr != 16000 else x
    y = np.round(y / (np.max(np.abs(y)) + 1e-9), 3)
    n_fft, hop = 512, 256
    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop] * np.hanning(n_fft)
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    edges = np.unique(np.geomspace(2, spec.shape[1] - 1, 33).astype(int))
    bands = np.stack([spec[:, a:b].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    return np.log10(bands + 1e-8).astype(np.float32)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two signatures of one length, double-centred: each band's mean and each frame's mean taken out, so
    neither a shared spectral tilt (rain, engines, hum) nor a shared loudness envelope (an onset and a decay) counts,
    only the same sound evolving the same way. Re-encoded copies score 1.0, different recordings < 0.5 here."""
    def centre(x: np.ndarray) -> np.ndarray:
        x = x - x.mean(axis=0)
        return x - x.mean(axis=1, keepdims=True)
    a, b = centre(a), centre(b)
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def _best_offset(short: np.ndarray, long_: np.ndarray) -> tuple[int, float]:
    """Offset of SHORT's loudness envelope inside LONG's with the highest normalised correlation (FFT)."""
    es, el = short.mean(axis=1).astype(np.float64), long_.mean(axis=1).astype(np.float64)
    n = len(es)
    es = (es - es.mean()) / (es.std() * n + 1e-9)
    size = 1 << int(np.ceil(np.log2(len(el) + n)))
    num = np.fft.irfft(np.fft.rfft(el, size) * np.conj(np.fft.rfft(es, size)), size)[:len(el) - n + 1]
    c1 = np.concatenate([[0.0], np.cumsum(el)])
    c2 = np.concatenate([[0.0], np.cumsum(el ** 2)])
    mean = (c1[n:] - c1[:-n]) / n
    std = np.sqrt(np.maximum((c2[n:] - c2[:-n]) / n - mean ** 2, 0.0))
    corr = num / (std + 1e-9)
    off = int(np.argmax(corr))
    return off, float(corr[off])


def same_audio(sa: np.ndarray, sb: np.ndarray, contain: bool) -> float:
    """Similarity of two signatures: aligned when the lengths agree (within 3%), else (CONTAIN) the shorter at the
    offset where its loudness envelope best matches the longer one's."""
    la, lb = len(sa), len(sb)
    if abs(la - lb) <= max(2, 0.03 * max(la, lb)):
        m = min(la, lb)
        return _cos(sa[:m], sb[:m])
    if not contain or min(la, lb) < 30:
        return 0.0
    short, long_ = (sa, sb) if la < lb else (sb, sa)
    off, corr = _best_offset(short, long_)
    if corr < 0.8:
        return 0.0
    return _cos(short, long_[off:off + len(short)])


def sanitise(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return text[:80] or "clip"


def clip_name(row: Row) -> str:
    if row.path.startswith("tts:"):
        _, voice, text = row.path.split(":", 2)
        return sanitise(f"tts_{voice}_{'_'.join(text.split()[:4])}")
    tail = row.path.replace("!", "/").rstrip("/").split("/")
    stem = tail[-1].rsplit(".", 1)[0]
    return sanitise(f"{tail[-2]}_{stem}" if len(tail) > 1 else stem)


def sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Main


CLASS_CAP = 25
PACKAGE_SHARE = 0.30
DUP_THRESHOLD = 0.8  # same recording (re-encoded, re-mixed, re-levelled); different recordings scored < 0.5
SIMILAR_THRESHOLD = 0.6


def build(dest: Path, cache: Path, manifest: Path = MANIFEST, training: Path | None = TRAINING) -> int:
    categories, src_ids = esc50_meta()
    split_of: dict[str, str] = {}
    rows = read_manifest(manifest, categories, split_of=split_of)
    listed_paths = {(r.package, r.path) for r in rows}
    if training is not None:
        extra = read_manifest(training, categories, training_only=True, split_of=split_of)
        twice = [f"{r.package} {r.path}" for r in extra if (r.package, r.path) in listed_paths]
        if twice:
            raise SystemExit(f"{training.name}: also in {manifest.name}: " + "; ".join(twice))
        rows += extra  # after the validation rows: a training recording that duplicates one of them is left out
    packages = list(dict.fromkeys(r.package for r in rows))
    unpacked = cache.parent / "realworld-unpacked"
    log(f"{len(rows)} manifest rows from {len(packages)} packages; cache {cache}")
    ready, skipped = prepare_packages(packages, cache, unpacked)

    docs: dict[str, Docs] = {}
    left_out: dict[str, list[str]] = defaultdict(list)
    kept: list[dict] = []
    signatures: list[np.ndarray] = []
    file_hashes: dict[str, str] = {}
    per_class: Counter = Counter()

    for row in rows:
        what = f"{row.package}:{row.path}"
        if row.package not in ready:
            left_out["package unavailable"].append(what)
            continue
        root, version = ready[row.package]
        note: list[str] = []
        if row.path.startswith("tts:"):
            src = espeak(root, row.path, unpacked / "espeak-ng-tts")
            ids, licence, where = set(), "synthesised with espeak-ng (GPL-3+); the output carries no licence", []
            source_path = row.path
        else:
            rel = _member(row.path)
            src = root / rel
            if not src.is_file():
                log(f"  MISSING {what}")
                left_out["missing from package"].append(what)
                continue
            if row.package not in docs:
                docs[row.package] = Docs(root, row.package)
            ids, licence, where = docs[row.package].lookup(rel)
            licence = licence or docs[row.package].folder_licence(root, rel) or docs[row.package].default_licence()
            m = FREESOUND_NAME.match(src.name)
            if m:
                ids.add(m.group(1))
            ids |= tag_ids(src)
            source_path = "/" + rel
        ids |= set(FREESOUND_WHY.findall(row.why))
        leaked = sorted(i for i in ids if i in src_ids)
        if leaked:
            log(f"  LEAK {what}: Freesound {', '.join(leaked)} is in esc50.csv")
            left_out["leaked Freesound id"].append(f"{what} ({', '.join(leaked)})")
            continue
        digest = sha256(src)
        if digest in file_hashes:
            log(f"  DUPLICATE {what}: same file as {file_hashes[digest]}")
            left_out["duplicate"].append(f"{what} = {file_hashes[digest]}")
            continue
        try:
            x, sr = decode(src)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            log(f"  UNREADABLE {what}: {exc}")
            left_out["unreadable"].append(what)
            continue
        dur = len(x) / sr
        if dur < MIN_SECONDS:
            log(f"  TOO SHORT {what}: {dur:.3f} s")
            left_out["too short"].append(what)
            continue
        peak = float(np.max(np.abs(x))) if len(x) else 0.0
        if peak < 1e-3 or float(np.sqrt(np.mean(x ** 2))) < 1e-4:
            log(f"  SILENT {what}: peak {peak:.2g}")
            left_out["silent"].append(what)
            continue
        sig = signature(x, sr)  # of the whole source, so two cuts of one recording are still found
        if dur > MAX_SECONDS:
            x, start = loudest(x, sr, CUT_SECONDS)
            note.append(f"cut to the loudest {CUT_SECONDS:.0f} s of {dur:.1f} s (from {start:.2f} s)")
        dup = None
        for k, other in enumerate(kept):
            contain = other["label"] == row.label != "foreign"
            score = same_audio(sig, signatures[k], contain)
            if score >= DUP_THRESHOLD:
                dup = other
                break
            if score >= SIMILAR_THRESHOLD:
                log(f"  similar ({score:.2f}), kept: {what} ~ {other['package']}:{other['source_path']}")
        if dup is not None:
            log(f"  DUPLICATE {what}: same audio as {dup['package']}:{dup['source_path']}")
            left_out["duplicate"].append(f"{what} ~ {dup['package']}:{dup['source_path']}")
            continue
        if row.label != "foreign" and not row.training_only:  # the cap balances the validation set only
            if per_class[row.label] >= CLASS_CAP:
                left_out["over the class cap"].append(what)
                continue
            per_class[row.label] += 1
        file_hashes[digest] = what
        signatures.append(sig)
        if where:
            note.append("credits: " + ", ".join(sorted(set(where)))[:200])
        kept.append(dict(label=row.label, split=row.split, package=row.package, version=version,
                         source_path=source_path, licence=licence.replace("\t", " "),
                         freesound_id=",".join(sorted(ids, key=int)) or "none found", sha=digest,
                         note="; ".join((["training only"] if row.training_only else []) + [row.why] + note).replace(
                             "\t", " "), audio=x, sr=sr, training_only=row.training_only,
                         name=f"{row.package}--{clip_name(row)}.wav"))

    # write: training-only clips in a folder of their own, so a folder-per-class evaluation of clips/ never sees them
    for folder in ("clips", "training-clips"):
        if (dest / folder).exists():
            shutil.rmtree(dest / folder)
    names: Counter = Counter()
    for item in kept:
        names[(item["label"], item["name"])] += 1
        if names[(item["label"], item["name"])] > 1:
            item["name"] = item["name"][:-4] + f"-{names[(item['label'], item['name'])]}.wav"
        out = dest / ("training-clips" if item["training_only"] else "clips") / item["label"] / item["name"]
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(out), np.clip(item["audio"], -1, 1), item["sr"], subtype="PCM_16")
        item["filename"] = str(out.relative_to(dest))
    for file, items in (("labels.csv", [k for k in kept if not k["training_only"]]), ("training.csv", kept)):
        with open(dest / file, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["filename", "label", "split"])
            for item in items:
                w.writerow([item["filename"], item["label"], item["split"]])
    cols = ["filename", "label", "split", "package", "version", "source_path", "licence", "freesound_id",
            "sha256_of_source", "note"]
    with open(dest / "PROVENANCE.tsv", "w", newline="") as fh:
        fh.write("\t".join(cols) + "\n")
        for item in kept:
            item["sha256_of_source"] = item["sha"]
            fh.write("\t".join(str(item[c]) for c in cols) + "\n")

    # what curation left out: the listed ambiguous files, and every other audio file of the packages used
    listed = []
    if LEFT_OUT.is_file():
        for line in LEFT_OUT.read_text("utf-8").splitlines():
            cols = line.split("\t")
            if len(cols) == 3 and not line.startswith("#") and cols[0] != "package":
                listed.append(cols)
    for pkg, path, why in listed:
        root = ready.get(pkg, (None, ""))[0]
        rel = _member(path)
        if root is not None and not (root / rel).is_file():
            log(f"  note: LEFT_OUT.tsv names {pkg}:{path}, which is not in the package")
        left_out["ambiguous (LEFT_OUT.tsv, curated out)"].append(f"{pkg}:{path}: {why}")
    chosen = {(r.package, _member(r.path)) for r in rows} | {(p, _member(q)) for p, q, _ in listed}
    others = 0
    for pkg, (root, _) in ready.items():
        if pkg == "espeak-ng":
            continue
        others += sum(1 for f in root.rglob("*") if f.suffix.lower() in AUDIO_EXT and f.is_file()
                      and (pkg, str(f.relative_to(root))) not in chosen)
    summary([k for k in kept if not k["training_only"]], left_out, skipped, dest, others)
    training = Counter(k["label"] for k in kept if k["training_only"])
    log(f"Training only (training.csv, never evaluated): {sum(training.values())} recordings: "
        + ", ".join(f"{label} {n}" for label, n in sorted(training.items())))
    return 0


def summary(kept: list[dict], left_out: dict[str, list[str]], skipped: dict[str, str], dest: Path,
            others: int = 0) -> None:
    by_label = Counter(k["label"] for k in kept)
    by_split = Counter((k["label"] != "foreign", k["split"]) for k in kept)
    insets = [k for k in kept if k["label"] != "foreign"]
    log("")
    log(f"Wrote {len(kept)} clips to {dest}: {len(insets)} in-set in {len(by_label) - ('foreign' in by_label)} "
        f"classes, {by_label.get('foreign', 0)} foreign")
    for label in sorted(by_label, key=lambda lb: (lb == "foreign", lb)):
        a = sum(1 for k in kept if k["label"] == label and k["split"] == "A")
        log(f"  {label:18s} {by_label[label]:3d}   A {a:3d}  B {by_label[label] - a:3d}")
    log(f"  split A: {by_split[(True, 'A')]} in-set + {by_split[(False, 'A')]} foreign; "
        f"split B: {by_split[(True, 'B')]} in-set + {by_split[(False, 'B')]} foreign")
    pk = Counter(k["package"] for k in insets)
    if insets:
        top = ", ".join(f"{p} {c} ({c / len(insets):.0%})" for p, c in pk.most_common(6))
        log(f"  in-set clips per package (largest): {top}")
        over = [p for p, c in pk.items() if c / len(insets) > PACKAGE_SHARE]
        if over:
            log(f"  WARNING: over {PACKAGE_SHARE:.0%} of the in-set clips: {', '.join(over)}")
    log(f"  packages used: {len({k['package'] for k in kept})}")
    log("Left out by this run (the manifest already leaves out what is ambiguous; see README.md):")
    standard = ["ambiguous (LEFT_OUT.tsv, curated out)", "leaked Freesound id", "duplicate", "too short", "silent"]
    for reason in standard + sorted(set(left_out) - set(standard)):
        log(f"  {reason}: {len(left_out.get(reason, []))}")
        if not reason.startswith("ambiguous"):
            for what in left_out.get(reason, [])[:12]:
                log(f"    {what}")
    log(f"  other audio files of these packages, not chosen (speech/music/effects beyond what is needed, "
        f"or not clearly labelled): {others}")
    if skipped:
        log(f"Packages skipped ({len(skipped)}): " + "; ".join(f"{p}: {r}" for p, r in skipped.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest", nargs="?", type=Path, default=DEFAULT_DEST)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="folder of .deb files (default .cache/debs)")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--training", type=Path, default=TRAINING, help="training-only recordings (default TRAINING.tsv)")
    args = ap.parse_args(argv)
    for flag, path in (("--manifest", args.manifest), ("--training", args.training)):
        if not path.is_file():
            ap.error(f"{flag} {path}: no such file")
    args.dest.mkdir(parents=True, exist_ok=True)
    return build(args.dest.resolve(), args.cache.resolve(), args.manifest, args.training)


if __name__ == "__main__":
    sys.exit(main())
