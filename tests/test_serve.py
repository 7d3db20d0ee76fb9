"""The launcher that loads the models before the server starts."""

import json

from ui import cache, serve


def test_warm_loads_every_shipped_variant_into_the_apps_cache(monkeypatch):
    monkeypatch.setenv("MASKLAB_WARM_PUBLISHED", "0")
    names = serve.warm()
    shipped = [v.name for v in cache.variants() if v.source == "shipped"]
    assert names == shipped and shipped
    assert set(shipped) <= set(cache.LOADED)


def test_warm_loads_the_first_published_checkpoint_found_too(monkeypatch):
    """The losses page shows it by default: loaded once per server, before the first visitor."""
    monkeypatch.setattr(cache, "published", lambda: [type("Found", (), {"name": "random-decoder"})()])
    names = serve.warm()
    assert names[-1] == "random-decoder" and "random-decoder" in cache.LOADED


def test_a_broken_shipped_model_does_not_stop_the_launcher(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "broken-decoder"
    folder.mkdir()
    (folder / "card.json").write_text(json.dumps({"architecture": "decoder", "objective": "clm", "weights": "model.safetensors", "sha256": "0" * 64}))
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    monkeypatch.setattr(cache, "MODELS_DIR", tmp_path)
    monkeypatch.setenv("MASKLAB_WARM_PUBLISHED", "0")
    assert serve.warm() == ["broken-decoder"]  # listed, tried, and the launcher goes on
    err = capsys.readouterr().err
    assert "broken-decoder could not be loaded" in err and "SHA-256" in err
