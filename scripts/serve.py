"""Start SoundLab: `streamlit run app.py` (Home.py and pages/, with app.py's middleware) with the pages' libraries and
the default model warmed in a background thread (components/warmup.py). scripts/run-app.sh runs this; arguments go to
`streamlit run` (e.g. --server.port 8600). Plain `python -m streamlit run Home.py` works too, without the warm-up.

It sets Python's thread switch interval to 0.5 ms (from 5): sessions' scripts and the server's event loop are threads of
one process, and a classification or a transcription waits for the GIL at every call into a library; a short interval
keeps that wait short (bench/RESULTS.md: "Why the thread switch interval is 0.5 ms").
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
