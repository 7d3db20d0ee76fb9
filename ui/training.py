"""A small training run in a background thread, so a page can show its curve while it learns.

The page keeps the `Job` in its session; ``on_step`` appends each record and returns the cancel flag,
which engine.train.train checks after every step. The run writes to a temporary folder, removed at
the end: a live run is a demonstration, not a model to keep.
"""

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace

from engine.pretrain import PRESETS
from engine.train import TrainConfig, train

# engine.pretrain's "smoke" preset (tiny model, short sequences), with a budget set in corpus tokens,
# an evaluation every 25 steps for the curve, and no checkpoints until the end.
LIVE = dict(PRESETS["smoke"], seq_len=64, batch_size=8, flops=0.0, warmup=10, eval_interval=25, ckpt_interval=10**9, eval_batches=2)


@dataclass
class Job:
    architecture: str
    objective: str
    tokens: int
    records: list = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    summary: dict | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def progress(self) -> float:
        steps = [r for r in self.records if "steps" in r]
        return steps[-1]["step"] / max(1, steps[-1]["steps"]) if steps else 0.0


def start(architecture: str, objective: str, tokens: int, corpus=None) -> Job:
    job = Job(architecture, objective, tokens)
    out = tempfile.mkdtemp(prefix="masklab-live-")
    cfg = replace(TrainConfig(architecture=architecture, objective=objective, out=out, corpus=corpus), **LIVE, tokens=tokens)

    def on_step(record: dict) -> bool:
        job.records.append(record)
        return job.cancel.is_set()

    def run() -> None:
        try:
            job.summary = train(cfg, on_step=on_step)
        except Exception as e:  # shown on the page; a failed demo run must not take the app down
            job.error = f"{type(e).__name__}: {e}"
        finally:
            shutil.rmtree(out, ignore_errors=True)

    job.thread = threading.Thread(target=run, name="masklab-live-train", daemon=True)
    job.thread.start()
    return job
