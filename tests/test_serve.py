"""The launcher that loads the models before the server starts."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from bench.load_test import free_port
from conftest import REPO
from ui import cache, catalog, serve


def test_warm_loads_every_shipped_variant_into_the_apps_cache(monkeypatch):
    monkeypatch.setenv("MASKLAB_WARM_PUBLISHED", "0")
    names = serve.warm()
    shipped = [v.name for v in catalog.variants() if v.source == "shipped"]
    assert names == shipped and shipped
    assert set(shipped) <= set(cache.LOADED)


def test_warm_loads_the_first_published_checkpoint_found_too(monkeypatch):
    """The losses page shows it by default: loaded once per server, before the first visitor."""
    monkeypatch.setattr(catalog, "published", lambda: [type("Found", (), {"name": "random-decoder"})()])
    names = serve.warm()
    assert names[-1] == "random-decoder" and "random-decoder" in cache.LOADED


def test_a_broken_shipped_model_does_not_stop_the_launcher(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "broken-decoder"
    folder.mkdir()
    (folder / "card.json").write_text(json.dumps({"architecture": "decoder", "objective": "clm", "weights": "model.safetensors", "sha256": "0" * 64}))
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    monkeypatch.setattr(catalog, "MODELS_DIR", tmp_path)
    monkeypatch.setenv("MASKLAB_WARM_PUBLISHED", "0")
    assert serve.warm() == ["broken-decoder"]  # listed, tried, and the launcher goes on
    err = capsys.readouterr().err
    assert "broken-decoder could not be loaded" in err and "SHA-256" in err


@pytest.mark.slow
def test_a_clean_start_prints_what_was_loaded_and_the_url_and_no_warnings():
    """``python -m ui.serve`` as a user starts it: the warm-up runs outside a Streamlit runtime, and a
    headless server offline cannot find its external IP; neither may show up as a warning."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", MASKLAB_FIND_PUBLISHED="0")
    cmd = [sys.executable, "-m", "ui.serve", "--server.port", str(free_port()), "--server.headless", "true"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any("Local URL:" in line for line in lines) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # anything Streamlit logs just after the banner
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=10)
    out = "".join(lines)
    shipped = [v.name for v in catalog.variants() if v.source == "shipped"]
    loaded = f"masklab: {len(shipped)} model(s) loaded: {', '.join(shipped)}"
    assert loaded in out and "Local URL: http://localhost:" in out, out
    assert out.index(loaded) < out.index("Local URL:")
    for noise in ("WARNING", "No runtime found", "ScriptRunContext", "Did not auto detect external IP", "Traceback"):
        assert noise not in out, out


def test_no_full_garbage_collection_after_each_run_and_the_warm_heap_is_frozen():
    """A full gc.collect after every run (Streamlit's default) holds the interpreter for hundreds of ms
    with the models loaded, and the browser hears the run has ended only after it: the app turns it
    off, and the launcher freezes what it loaded so Python's own collections skip it."""
    import gc
    import tomllib

    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert settings["runner"]["postScriptGC"] is False
    loaded = [object()]  # stands for a model: alive before the freeze
    try:
        frozen = serve.freeze_heap()
        assert frozen == gc.get_freeze_count() > 10_000  # the interpreter's and libraries' objects at least
        assert not any(o is loaded for o in gc.get_objects())  # out of the generations a collection scans
    finally:
        gc.unfreeze()
