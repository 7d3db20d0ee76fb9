"""Hostile or broken files: damaged weights, lying model cards, unknown config keys, paths that leave
the allowed folders, pickles. Each gets a clear error; the other models keep working; nothing is
ever unpickled."""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import engine
from engine import hf
from engine.checkpoint import CheckpointError, load_model, save_model
from engine.model import ModelConfig
from engine.variants import list_variants, load_variant, random_model, sha256_file
from ui import catalog

from conftest import REPO, open_page, warnings_of

SMALL = dict(vocab_size=8192, n_layer=1, n_head=2, d_model=32, d_ff=64, max_len=64)
GOOD = "good-decoder"


class Bomb:
    """Unpickling this writes a marker file: proof that a pickle was (or was not) ever loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def write_pickle(path: Path, marker: Path) -> None:
    torch.save({"weight": Bomb(marker)}, path)


def write_card(folder: Path, weights: str = "model.safetensors", **extra) -> dict:
    w = folder / weights
    card = {"name": folder.name, "objective": "clm", "weights": weights, "sha256": sha256_file(w) if w.is_file() else "",
            "model_config": {"architecture": "decoder", **SMALL}, "parameters": 1, "description": "test", **extra}
    (folder / "card.json").write_text(json.dumps(card))
    return card


def shipped(models: Path, name: str, architecture: str = "decoder", seed: int = 0) -> Path:
    folder = models / name
    folder.mkdir(parents=True)
    save_model(random_model(architecture, seed, **SMALL), folder / "model.safetensors")
    card = write_card(folder)
    card["model_config"]["architecture"] = architecture
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def with_metadata(folder: Path, config: dict) -> None:
    """Rewrite a variant's weights with another config in the metadata, and re-sign the card (a self-consistent lie)."""
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    save_file(state, str(folder / "model.safetensors"), metadata={"config": json.dumps(config), "format": "masklab-1"})
    write_card(folder)


