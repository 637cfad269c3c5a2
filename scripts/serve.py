"""Start SoundLab: `streamlit run app.py` (Home.py and pages/, with app.py's middleware) with the pages' libraries warmed
in a background thread (components/warmup.py).

scripts/run-app.sh runs this; arguments go to `streamlit run` (e.g. --server.port 8600). Plain
`python -m streamlit run Home.py` works too, only a page's first visit after a start is slower (no warm-up) and a new
visitor of a page other than Home waits 0.1 s more (app.py says why).

It also sets Python's thread switch interval to 0.5 ms (from 5): a thread that waits for the GIL then gets it within
0.5 ms instead of 5. Sessions' scripts and the server's event loop are threads of one process, and a classification
or a transcription releases and retakes the GIL many times (decoding, each network call; transformers' Whisper
at every operation). Beside one other busy Python thread (measured by bench/bench_classify.py and
bench/bench_transcribe.py, 2026-12-03):
- a 5 s clip with the fused default model took 290-300 ms at 5 ms, 83-94 ms at 1 ms, 52-64 ms at 0.5 ms (21-30 ms
  alone);
- 15 s of speech with transformers' whisper-base took 33.5-34.5 s at 5 ms, 15.5 s at 1 ms, 9.0-11.4 s at 0.5 ms
  (2.7-3.3 s alone; faster-whisper 1.0 s alone, 1.5 s beside the busy thread at either interval).
Three pure-Python threads sharing the GIL did the same work in the same time at 5 and 0.5 ms (0.99-1.16 s).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SWITCH_INTERVAL_S = 0.0005


def main() -> int:
    from streamlit.web import cli

    from components import warmup

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    warmup.start()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    return cli.main(prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
