"""Where MaskLab's files are, and the environment variables that move them: the one place that knows.

The repository holds the code and ``assets/`` (the shipped variants and MaskLab's tokenizer). A folder
``shared/`` beside the repository, when present, holds what is too large to commit: the corpus
(``shared/corpus/{train,valid}.txt``), published checkpoints (``shared/models/``) and tiktoken's
cached encodings (``shared/tiktoken/``). Each can be moved by a variable:

=========================  ================================================  ==========================
variable                   what it points at                                 default
=========================  ================================================  ==========================
``MASKLAB_CORPUS``         a corpus folder (train.txt, valid.txt) or file    ``shared/corpus``
``MASKLAB_MODELS_DIR``     the shipped variants' folder                      ``assets/models``
``MASKLAB_MODEL_DIRS``     more folders of published checkpoints (os.pathsep) none
``MASKLAB_CACHE``          tokenized corpora                                 ``~/.cache/masklab``
``MASKLAB_ALLOW_DOWNLOADS`` "1" lets ``transformers`` download from the hub   off
``TIKTOKEN_CACHE_DIR``     tiktoken's cache (set by `use_shared_tiktoken`)   ``shared/tiktoken``
=========================  ================================================  ==========================

Every function reads the environment when called, so a test or a notebook may set a variable at any
time. Importing ``engine`` calls `use_shared_tiktoken`, so a notebook loads the OpenAI encodings
offline exactly as the app does.
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # beside the repository: what is too large to commit
ASSETS = REPO / "assets"
BPE_PATH = ASSETS / "tokenizer" / "masklab-8k.tiktoken"  # MaskLab's own BPE ranks

CORPUS_ENV = "MASKLAB_CORPUS"
MODELS_DIR_ENV = "MASKLAB_MODELS_DIR"
MODEL_DIRS_ENV = "MASKLAB_MODEL_DIRS"
CACHE_ENV = "MASKLAB_CACHE"
ALLOW_DOWNLOADS_ENV = "MASKLAB_ALLOW_DOWNLOADS"
TIKTOKEN_ENV = "TIKTOKEN_CACHE_DIR"


def corpus(flag=None) -> Path:
    """The corpus to read: ``flag`` (a ``--corpus`` argument), else ``$MASKLAB_CORPUS``, else
    ``shared/corpus``. Not checked for existence: `engine.data.corpus_root` does that."""
    return Path(flag or os.environ.get(CORPUS_ENV) or SHARED / "corpus").expanduser()


def models_dir() -> Path:
    """The shipped variants' folder: ``$MASKLAB_MODELS_DIR``, else ``assets/models``."""
    return Path(os.environ.get(MODELS_DIR_ENV) or ASSETS / "models").expanduser()


def shared_models() -> Path:
    """Published checkpoints kept beside the project: ``shared/models``."""
    return SHARED / "models"


def extra_model_dirs() -> list[Path]:
    """The folders listed in ``$MASKLAB_MODEL_DIRS`` (os.pathsep-separated), in order."""
    return [Path(p).expanduser() for p in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if p.strip()]


def cache_dir() -> Path:
    """Where tokenized corpora are kept: ``$MASKLAB_CACHE``, else ``~/.cache/masklab``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "masklab").expanduser()


def downloads_allowed() -> bool:
    """True when ``$MASKLAB_ALLOW_DOWNLOADS`` is "1": published checkpoints may come from the hub."""
    return os.environ.get(ALLOW_DOWNLOADS_ENV) == "1"


def use_shared_tiktoken() -> None:
    """Point tiktoken at ``shared/tiktoken`` when that folder exists and ``TIKTOKEN_CACHE_DIR`` is
    unset, so the OpenAI encodings load offline. A variable already set is left as it is."""
    folder = SHARED / "tiktoken"
    if folder.is_dir():
        os.environ.setdefault(TIKTOKEN_ENV, str(folder))
