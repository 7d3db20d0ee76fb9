"""A small training run in a background thread, so a page can show its curve while it learns.

The page keeps the `Job` in its session; ``on_step`` appends each record and returns the cancel flag,
which engine.train.train checks after every step. The run writes to a temporary folder, removed at
the end: a live run is a demonstration, not a model to keep.

A reload starts a new session, so jobs are also kept here, server-wide, under an unguessable id that
the page puts in its link (``?job=``): the reloaded page finds its run again, still cancellable. At
most `MAX_RUNNING` runs train at once on one server, and the last `KEEP` finished ones are kept.
"""

import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace

from engine.catalog import PRESETS
from engine.train import TrainConfig, train

# engine.pretrain's "smoke" preset (tiny model, short sequences), with a budget set in corpus tokens,
# an evaluation every 25 steps for the curve, and no checkpoints until the end.
LIVE = dict(PRESETS["smoke"], seq_len=64, batch_size=8, flops=0.0, warmup=10, eval_interval=25, ckpt_interval=10**9, eval_batches=2)
MAX_RUNNING = 2  # live runs training at once on one server: each keeps a CPU core busy
KEEP = 16  # finished runs kept for a reloaded page to find


class Busy(RuntimeError):
    """Too many live runs on this server right now; the message says so."""


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
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def progress(self) -> float:
        steps = [r for r in self.records if "steps" in r]
        return steps[-1]["step"] / max(1, steps[-1]["steps"]) if steps else 0.0


_JOBS: dict[str, Job] = {}
_LOCK = threading.Lock()


def find(job_id: str) -> Job | None:
    """The run started under ``job_id`` on this server, if it is still kept."""
    with _LOCK:
        return _JOBS.get(job_id)


def start(architecture: str, objective: str, tokens: int, corpus=None) -> Job:
    """Start a run in a background thread; raises Busy when `MAX_RUNNING` runs are training already."""
    with _LOCK:
        running = sum(j.running for j in _JOBS.values())
        if running >= MAX_RUNNING:
            raise Busy(f"{running} training runs are going on this server already, the most it takes at once; "
                       "start yours when one of them ends.")
        job = _launch(architecture, objective, tokens, corpus)
        _JOBS[job.id] = job
        done = sorted((j for j in _JOBS.values() if not j.running), key=lambda j: j.started)
        for old in done[: max(0, len(done) - KEEP)]:
            del _JOBS[old.id]
    return job


def _launch(architecture: str, objective: str, tokens: int, corpus) -> Job:
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
