"""Start SoundLab: `streamlit run app.py` (Home.py and pages/, with app.py's middleware) with the pages' libraries warmed
in a background thread (components/warmup.py).

scripts/run-app.sh runs this; arguments go to `streamlit run` (e.g. --server.port 8600). Plain
`python -m streamlit run Home.py` works too, only a page's first visit after a start is slower (no warm-up) and a new
visitor of a page other than Home waits 0.1 s more (app.py says why).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from streamlit.web import cli

    from components import warmup

    warmup.start()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    return cli.main(prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
