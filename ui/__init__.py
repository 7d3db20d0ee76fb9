"""MaskLab's Streamlit layer: state and URL (state), caches (cache), figures (charts), HTML (html),
and what every page shares (layout). Pages only place what these build."""

import os
from pathlib import Path

# The OpenAI encodings load from tiktoken's cache; a checkout beside ../shared/tiktoken works offline.
_SHARED_TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "tiktoken"
if _SHARED_TIKTOKEN.is_dir():
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_SHARED_TIKTOKEN))
