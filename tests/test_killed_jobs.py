"""Killed jobs: a training run killed (SIGKILL) at random moments resumes with ``--resume`` every time
and ends with exactly the weights of a run that was never interrupted; a half-written checkpoint is
never loaded. The app's live run survives a reload and cancels cleanly."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.train import TrainConfig, main as train_main, train
from ui import state, training

from conftest import REPO, open_page

STEPS = 36
SMOKE = dict(size="tiny", seq_len=32, batch_size=4, lr=3e-3, warmup=2, eval_interval=12, ckpt_interval=3, eval_batches=1, max_corpus_bytes=300_000)
CLI = ["--architecture", "decoder", "--objective", "clm", "--size", "tiny", "--seq-len", "32", "--batch-size", "4",
       "--tokens", str(STEPS * 4 * 32), "--lr", "3e-3", "--warmup", "2", "--eval-interval", "12", "--ckpt-interval", "3",
       "--eval-batches", "1", "--max-corpus-bytes", "300000", "--device", "cpu", "--quiet"]


@pytest.fixture
def env(tmp_path_factory):
    """One token cache for every process, one thread each: the same arithmetic in every run."""
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1",
                MASKLAB_CACHE=str(tmp_path_factory.getbasetemp() / "token-cache"))


def weights(run: Path) -> dict:
    return load_file(str(run / "model.safetensors"))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def logged_steps(run: Path) -> list[int]:
    lines = (run / "log.jsonl").read_text().splitlines() if (run / "log.jsonl").exists() else []
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "eval" not in record:
            out.append(record["step"])
    return out


def run_to_end(out: Path, env: dict, resume: bool) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "engine.train", *CLI, "--out", str(out)] + (["--resume"] if resume else [])
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def run_and_kill(out: Path, env: dict, resume: bool, at_step: int, extra_s: float) -> tuple[int, int]:
    """Start a run, SIGKILL it once its log reaches ``at_step`` (plus ``extra_s``); (return code, last logged step)."""
    cmd = [sys.executable, "-m", "engine.train", *CLI, "--out", str(out)] + (["--resume"] if resume else [])
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    try:
        while proc.poll() is None and time.time() < deadline:
            steps = logged_steps(out)
            if steps and steps[-1] >= at_step:
                time.sleep(extra_s)
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read().decode(errors="replace")[-2000:]
    return proc.returncode, (logged_steps(out) or [0])[-1]


def plant_debris(out: Path) -> None:
    """What a kill in the middle of a write could leave, had the writes not been atomic."""
    (out / ".model-0099999.safetensors.x1y2.tmp").write_bytes(b"\x00" * 64)
    (out / ".latest.json.x1y2.tmp").write_text('{"step": 99999, "model": "model-0099999.saf')
    (out / "model-0099999.safetensors").write_bytes(b"{\"truncated")
    with open(out / "log.jsonl", "a") as f:
        f.write('{"step": 99999, "steps": 36, "tok')  # a line cut short


@pytest.mark.slow
def test_a_run_killed_at_random_moments_ends_with_the_uninterrupted_weights(tmp_path, env):
    straight = tmp_path / "straight"
    r = run_to_end(straight, env, resume=False)
    assert r.returncode == 0, r.stderr[-2000:]

    resumed = tmp_path / "resumed"
    rng = random.Random(1234)
    targets = sorted(rng.sample(range(2, STEPS - 6), 3))
    pointers, kills = [], 0
    for i, target in enumerate(targets):
        code, _ = run_and_kill(resumed, env, resume=i > 0, at_step=target, extra_s=rng.uniform(0, 0.05))
        kills += code == -signal.SIGKILL
        latest = resumed / "latest.json"
        if latest.exists():
            pointer = json.loads(latest.read_text())
            assert (resumed / pointer["model"]).exists() and (resumed / pointer["optimizer"]).exists()
            pointers.append(pointer["step"])
        plant_debris(resumed)
    assert kills >= 2, "the runs finished before they could be killed: make STEPS larger"
    assert pointers == sorted(pointers), "a resumed run went back to an older checkpoint"

    r = run_to_end(resumed, env, resume=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert same_weights(straight, resumed)
    assert logged_steps(resumed) == list(range(1, STEPS + 1)), "the log holds each step once, in order"
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["steps_done"] == STEPS and not summary["stopped_early"]
    assert not list(resumed.glob("*.tmp")) or all(p.name.startswith(".") for p in resumed.glob("*.tmp"))


def test_half_written_files_are_never_loaded(tmp_path):
    """Debris beside a run (a .tmp file, a truncated checkpoint that latest.json does not name, a log
    line cut short) is ignored on resume: the run ends as if it had never stopped."""
    base = TrainConfig(architecture="decoder", objective="clm", tokens=9 * 4 * 32, **SMOKE)
    train(replace(base, out=str(tmp_path / "straight")))
    out = tmp_path / "resumed"
    train(replace(base, out=str(out)), on_step=lambda r: r.get("step") == 6)
    plant_debris(out)
    train(replace(base, out=str(out)), resume=True)
    assert same_weights(tmp_path / "straight", out)
    assert logged_steps(out) == list(range(1, 10))


def test_a_finished_run_resumed_again_reports_the_same_summary(tmp_path):
    """Killed after its last checkpoint but before its summary: resuming finishes without a step more."""
    cfg = TrainConfig(architecture="decoder", objective="clm", tokens=6 * 4 * 32, out=str(tmp_path / "run"), **SMOKE)
    first = train(cfg)
    (tmp_path / "run" / "summary.json").unlink()
    again = train(cfg, resume=True)
    assert again["steps_done"] == first["steps_done"] == 6
    assert again["corpus_tokens"] == first["corpus_tokens"] and again["training_flops"] == first["training_flops"]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps_done"] == 6


def test_a_damaged_checkpoint_named_by_latest_is_a_clear_error(tmp_path, capsys, monkeypatch):
    cfg = TrainConfig(architecture="decoder", objective="clm", tokens=6 * 4 * 32, out=str(tmp_path / "run"), **SMOKE)
    train(cfg, on_step=lambda r: r.get("step") == 3)
    pointer = json.loads((tmp_path / "run" / "latest.json").read_text())
    path = tmp_path / "run" / pointer["model"]
    path.write_bytes(path.read_bytes()[:200])
    argv = [*CLI, "--out", str(tmp_path / "run"), "--resume", "--tokens", str(6 * 4 * 32)]
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "safetensors" in err and "Traceback" not in err


# The live run in the app


def wait_for(predicate, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_the_live_run_survives_a_reload_and_cancels_cleanly(tmp_path, monkeypatch):
    monkeypatch.setattr(training.tempfile, "tempdir", str(tmp_path))  # where the run's folder goes
    at = open_page("scaling")
    at.select_slider(key="scaling.budget").set_value(400_000)
    at.button(key="scaling.start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    job = at.session_state[state.TRAINING_JOB]
    assert job.running and at.query_params["job"] in (job.id, [job.id])
    wait_for(lambda: job.records or not job.running)

    reloaded = open_page("scaling", params={"job": job.id})  # a reload: a new session, with only the link
    assert reloaded.session_state[state.TRAINING_JOB] is job
    assert reloaded.button(key="scaling.start").disabled and not reloaded.button(key="scaling.cancel").disabled
    reloaded.button(key="scaling.cancel").click().run()
    assert not reloaded.exception
    job.thread.join(timeout=180)
    assert not job.running and job.error is None
    assert job.summary["stopped_early"] and job.summary["steps_done"] < job.summary["steps"]
    assert not list(tmp_path.glob("masklab-live-*")), "the run's folder was not removed"

    for view in (open_page("scaling", params={"job": job.id}), at.run()):  # both sessions see the cancelled run
        assert not view.exception
        assert any("cancelled after" in str(s.value) for s in view.success)


def test_a_link_to_a_run_that_is_gone_says_so():
    at = open_page("scaling", params={"job": "no-such-run-0123456789"})
    assert any("no longer on the server" in str(i.value) for i in at.info)
    assert at.session_state["job"] == ""
    at = open_page("scaling", params={"job": "../../etc/passwd"})
    assert any(" job " in str(w.value) and "ignored" in str(w.value) and "training run's id" in str(w.value) for w in at.warning)


def test_the_server_caps_how_many_live_runs_train_at_once(monkeypatch):
    monkeypatch.setattr(training, "MAX_RUNNING", 0)
    at = open_page("scaling")
    at.button(key="scaling.start").click().run()
    assert not at.exception
    assert state.TRAINING_JOB not in at.session_state or at.session_state[state.TRAINING_JOB] is None
    assert any("most it takes at once" in str(w.value).replace("\\", "") for w in at.warning)
