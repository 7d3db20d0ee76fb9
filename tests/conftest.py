import os
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str((REPO / ".." / "shared" / "tiktoken").resolve()))
torch.set_num_threads(min(2, torch.get_num_threads()))
