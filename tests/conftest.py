"""What every test shares: a hermetic setting (the corpus in tests/fixtures, a token cache in a temporary
folder) and the marks for tests that need a file from ../shared beside the checkout."""

import os
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"

# tiktoken's BPE files for the OpenAI encodings. Without ../shared/tiktoken, a temporary folder: a
# download (when online) must not leave files beside the checkout.
TIKTOKEN_CACHE = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or SHARED / "tiktoken").resolve()
os.environ["TIKTOKEN_CACHE_DIR"] = str(TIKTOKEN_CACHE if TIKTOKEN_CACHE.is_dir() else tempfile.mkdtemp(prefix="masklab-tiktoken-"))
# Training reads the fixture corpus, whatever the shell says: the same text on every machine.
os.environ["MASKLAB_CORPUS"] = str(FIXTURE_CORPUS)
torch.set_num_threads(min(2, torch.get_num_threads()))

TIKTOKEN = (
    pytest.mark.shared,
    pytest.mark.skipif(not TIKTOKEN_CACHE.is_dir(), reason=f"needs tiktoken's BPE files in {TIKTOKEN_CACHE} (../shared/tiktoken or TIKTOKEN_CACHE_DIR)"),
)


def needs_tiktoken(test):
    """Mark a test that reads an OpenAI encoding (GPT-2 ... GPT-4o): it needs tiktoken's cached files."""
    for mark in TIKTOKEN:
        test = mark(test)
    return test


@pytest.fixture(autouse=True, scope="session")
def _token_cache(tmp_path_factory):
    """engine.data caches tokenized corpora under MASKLAB_CACHE (default ~/.cache/masklab): keep them in the test's temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASKLAB_CACHE", str(tmp_path_factory.getbasetemp() / "token-cache"))
        yield


def page_params(pages):
    """``pages`` as pytest params: the tokenization page shows every encoding, so it needs tiktoken's files."""
    return [pytest.param(page, marks=TIKTOKEN if page == "tokenization" else ()) for page in pages]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Where browser tests leave screenshots, logs and timings: ``$MASKLAB_ARTIFACTS`` (``bash .ci/run``
    sets it to ``artifacts/``), else a temporary folder."""
    folder = Path(os.environ["MASKLAB_ARTIFACTS"]) if os.environ.get("MASKLAB_ARTIFACTS") else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
