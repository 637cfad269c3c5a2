"""Start SoundLab: `streamlit run app.py` (Home.py and pages/, with app.py's middleware) with the pages' libraries warmed
in a background thread (components/warmup.py).

scripts/run-app.sh runs this; arguments go to `streamlit run` (e.g. --server.port 8600). Plain
`python -m streamlit run Home.py` works too, only a page's first visit after a start is slower (no warm-up) and a new
visitor of a page other than Home waits 0.1 s more (app.py says why).

It also sets Python's thread switch interval to 1 ms (from 5): a thread that waits for the GIL then gets it within
1 ms instead of 5. Sessions' scripts and the server's event loop are threads of one process, and a classification
releases and retakes the GIL several times (decoding, each network call, the head): with one other busy Python thread,
a 5 s clip took 290-300 ms at 5 ms and 83-94 ms at 1 ms (the fused default model, `bench/bench_classify.py`).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SWITCH_INTERVAL_S = 0.001


def main() -> int:
    from streamlit.web import cli

    from components import warmup

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    warmup.start()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    return cli.main(prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
