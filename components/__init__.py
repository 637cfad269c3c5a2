"""Streamlit-aware helpers shared by the pages.

pylibsrtp (WebRTC encryption, used by streamlit-webrtc through aiortc) crashes the process with a
segmentation fault when it is first imported *after* TensorFlow: TensorFlow's bundled BoringSSL
symbols shadow the OpenSSL ones it links against. Every page imports this package before anything
else, so it is imported first whichever page a session opens.
"""

import pylibsrtp  # noqa: F401  (import order matters, see above)
