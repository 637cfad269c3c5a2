"""SoundLab core: audio, DSP, the ESC-50 data layer, models and metrics. Never imports streamlit.

Submodules are imported explicitly (``from soundlab import audio``); nothing heavy runs here.
"""

__version__ = "0.1.0"
