"""Torch's global random generator, held for one seeded construction at a time.

Module initialisers (``nn.Linear``, ``nn.init.normal_``) draw from torch's global generator, which every
thread of a process shares. The app builds models in several sessions' threads at once, so a model
built from a seed must hold that generator for the whole construction: otherwise another thread's
``manual_seed`` or draws land in the middle of it and the "seed 0" model is some other model.
"""

import contextlib
import threading

import torch

_GLOBAL = threading.RLock()


@contextlib.contextmanager
def seeded(seed: int):
    """Run the block with torch's global generator seeded with ``seed``, alone in the process (other
    `seeded` blocks wait), and the generator's state before it restored after. Every construction of
    a model in the engine goes through it, seeded or not (a model whose weights are loaded after it is
    built still draws while it is built).

    Raises TypeError for a seed that is not an int."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    with _GLOBAL, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
