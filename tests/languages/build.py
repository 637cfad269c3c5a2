"""Spoken clips in several languages for the language-detection tests, made with espeak-ng.

    python -m tests.languages.build

Writes `<lang>-short.ogg` (one sentence, 3-5 s) and `<lang>-long.ogg` (several sentences, over 30 s, so two
Whisper chunks) as mono Ogg Vorbis at 16 kHz, and `texts.json` with what each says. Synthetic speech: espeak-ng is
GPL-3, its output carries no licence. Committed (about a megabyte); this script is how they were made. (espeak-ng's
French came out unrecognisable to whisper-base in every voice tried, so French is not here; ../shared/speech has a
French clip.)
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
TEXTS = {
    "de": ["Der Zug nach Berlin hat heute leider zwanzig Minuten Verspätung.",
           "Am Wochenende wandern wir mit Freunden durch den Schwarzwald und essen abends in einem kleinen Gasthaus.",
           "Meine Großmutter backt jeden Sonntag einen Apfelkuchen für die ganze Familie.",
           "Die Bibliothek in der Stadtmitte ist montags geschlossen, aber dienstags bis acht Uhr geöffnet.",
           "Im Sommer fahren viele Menschen an die Ostsee, um am Strand zu liegen und im Meer zu schwimmen."],
    "pl": ["W sobotę rano idziemy na targ kupić świeże warzywa i owoce.",
           "Moja siostra mieszka w małym domu niedaleko rzeki od wielu lat.",
           "Pociąg do Krakowa odjeżdża o ósmej rano z peronu numer trzy.",
           "Wieczorem czytamy dzieciom książki o zwierzętach i dalekich krajach.",
           "W lipcu pojedziemy nad morze, żeby odpocząć i pływać codziennie."],
    "nl": ["Wij fietsen elke zondag langs het kanaal naar het dorp van mijn oma.",
           "De bibliotheek in het centrum is op maandag gesloten, maar op dinsdag tot acht uur open.",
           "Mijn buurman laat zijn hond elke ochtend uit in het park bij de rivier.",
           "Na het eten hebben we met onze neven kaartspellen gespeeld tot middernacht.",
           "De trein naar Amsterdam vertrekt om negen uur van spoor vijf."],
    "es": ["Mi hermana vive en una casa pequeña cerca del río desde hace años.",
           "Los domingos por la mañana vamos al mercado a comprar fruta y pescado fresco.",
           "El profesor explicó la lección de historia con mucha paciencia y buen humor.",
           "En verano hace tanto calor que dormimos con las ventanas abiertas toda la noche.",
           "Mañana por la tarde tenemos una reunión importante en la oficina central."],
    "it": ["Domani pomeriggio andiamo al museo con i bambini della scuola.",
           "La pizzeria vicino alla stazione prepara la migliore pizza margherita della città.",
           "Ogni estate i miei nonni passano un mese al mare in una piccola casa sulla spiaggia.",
           "Il treno per Roma è in ritardo di dieci minuti a causa di un guasto alla linea.",
           "Dopo cena abbiamo fatto una lunga passeggiata nel centro storico illuminato."],
}
SR = 16_000


def say(lang: str, text: str, tmp: Path) -> np.ndarray:
    wav = tmp / "x.wav"
    subprocess.run(["espeak-ng", "-v", lang, "-s", "145", "-w", str(wav), text], check=True)
    y, sr = sf.read(wav, dtype="float32")
    import soxr

    return soxr.resample(y, sr, SR).astype(np.float32)


def main() -> None:
    texts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang, sentences in TEXTS.items():
            short = say(lang, sentences[0], Path(tmp))
            pause = np.zeros(int(0.6 * SR), np.float32)
            parts = []
            while sum(len(p) for p in parts) < 34 * SR:  # over 30 s: Whisper needs two chunks
                for s in sentences:
                    parts += [say(lang, s, Path(tmp)), pause]
            long = np.concatenate(parts)
            for name, y in ((f"{lang}-short", short), (f"{lang}-long", long)):
                sf.write(HERE / f"{name}.ogg", 0.7 * y / max(float(np.abs(y).max()), 1e-6), SR, format="OGG",
                         subtype="VORBIS")
            texts[f"{lang}-short"] = sentences[0]
            n_rounds = len(parts) // (2 * len(sentences))
            texts[f"{lang}-long"] = " ".join(sentences * max(n_rounds, 1))
    (HERE / "texts.json").write_text(json.dumps(texts, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
