"""The models MaskLab can show: its shipped variants, tiny random ones, and (see ``engine.hf``)
published checkpoints.

A shipped variant is a folder ``assets/models/<name>/`` with ``model.safetensors`` and a model card
``card.json`` that records, among much else, the SHA-256 of the weights file; loading checks it.
``MASKLAB_MODELS_DIR`` points the engine (and the app) at another folder of shipped variants.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine import paths
from engine.backend import MaskLabBackend
from engine.catalog import NATURAL_OBJECTIVE, SIZES
from engine.checkpoint import CheckpointError, load_model, sha256_file
from engine.checks import check_name
from engine.cost import count_params
from engine.device import pick_device
from engine.masks import ARCHITECTURES
from engine.model import ModelConfig, Transformer
from engine.rng import seeded
from engine.vocab import VOCAB_SIZE

MODELS_DIR = paths.models_dir()  # assets/models, or $MASKLAB_MODELS_DIR when the engine was imported
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
RANDOM_CONFIG = dict(vocab_size=VOCAB_SIZE, max_len=256, **SIZES["tiny"])  # the random models: the tiny size, untrained


@dataclass(frozen=True)
class VariantInfo:
    name: str
    architecture: str
    objective: str
    source: str  # "shipped", "random" or "huggingface"
    parameters: int
    description: str
    path: str | None = None


@dataclass
class Variant:
    name: str
    architecture: str
    objective: str
    model: torch.nn.Module
    encoding: str  # the tokenizer: a key of engine.tokenizer.ENCODINGS, or "hf:<id>"
    card: dict | None = None
    source: str = "shipped"
    tokenizer: object = field(default=None, repr=False)  # a transformers tokenizer for published checkpoints
    backend: object = field(default=None, repr=False)  # an engine.backend.Backend; MaskLabBackend when not given

    def __post_init__(self):
        if self.backend is None:
            self.backend = MaskLabBackend(self.model, self.encoding, self.objective)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def _shipped_cards(models_dir: Path) -> dict[str, dict]:
    cards = {}
    if not models_dir.is_dir():
        return cards
    for card_path in sorted(models_dir.glob("*/card.json")):
        try:
            card = json.loads(card_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # a broken card hides one variant, never the list
        if isinstance(card, dict) and _NAME.match(card_path.parent.name):
            cards[card_path.parent.name] = card
    return cards


def _info(name: str, card: dict, folder: Path) -> VariantInfo:
    """What the list shows of a card; raises TypeError or ValueError for fields of the wrong type."""
    cfg = card.get("model_config", {})
    if not isinstance(cfg, dict):
        raise TypeError("model_config is not an object")
    return VariantInfo(
        name=name,
        architecture=str(cfg.get("architecture", "?")),
        objective=str(card.get("objective", "?")),
        source="shipped",
        parameters=int(card.get("parameters", 0)),
        description=str(card.get("description", "")),
        path=str(folder),
    )


def list_variants(models_dir: Path | None = None, include_random: bool = True) -> list[VariantInfo]:
    """Shipped variants first (by name), then one tiny random model per architecture."""
    out = []
    models_dir = Path(models_dir or MODELS_DIR)
    for name, card in _shipped_cards(models_dir).items():
        try:
            out.append(_info(name, card, models_dir / name))
        except (TypeError, ValueError):
            continue  # a card with fields of the wrong type hides its variant, not the list
    if include_random:
        for arch in ARCHITECTURES:
            cfg = ModelConfig(architecture=arch, **RANDOM_CONFIG)
            out.append(VariantInfo(f"random-{arch}", arch, NATURAL_OBJECTIVE[arch], "random", count_params(cfg), f"untrained {arch}, seed 0: for tests and for comparison with a trained model"))
    return out


def random_model(architecture: str, seed: int = 0, **overrides) -> Transformer:
    with seeded(seed):
        return Transformer(ModelConfig(architecture=architecture, **{**RANDOM_CONFIG, **overrides})).eval()


@dataclass(frozen=True)
class ModelRef:
    """What a model name refers to, decided in one place (`resolve`) for loading, cache keys and labels."""

    kind: str  # "shipped", "random" or "published"
    name: str  # a shipped or random variant's name; a published checkpoint's portable name (`engine.hf.portable_name`), else as given
    path: Path | None  # a shipped variant's folder; a published checkpoint's local folder or .gguf file (resolved); None for random models and hub ids
    identity: str  # what identifies the weights, so that every cache keys a model on them: a new identity is a new model


def _files_identity(folder: Path) -> str:
    """A shipped variant's card and weights files, each by name, size and modification time."""
    try:
        return "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in sorted(folder.iterdir()) if f.suffix in (".json", ".safetensors"))
    except OSError:
        return "unreadable"


