"""Build the foreign test set: real and synthetic sounds that are none of ESC-50's 50 classes.

    python -m tests.foreign.build [DEST]          (default: tests/foreign/clips)

Every clip comes from a Debian package (installed with apt-get, or downloaded with `apt-get download` for
tuxpaint-stamps-default) and is written as mono Ogg Vorbis at 32 kHz, at most 6 s, with a row in
`PROVENANCE.tsv` (kind, source package, source file or command, licence). The set is small (a few MB) and
committed; this script is how it was made, for review and to rebuild it.

Kinds: speech (espeak-ng in eight languages; Asterisk's recorded prompts in five; Tux Paint's recorded spoken
descriptions), music and solo instruments (MIDI written here, rendered with fluidsynth and the FluidR3 GM
soundfont; Tux Paint's instrument recordings), tones and noise (sox), and real recordings of animals and things
outside the 50 classes (Tux Paint's stamp sounds, freedesktop's sound theme). Sounds that belong to an ESC-50
class (dogs, cows, insects, sirens, saws, vacuum cleaners, fireworks, ...) are left out on purpose, and so are two
that turned out to be one when heard through the taggers: Tux Paint's "goat" bleats like a sheep and its "kettle"
is water poured into one.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
SR = 32_000
MAX_S = 6.0
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PACKAGES = ["espeak-ng", "sox", "fluidsynth", "fluid-soundfont-gm", "sound-theme-freedesktop",
            "asterisk-core-sounds-en-wav", "asterisk-core-sounds-fr-wav", "asterisk-core-sounds-es-wav",
            "asterisk-core-sounds-it-wav", "asterisk-core-sounds-ru-wav"]
LICENCES = {
    "espeak-ng": "synthesised speech (espeak-ng is GPL-3; its output carries no licence)",
    "asterisk": "Asterisk core sound prompts, CC BY-SA 3.0 (Digium; Debian asterisk-core-sounds-*)",
    "tuxpaint": "Tux Paint stamps, GPL-2 (Bill Kendrick et al.; Debian tuxpaint-stamps-default)",
    "fluidsynth": "rendered here from MIDI written here with the FluidR3 GM soundfont (MIT; Debian fluid-soundfont-gm)",
    "sox": "synthesised here with sox (no licence)",
    "freedesktop": "freedesktop.org sound theme, GPL-2+ / CC BY-SA (Debian sound-theme-freedesktop)",
}

SPEECH = {  # espeak-ng voice -> a sentence in that language
    "en-us": "The quarterly report is due on Friday, please send me your figures before noon.",
    "de": "Der Zug nach Berlin hat heute leider zwanzig Minuten Verspätung.",
    "fr": "Nous allons au marché samedi matin pour acheter des légumes frais.",
    "es": "Mi hermana vive en una casa pequeña cerca del río desde hace años.",
    "it": "Domani pomeriggio andiamo al museo con i bambini della scuola.",
    "ru": "Сегодня вечером мы будем смотреть новый фильм в кинотеатре.",
    "pt": "O restaurante da esquina abre às sete horas da manhã todos os dias.",
    "nl": "Wij fietsen elke zondag langs het kanaal naar het dorp van mijn oma.",
}
ASTERISK = [("en", "vm-intro"), ("en", "conf-onlyperson"), ("fr", "vm-intro"), ("es", "vm-intro"),
            ("it", "vm-intro"), ("ru", "vm-intro")]
TUX = {  # path under /usr/share/tuxpaint/stamps -> what it is
    "animals/mammals/cats/lion.ogg": "lion", "animals/mammals/cats/tiger.ogg": "tiger",
    "animals/mammals/elephant.ogg": "elephant", "animals/mammals/equines/horse.ogg": "horse",
    "animals/mammals/equines/donkey.ogg": "donkey", "animals/mammals/apes/gorilla.ogg": "gorilla",
    "animals/mammals/apes/chimp.ogg": "chimpanzee", "animals/mammals/aquatic/dolphin.ogg": "dolphin",
    "animals/mammals/aquatic/orca.ogg": "orca", "animals/mammals/aquatic/sea_lion.ogg": "sea lion",
    "animals/mammals/aquatic/whale.ogg": "whale", "animals/mammals/bears/bear.ogg": "bear",
"animals/mammals/camel/camel.ogg": "camel",
    "animals/mammals/dogs/fox.ogg": "fox", "animals/mammals/hippopotamus.ogg": "hippopotamus",
    "animals/birds/owl.ogg": "owl", "animals/birds/duck.ogg": "duck", "animals/birds/penguin.ogg": "penguin",
    "animals/birds/seagull.ogg": "seagull", "animals/birds/turkey.ogg": "turkey",
    "animals/birds/gander.ogg": "goose", "animals/mammals/rodents/beaver.ogg": "beaver",
    "hobbies/music/percussion/drumkit.ogg": "drum kit", "hobbies/music/percussion/cymbal_crash.ogg": "cymbal",
    "hobbies/music/percussion/drum_tomtom_floor.ogg": "tom-tom drum", "hobbies/music/string/cello.ogg": "cello",
    "hobbies/music/string/violin.ogg": "violin", "hobbies/music/wind/bassoon.ogg": "bassoon",
    "hobbies/camera_35mm.ogg": "camera shutter", "household/rubberduck.ogg": "rubber duck squeak",
"household/tools/hammer.ogg": "hammer",
    "household/arttools/scissors_small_open.ogg": "scissors", "seasonal/hanukkah/dreydl-nun.ogg": "speech (a spoken Hebrew letter)",
    "animals/mammals/cats/lion_desc_fr.ogg": "speech (French, recorded)",
    "animals/mammals/elephant_desc_ru.ogg": "speech (Russian, recorded)",
    "animals/mammals/cats/tiger_desc_es.ogg": "speech (Spanish, recorded)",
    "animals/birds/owl_desc_ca.ogg": "speech (Catalan, recorded)",
}
FREEDESKTOP = {"phone-incoming-call.oga": "phone ringtone", "complete.oga": "notification chime",
               "dialog-warning.oga": "warning tone", "message-new-instant.oga": "message tone"}
INSTRUMENTS = {  # General MIDI program -> name
    0: "piano", 24: "nylon guitar", 40: "violin", 73: "flute", 56: "trumpet", 19: "church organ", 32: "acoustic bass",
    12: "marimba", 52: "choir aahs", 65: "alto saxophone", 46: "harp", 105: "banjo",
}
SOX = {  # name -> sox synth arguments (4 s at 32 kHz)
    "sine sweep 100 Hz-8 kHz": ["synth", "4", "sine", "100-8000"],
    "white noise": ["synth", "4", "whitenoise", "vol", "0.4"],
    "pink noise": ["synth", "4", "pinknoise", "vol", "0.5"],
    "square wave 440 Hz": ["synth", "4", "square", "440", "vol", "0.3"],
    "DTMF-like two-tone": ["synth", "4", "sine", "697", "sine", "1209", "remix", "1,2", "vol", "0.4"],
    "triangle chirp 2-300 Hz": ["synth", "4", "triangle", "2000-300", "vol", "0.5"],
}


def midi(program: int, notes: list[tuple[int, float, float]], *, channel: int = 0, tempo_us: int = 500_000) -> bytes:
    """A type-0 Standard MIDI File: one program, notes as (pitch, start beat, length in beats)."""
    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        while n > 127:
            n >>= 7
            out.insert(0, (n & 0x7F) | 0x80)
        return bytes(out)

    tpq = 480
    events = [(0, bytes([0xFF, 0x51, 0x03]) + tempo_us.to_bytes(3, "big")),
              (0, bytes([0xC0 | channel, program]))]
    for pitch, start, length in notes:
        events.append((int(start * tpq), bytes([0x90 | channel, pitch, 96])))
        events.append((int((start + length) * tpq), bytes([0x80 | channel, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))
    track, now = b"", 0
    for t, data in events:
        track += vlq(t - now) + data
        now = t
    track += b"\x00\xff\x2f\x00"
    return (b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + tpq.to_bytes(2, "big")
            + b"MTrk" + len(track).to_bytes(4, "big") + track)


def melody(seed: int) -> list[tuple[int, float, float]]:
    """A short tune in C major with a chord under its first beat (so the instruments play polyphony too)."""
    rng = np.random.default_rng(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes, beat = [(48, 0, 4), (55, 0, 4)], 0.0
    while beat < 7:
        length = float(rng.choice([0.5, 1.0, 1.0, 1.5]))
        notes.append((int(rng.choice(scale)), beat, length * 0.95))
        beat += length
    return notes


def drums() -> list[tuple[int, float, float]]:
    """A rock beat on the General MIDI drum channel: kick, snare, hi-hat."""
    notes = []
    for bar in range(2):
        for i in range(8):
            b = bar * 4 + i * 0.5
            notes.append((42, b, 0.2))
            if i in (0, 4):
                notes.append((36, b, 0.3))
            if i in (2, 6):
                notes.append((38, b, 0.3))
    return notes


def write(y: np.ndarray, sr: int, dest: Path) -> None:
    """Mono, resampled to 32 kHz, at most MAX_S (the loudest stretch), peak-normalised to -3 dBFS, Ogg Vorbis."""
    import soxr

    if y.ndim > 1:
        y = y.mean(axis=1)
    if sr != SR:
        y = soxr.resample(y, sr, SR)
    n = int(MAX_S * SR)
    if len(y) > n:  # keep the most energetic MAX_S seconds
        energy = np.convolve(y.astype(np.float64) ** 2, np.ones(SR // 10), "valid")[:: SR // 10]
        starts = np.arange(0, len(y) - n + 1, SR // 10)
        sums = [energy[s // (SR // 10): (s + n) // (SR // 10)].sum() for s in starts]
        a = int(starts[int(np.argmax(sums))])
        y = y[a: a + n]
    peak = float(np.max(np.abs(y))) or 1.0
    sf.write(dest, (0.708 * y / peak).astype(np.float32), SR, format="OGG", subtype="VORBIS")


def build(dest: Path) -> list[dict]:
    for tool in ("espeak-ng", "sox", "fluidsynth"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install {' '.join(PACKAGES)}")
    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def add(name: str, kind: str, what: str, source: str, licence: str, wav: Path) -> None:
            y, sr = sf.read(wav, dtype="float32")
            write(y, sr, dest / f"{name}.ogg")
            rows.append({"file": f"{name}.ogg", "kind": kind, "what": what, "source": source, "licence": licence})

        for voice, text in SPEECH.items():
            wav = tmp / f"{voice}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
            add(f"speech-espeak-{voice}", "speech", f"synthetic speech ({voice})", f"espeak-ng -v {voice}",
                LICENCES["espeak-ng"], wav)
        for lang, prompt in ASTERISK:
            wav = Path(f"/usr/share/asterisk/sounds/{lang}/{prompt}.wav")
            add(f"speech-asterisk-{lang}-{prompt}", "speech", f"recorded voice prompt ({lang})",
                f"asterisk-core-sounds-{lang}-wav:{wav}", LICENCES["asterisk"], wav)
        for program, name in INSTRUMENTS.items():
            mid, wav = tmp / f"{program}.mid", tmp / f"{program}.wav"
            mid.write_bytes(midi(program, melody(program)))
            subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SR), str(SOUNDFONT), str(mid)],
                           check=True, stdout=subprocess.DEVNULL)
            add(f"music-{name.replace(' ', '-')}", "music", f"{name} melody (MIDI program {program})",
                "fluidsynth + FluidR3_GM.sf2", LICENCES["fluidsynth"], wav)
        mid, wav = tmp / "drums.mid", tmp / "drums.wav"
        mid.write_bytes(midi(0, drums(), channel=9))
        subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SR), str(SOUNDFONT), str(mid)],
                       check=True, stdout=subprocess.DEVNULL)
        add("music-drum-beat", "music", "drum kit rock beat (MIDI channel 10)", "fluidsynth + FluidR3_GM.sf2",
            LICENCES["fluidsynth"], wav)
        for name, args in SOX.items():
            wav = tmp / "sox.wav"
            subprocess.run(["sox", "-n", "-r", str(SR), "-c", "1", str(wav), *args], check=True)
            add(f"tone-{name.split()[0].lower()}-{name.split()[1].lower().strip('-')}", "tone", name,
                f"sox -n {' '.join(args)}", LICENCES["sox"], wav)
        tux_root = _tuxpaint(tmp)
        for rel, what in TUX.items():
            kind = "speech" if what.startswith("speech") else "music" if rel.startswith("hobbies/music") else "real"
            add(f"{kind}-tuxpaint-{Path(rel).stem.lower()}", kind, what, f"tuxpaint-stamps-default:{rel}",
                LICENCES["tuxpaint"], tux_root / rel)
        for file, what in FREEDESKTOP.items():
            add(f"real-freedesktop-{Path(file).stem}", "real", what, f"sound-theme-freedesktop:{file}",
                LICENCES["freedesktop"], Path("/usr/share/sounds/freedesktop/stereo") / file)
    with open(dest.parent / "PROVENANCE.tsv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    return rows


def _tuxpaint(tmp: Path) -> Path:
    """tuxpaint-stamps-default unpacked (downloaded with apt-get, not installed): its stamps folder."""
    installed = Path(os.environ.get("TUXPAINT_STAMPS", "/usr/share/tuxpaint/stamps"))
    if installed.is_dir():
        return installed
    subprocess.run(["apt-get", "download", "tuxpaint-stamps-default"], cwd=tmp, check=True, capture_output=True)
    deb = next(tmp.glob("tuxpaint-stamps-default_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(tmp / "tux")], check=True)
    return tmp / "tux" / "usr/share/tuxpaint/stamps"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "clips"
    made = build(out)
    print(f"{len(made)} clips in {out}; {sum(p.stat().st_size for p in out.glob('*.ogg')) / 2**20:.1f} MB")
