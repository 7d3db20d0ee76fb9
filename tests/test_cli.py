import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import needs_tiktoken

REPO = Path(__file__).resolve().parents[1]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, capture_output=True, text=True, env=os.environ.copy(), timeout=120)


@needs_tiktoken
def test_tokenize_json():
    r = cli("tokenize", "--json", "--encoding", "r50k_base", "hello world")
    assert r.returncode == 0, r.stderr
    assert [t["id"] for t in json.loads(r.stdout)["tokens"]] == [31373, 995]


def test_masks_json():
    r = cli("masks", "--json", "--architecture", "encoder_decoder", "--n-input", "2", "--n-target", "2")
    assert json.loads(r.stdout) == {"encoder": [[1, 1], [1, 1]], "decoder": [[1, 0], [1, 1]], "cross": [[1, 1], [1, 1]]}


def test_corrupt_and_variants_and_score():
    r = cli("corrupt", "--json", "--objective", "mlm", "--seed", "1", "one two three four five six seven eight nine ten")
    data = json.loads(r.stdout)
    assert data["objective"] == "mlm" and 0 < data["exposure"] < 0.5
    names = [v["name"] for v in json.loads(cli("variants", "--json").stdout)]
    assert "random-decoder" in names
    r = cli("score", "--json", "--variant", "random-decoder", "Call me Ishmael.")
    out = json.loads(r.stdout)
    assert out["summary"]["tokens"] == len(out["tokens"]) > 0
    r = cli("score", "--json", "--variant", "random-encoder", "--stride", "3", "Call me Ishmael, some years ago.")
    rows = json.loads(r.stdout)["tokens"]
    assert all(t["scored"] for t in rows) and rows[0]["method"].startswith("masked LM: 1 token in 3")


@pytest.mark.parametrize(
    "args",
    [
        ("masks", "--architecture", "gpt", "--n-input", "2"),
        ("score", "--variant", "no-such-model", "x"),
        ("score", "--variant", "random-encoder", "--stride", "0", "x"),
        ("corrupt", "--objective", "mlm", "--params", '{"colour": 1}', "x"),
        ("tokenize", "--encoding", "nope", "x"),
        ("frobnicate",),
    ],
)
def test_bad_arguments_give_one_line(args):
    r = cli(*args)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("text", ["-hello", "-x y", "-5", "--"])
def test_a_text_that_starts_with_a_dash_is_text(text):
    args = ["tokenize", "--json", "--encoding", "masklab"] + (["--", text] if text == "--" else [text])
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert "".join(t["text"] for t in json.loads(r.stdout)["tokens"]) == text


def test_options_still_work_around_a_dashed_text_and_help_says_how():
    from engine.__main__ import main

    assert main(["tokenize", "-hello", "--encoding", "masklab"]) == 0
    r = cli("tokenize", "--json", "--encoding", "masklab", "--", "--help")
    assert r.returncode == 0 and "".join(t["text"] for t in json.loads(r.stdout)["tokens"]) == "--help"
    assert "'--' ends the options" in cli("tokenize", "--help").stdout
    r = cli("tokenize", "--encoding")
    assert r.returncode == 2 and "'--'" in r.stderr


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on a machine without a GPU")
@pytest.mark.parametrize("args", [["engine.pretrain", "--preset", "gpu", "--quiet"], ["engine.sweep", "--preset", "gpu", "--sizes", "tiny"]])
def test_a_gpu_preset_without_a_gpu_says_so_in_one_line(tmp_path, args):
    out = tmp_path / "scaling.json"
    extra = ["--out", str(out)] if args[0] == "engine.sweep" else []
    r = subprocess.run([sys.executable, "-m", *args, "--runs", str(tmp_path / "runs"), *extra], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "no GPU is visible" in r.stderr and "--preset cpu" in r.stderr
    assert not out.exists()