def resolve(name: str, models_dir: Path | None = None) -> ModelRef:
    """What ``name`` refers to, decided once: ``random-<architecture>`` is a random model; a name with a
    model card in ``models_dir`` (by default `MODELS_DIR`) a shipped variant; otherwise a published
    checkpoint when `engine.hf.locate` finds one (a Hugging Face id, a local folder saved with
    ``save_pretrained``, a ``.gguf`` file or a folder holding one). Reads only names and file sizes and
    times, never weights. Raises ValueError for a refused path or a name that is none of these, and
    TypeError for a name that is no string (as `load_variant` does)."""
    name = check_name("name", name)
    if name.startswith("random-") and name[7:] in ARCHITECTURES:
        return ModelRef("random", name, None, "builtin")
    models_dir = Path(models_dir or MODELS_DIR)
    if _NAME.match(name) and (models_dir / name / "card.json").exists():
        return ModelRef("shipped", name, models_dir / name, _files_identity(models_dir / name))
    from engine import hf

    found = hf.locate(name)  # raises ValueError for a refused path
    if found is None:
        known = ", ".join(v.name for v in list_variants(models_dir))
        raise ValueError(f"unknown variant {name!r}; known: {known}; or a Hugging Face id, a folder saved with save_pretrained, or a .gguf file")
    path, identity = found
    return ModelRef("published", hf.portable_name(name) if path is not None else name, path, identity)


def load_variant(name: str, device=None, models_dir: Path | None = None) -> Variant:
    """Load a variant by name: a shipped one, ``random-<architecture>``, or a published checkpoint
    (a Hugging Face id, a local folder saved with ``save_pretrained``, a ``.gguf`` file or a folder
    holding one, through ``engine.hf``), as `resolve` decides. Raises ValueError (unknown or refused name),
    `engine.hf.CheckpointUnavailable` and `CheckpointError` with one sentence each; TypeError for a
    name that is no string (None) and ValueError for an empty one."""
    name = check_name("name", name)
    dev = pick_device(device)
    ref = resolve(name, models_dir)
    if ref.kind == "random":
        arch = name[7:]
        return Variant(name, arch, NATURAL_OBJECTIVE[arch], random_model(arch).to(dev), "masklab", None, "random")
    models_dir = Path(models_dir or MODELS_DIR)
    if ref.kind == "shipped":
        return _load_shipped(name, models_dir, dev)
    from engine import hf

    try:
        c = hf.load(name, dev, ref)
    except hf.CheckpointUnavailable as e:  # perhaps a misspelt MaskLab variant: name them too
        known = ", ".join(v.name for v in list_variants(models_dir))
        raise hf.CheckpointUnavailable(f"{str(e).rstrip('.')}. MaskLab's own variants are: {known}.") from None
    return Variant(name, c.architecture, c.objective, c.model, f"hf:{name}", c.card, "huggingface", c.tokenizer, c.backend)


def _load_shipped(name: str, models_dir: Path, dev: torch.device) -> Variant:
    folder = (models_dir / name).resolve()
    if folder.parent != models_dir.resolve():
        raise CheckpointError(f"variant {name!r} is outside {models_dir}")
    try:
        card = json.loads((folder / "card.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"the model card of {name!r} is unreadable: {e}") from e
    if not isinstance(card, dict) or not isinstance(card.get("weights", ""), str):
        raise CheckpointError(f"the model card of {name!r} is not a MaskLab model card")
    weights = folder / card.get("weights", "model.safetensors")
    if weights.resolve().parent != folder:
        raise CheckpointError(f"the card of {name!r} points outside its folder")
    if weights.suffix != ".safetensors":  # a pickle (.bin, .pt) could run code when loaded: never read one
        raise CheckpointError(f"{name!r} names weights in {weights.name}; MaskLab reads only .safetensors files")
    if not weights.is_file():
        raise CheckpointError(f"{name!r} has no weights file ({weights.name})")
    expected = card.get("sha256")
    if not expected or sha256_file(weights) != expected:
        raise CheckpointError(f"the weights of {name!r} do not match the SHA-256 in its model card: the file is damaged or was replaced")
    model = load_model(weights, device=dev)
    return Variant(name, model.config.architecture, card.get("objective", NATURAL_OBJECTIVE[model.config.architecture]), model, "masklab", card, "shipped")
