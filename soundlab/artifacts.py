"""What is in the model artifacts folder (YAMNet files, trained runs), for status displays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

YAMNET_TFLITE = "yamnet.tflite"
YAMNET_CLASS_MAP = "yamnet_class_map.csv"
RUNS_DIR = "runs"


@dataclass(frozen=True)
class Inventory:
    folder: Path
    yamnet_tflite: Path | None
    yamnet_class_map: Path | None
    runs: tuple[Path, ...]  # run folders (each holds a run.json)

    def missing(self) -> list[str]:
        out = []
        if self.yamnet_tflite is None:
            out.append(f"YAMNet model ({YAMNET_TFLITE})")
        if self.yamnet_class_map is None:
            out.append(f"YAMNet class map ({YAMNET_CLASS_MAP})")
        if not self.runs:
            out.append("trained classifier runs (runs/*/run.json)")
        return out


def inventory(folder: Path) -> Inventory:
    """Scan `folder` (cheap: a few stat calls and one listing)."""
    folder = Path(folder)
    tfl = folder / YAMNET_TFLITE
    cmap = folder / YAMNET_CLASS_MAP
    runs_dir = folder / RUNS_DIR
    runs = tuple(sorted(p for p in runs_dir.iterdir() if (p / "run.json").is_file())) if runs_dir.is_dir() else ()
    return Inventory(folder, tfl if tfl.is_file() else None, cmap if cmap.is_file() else None, runs)