@pytest.fixture
def models(tmp_path) -> Path:
    """A models folder: one good variant and one of every kind of broken one."""
    m = tmp_path / "models"
    marker = tmp_path / "UNPICKLED"
    shipped(m, GOOD)
    shipped(m, "good-encoder", "encoder", seed=1)

    f = shipped(m, "truncated")  # the card still has the whole file's hash
    data = (f / "model.safetensors").read_bytes()
    (f / "model.safetensors").write_bytes(data[: len(data) // 2])

    f = shipped(m, "truncated-resigned")  # truncated and the card re-signed: the hash passes, the file cannot be read
    (f / "model.safetensors").write_bytes(data[: len(data) // 3])
    write_card(f)

    f = shipped(m, "bitflip")
    raw = bytearray((f / "model.safetensors").read_bytes())
    raw[-100] ^= 0xFF
    (f / "model.safetensors").write_bytes(bytes(raw))

    f = shipped(m, "wrong-sha")
    write_card(f, sha256="0" * 64)

    f = shipped(m, "unknown-config-key")
    with_metadata(f, {**asdict(ModelConfig(architecture="decoder", **SMALL)), "colour": "blue"})

    f = shipped(m, "huge-config")  # a config far larger than the file: must be refused before anything is allocated
    with_metadata(f, asdict(ModelConfig(architecture="decoder", vocab_size=8192, n_layer=4096, n_head=64, d_model=65536, d_ff=262144, max_len=1 << 20)))

    f = shipped(m, "config-garbage")
    with_metadata(f, {"architecture": "decoder", "n_layer": "four"})

    f = m / "pickle-bin"
    f.mkdir()
    write_pickle(f / "model.bin", marker)
    write_card(f, weights="model.bin")

    f = m / "pickle-renamed"  # a pickle under the right name, with a matching hash
    f.mkdir()
    write_pickle(f / "model.safetensors", marker)
    write_card(f)

    f = m / "escape-card"
    f.mkdir()
    write_card(f, weights="../good-decoder/model.safetensors")

    f = m / "escape-absolute"
    f.mkdir()
    write_card(f, weights=str(m / GOOD / "model.safetensors"))

    f = m / "weights-folder"
    (f / "model.safetensors").mkdir(parents=True)
    write_card(f)

    for name, body in (("card-list", "[]"), ("card-not-json", "{"), ("card-bad-types", json.dumps({"model_config": "x", "parameters": "many"})),
                       ("card-not-utf8", b"\xff\xfe{".decode("latin-1"))):
        (m / name).mkdir()
        (m / name / "card.json").write_text(body, encoding="latin-1")
    (m / "no-card").mkdir()
    save_model(random_model("decoder", 0, **SMALL), m / "no-card" / "model.safetensors")

    outside = tmp_path / "outside" / "linked"
    shipped(tmp_path / "outside", "linked")
    (m / "linked").symlink_to(outside, target_is_directory=True)
    return m


BROKEN = {  # variant -> what its error must say
    "truncated": "do not match the SHA-256",
    "truncated-resigned": "not a readable safetensors file",
    "bitflip": "do not match the SHA-256",
    "wrong-sha": "do not match the SHA-256",
    "unknown-config-key": "unknown config keys: colour",
    "huge-config": "does not match its config",
    "config-garbage": "config MaskLab cannot use",
    "pickle-bin": "reads only .safetensors",
    "pickle-renamed": "not a readable safetensors file",
    "escape-card": "points outside its folder",
    "escape-absolute": "points outside its folder",
    "weights-folder": "has no weights file",
    "linked": "outside",
}


def test_the_list_survives_every_broken_card(models):
    names = [v.name for v in list_variants(models)]
    assert GOOD in names and "good-encoder" in names
    assert not {"card-list", "card-not-json", "card-bad-types", "card-not-utf8", "no-card"} & set(names)
    assert set(BROKEN) <= set(names)  # listed: their cards read; loading says what is wrong
    assert [v.name for v in list_variants(models) if v.source == "random"] == [f"random-{a}" for a in engine.ARCHITECTURES]


@pytest.mark.parametrize("name, message", BROKEN.items())
def test_a_broken_variant_gives_a_clear_error(models, name, message):
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_variant(name, device="cpu", models_dir=models)
    assert not (models.parent / "UNPICKLED").exists()
    v = load_variant(GOOD, device="cpu", models_dir=models)  # and the good one still loads
    assert v.architecture == "decoder" and v.source == "shipped"


def test_no_pickle_is_ever_unpickled(models, tmp_path):
    marker = models.parent / "UNPICKLED"
    for name in ("pickle-bin", "pickle-renamed"):
        with pytest.raises(CheckpointError):
            load_variant(name, device="cpu", models_dir=models)
    for suffix in (".pt", ".bin", ".pth", ".ckpt"):
        path = tmp_path / f"weights{suffix}"
        write_pickle(path, marker)
        with pytest.raises(CheckpointError):
            load_model(path)
        with pytest.raises(ValueError):  # not a variant, not a checkpoint folder
            load_variant(str(path), device="cpu")
    assert not marker.exists()


def test_a_published_checkpoint_folder_with_only_a_pickle_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "gpt2-pickled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 32, "vocab_size": 100}))
    marker = tmp_path / "UNPICKLED"
    write_pickle(folder / "pytorch_model.bin", marker)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(hf.CheckpointUnavailable, match="never loads pickled"):
        load_variant(str(folder), device="cpu")
    assert not marker.exists()


def test_the_engine_never_unpickles():
    """No code path in the engine or the app can load a pickle: no torch.load, pickle, or allow_pickle."""
    banned = re.compile(r"torch\.load\(|torch\.jit\.load|\bimport (c?pickle|dill|joblib|cloudpickle)\b|pickle\.loads?\(|allow_pickle\s*=\s*True|"
                        r"use_safetensors\s*=\s*False|trust_remote_code\s*=\s*True|weights_only\s*=\s*False")
    files = [*REPO.glob("engine/**/*.py"), *REPO.glob("ui/*.py"), *REPO.glob("views/*.py"), REPO / "app.py"]
    hits = [f"{f.relative_to(REPO)}:{i}: {line.strip()}" for f in files for i, line in enumerate(f.read_text().splitlines(), 1) if banned.search(line)]
    assert not hits, hits
    source = (REPO / "engine" / "hf" / "loading.py").read_text()  # where published checkpoints are loaded
    assert "use_safetensors=True" in source and "trust_remote_code=False" in source


@pytest.mark.parametrize("name", [
    "../assets/models/x", "..", "a/../../etc", "/etc", "/etc/passwd", "~/../../etc", "/tmp/../etc/passwd", "..\\..\\windows",
    "assets/../../shared",
])
def test_paths_outside_the_allowed_folders_are_refused(name):
    with pytest.raises(ValueError, match="refusing|unknown variant"):
        load_variant(name, device="cpu")
    assert catalog.is_checkpoint_name(name) is False  # the app's check never raises


def test_models_dir_comes_from_the_environment(tmp_path):
    env = dict(os.environ, MASKLAB_MODELS_DIR=str(tmp_path), OMP_NUM_THREADS="1")
    code = "import engine.variants as v, ui.catalog as c; print(v.MODELS_DIR); print(c.MODELS_DIR)"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [str(tmp_path), str(tmp_path)]


# The app with a broken shipped variant among good ones


TEXT = "It was the best of times, it was the worst of times."


@pytest.fixture
def app_models(models, monkeypatch):
    monkeypatch.setattr(catalog, "MODELS_DIR", models)
    return models


def test_losses_page_scores_the_good_models_and_explains_the_broken_ones(app_models):
    chosen = [GOOD, "truncated", "wrong-sha", "good-encoder", "pickle-renamed", "escape-card"]
    at = open_page("losses", TEXT, {"variants": ",".join(chosen)})
    scored = set(at.dataframe[0].value["model"])
    assert scored == {GOOD, "good-encoder"}
    warned = warnings_of(at)
    for name in ("truncated", "wrong-sha", "pickle-renamed", "escape-card"):
        assert f"{name} could not be scored" in warned and BROKEN[name] in warned
    assert not (app_models.parent / "UNPICKLED").exists()


def test_losses_page_picker_offers_every_listed_model(app_models):
    at = open_page("losses", TEXT, {"variants": GOOD})
    options = at.multiselect(key="losses.variants").options
    assert any(GOOD in o for o in options) and any("truncated" in o for o in options)
    at.multiselect(key="losses.variants").select("truncated").run()  # the user picks a broken one: a message, no traceback
    assert not at.exception
    assert "truncated could not be scored" in warnings_of(at)
    assert GOOD in set(at.dataframe[0].value["model"])


@pytest.mark.parametrize("gen", ["truncated", "nobody/no-such-model"])
def test_generating_with_a_model_that_cannot_load_says_so(app_models, gen):
    at = open_page("losses", TEXT, {"variants": f"{gen},{GOOD}", "gen": gen})
    assert "could not" in warnings_of(at)
    assert GOOD in set(at.dataframe[0].value["model"])


def test_a_broken_encoder_card_cannot_break_the_fill_in_view(app_models):
    folder = app_models / "truncated"
    card = json.loads((folder / "card.json").read_text())
    card["model_config"]["architecture"] = "encoder"
    (folder / "card.json").write_text(json.dumps(card))
    at = open_page("losses", TEXT, {"variants": f"{GOOD},truncated", "gen": "truncated"})
    assert "could not" in warnings_of(at)


@pytest.mark.parametrize("page", ["masks", "chat", "home", "scaling"])
def test_other_pages_keep_serving_with_a_broken_shipped_model(models, monkeypatch, page):
    """Only broken shipped models: each page says so where a model is needed and shows the rest."""
    for name in [p.name for p in models.iterdir() if p.name not in BROKEN]:
        target = models / name
        if target.is_symlink() or target.is_file():
            target.unlink()
        else:
            shutil.rmtree(target)
    monkeypatch.setattr(catalog, "MODELS_DIR", models)
    at = open_page(page, TEXT)
    if page in ("masks", "chat"):
        assert "could not be loaded" in warnings_of(at) or "unavailable" in warnings_of(at)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc", "~/.ssh", "..", "[x](javascript:alert(1))", "a" * 500, "\x00"])
def test_typed_checkpoint_paths_outside_the_allowed_folders_are_refused(app_models, name):
    at = open_page("losses", TEXT, {"variants": GOOD})
    if not at.text_input(key="losses.hf"):
        pytest.fail("the published-checkpoint box is missing")
    at.text_input(key="losses.hf").input(name).run()
    assert not at.exception
    assert "neither a Hugging Face id nor an allowed checkpoint folder" in warnings_of(at)
    assert at.session_state["variants"] == (GOOD,)


@pytest.mark.parametrize("names", ["../../etc,random-decoder", "/etc/passwd,random-decoder", "~,random-decoder"])
def test_linked_checkpoint_paths_outside_the_allowed_folders_are_left_out(app_models, names):
    at = open_page("losses", TEXT, {"variants": names})
    assert "not available here" in warnings_of(at)
    assert list(at.dataframe[0].value["model"]) == ["random-decoder"]
