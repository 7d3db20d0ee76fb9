"""Where published checkpoints may come from, and what a name refers to, before anything is loaded.

The folders searched (`model_dirs`) and the folders a checkpoint may lie in at all (`allowed_roots`);
a link's portable name (`in_model_dirs`, `portable_name`); a typed name checked against hostile paths
(`checkpoint_folder`); whether a name is a checkpoint (`looks_like_checkpoint`), where it lies and what
identifies its weights (`locate`, `weights_identity`); a config's architecture and family
(`architecture_of`, `family_name`, `peek_architecture`); and the checkpoints on this machine
(`find_checkpoints`, `list_cached`). MaskLab's folders and variables come from `engine.paths`; only
the Hugging Face cache's own variables (``HF_HOME``, ``HF_HUB_CACHE``) are read here.
"""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine import paths
from engine.hf.gguf_files import gguf_file, gguf_summary

FIND_PUBLISHED_ENV = "MASKLAB_FIND_PUBLISHED"  # "0" turns `find_checkpoints` off
HEAD_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForMaskedLM", "ForConditionalGeneration", "ForPreTraining", "WithLMHead")

_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class CheckpointUnavailable(ValueError):
    """A checkpoint that cannot be loaded from here and now; the message says how to get it."""


# ---------------------------------------------------------------- where checkpoints may come from


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def _hub_cache() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or _hf_home() / "hub").expanduser()


def fetched_dir() -> Path:
    """Where ``python -m engine fetch`` puts checkpoints: ``masklab/`` in the Hugging Face home."""
    return _hf_home() / "masklab"


def _named_dirs() -> list[Path]:
    """``../shared/models`` and the folders in ``MASKLAB_MODEL_DIRS``, whether or not they exist."""
    return [paths.shared_models(), *paths.extra_model_dirs()]


def model_dirs() -> list[Path]:
    """Folders searched for checkpoints: ``../shared/models`` beside the project (when it exists),
    those listed in ``MASKLAB_MODEL_DIRS``, and `fetched_dir`."""
    return [d for d in [*_named_dirs(), fetched_dir()] if d.is_dir()]


def allowed_roots() -> list[Path]:
    """Folders a checkpoint may lie in: the working directory's tree, the Hugging Face cache
    (``~/.cache/huggingface``, or ``HF_HOME``), ``../shared/models`` and ``MASKLAB_MODEL_DIRS``."""
    roots = [Path.cwd(), Path.home() / ".cache" / "huggingface", _hf_home(), *_named_dirs()]
    return [r.expanduser().resolve() for r in roots]


def in_model_dirs(name: str) -> Path | None:
    """The checkpoint a portable name stands for: the folder or ``.gguf`` file called ``name`` directly
    inside one of `model_dirs` (the first that has it), or None. A portable name is what a link carries
    for a published checkpoint (``smollm2-135m-instruct-q4_1``): it resolves on any machine where the
    model lies in ``../shared/models``, ``MASKLAB_MODEL_DIRS`` or where ``python -m engine fetch`` puts it."""
    if not name or any(ch in name for ch in "/\\") or name in (".", ".."):
        return None
    for root in model_dirs():
        path = root / name
        if path.is_dir() or (path.is_file() and path.suffix == ".gguf"):
            return path
    return None


def portable_name(path: str) -> str:
    """``path``'s portable name (its own name) when `in_model_dirs` resolves that name back to it; else
    ``path`` unchanged."""
    p = Path(path)
    found = in_model_dirs(p.name)
    return p.name if found is not None and found.resolve() == p.resolve() else path


def checkpoint_folder(name: str) -> Path | None:
    """The local folder or ``.gguf`` file ``name`` names (resolved), or None when it names no file and
    may be a hub id.

    A name is local when it is absolute, starts with ``.`` or ``~``, or exists here. It must lie inside
    `allowed_roots` once symbolic links are resolved, and ``..`` is refused outright unless the
    resolved path lies in an allowed root: a model name typed into the app must not be a way to read
    arbitrary files on the server.
    """
    path = Path(name).expanduser()
    if ".." in re.split(r"[\\/]+", name):
        real = path.resolve()
        if not (path.exists() and any(real.is_relative_to(d.resolve()) for d in _named_dirs())):
            raise ValueError(f"refusing checkpoint path {name!r}: '..' is not allowed in a checkpoint path")
    if not (path.is_absolute() or name.startswith((".", "~")) or path.exists()):
        path = in_model_dirs(name)
        if path is None:
            return None
    real = path.resolve()
    if not any(real.is_relative_to(root) for root in allowed_roots()):
        raise ValueError(
            f"refusing checkpoint path {name!r}: a checkpoint must lie inside the working directory, "
            f"~/.cache/huggingface, ../shared/models or a folder listed in {paths.MODEL_DIRS_ENV}"
        )
    return real


def is_hub_id(name: str) -> bool:
    """Whether ``name`` is shaped like a Hugging Face id (``gpt2``, ``google/flan-t5-small``)."""
    return bool(_HUB_ID.match(name)) and "--" not in name and ".." not in name and not name.endswith((".", ".git"))


def _files_identity(folder: Path) -> str:
    """The size and modification time of each weights file (and config) of a local checkpoint."""
    files = [folder] if folder.is_file() else sorted([*folder.glob("*.safetensors"), *folder.glob("*.gguf"), *folder.glob("*.json")])
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            continue
    return "|".join(out) or "empty"


def locate(name: str) -> tuple[Path | None, str] | None:
    """Where the published checkpoint ``name`` lies and what identifies its weights, in one look:
    (the resolved local folder or ``.gguf`` file, None for a hub id; its `weights_identity`), or None
    when ``name`` is no checkpoint (`looks_like_checkpoint`). Raises ValueError for a refused path.
    What `engine.variants.resolve` asks of this package."""
    if not isinstance(name, str) or not name.strip() or any(ord(ch) < 32 for ch in name):
        return None
    folder = checkpoint_folder(name)
    if folder is not None:
        if (folder / "config.json").is_file() or gguf_file(folder) is not None:
            return folder, _files_identity(folder)
        return None
    return (None, name) if is_hub_id(name) else None


def looks_like_checkpoint(name: str) -> bool:
    """True for an allowed local folder holding ``config.json`` or one ``.gguf`` file, a ``.gguf`` file,
    or a string shaped like a hub id (``gpt2``, ``google/flan-t5-small``); False otherwise. Raises
    ValueError for a refused path."""
    return locate(name) is not None


def weights_identity(name: str) -> str:
    """What identifies a local checkpoint's weights: the size and modification time of each weights
    file, so that a folder saved again with new weights is a new model to every cache. A hub id is
    its own identity (its snapshot folders never change in place)."""
    try:
        folder = checkpoint_folder(name)
    except ValueError:
        return "refused"
    return name if folder is None else _files_identity(folder)


# ---------------------------------------------------------------- what a checkpoint is, from its config


def architecture_of(config) -> str:
    """``encoder_decoder``, ``encoder`` or ``decoder`` from ``transformers``' Auto class mappings;
    ValueError naming what is missing when the model type has no language-model head."""
    from transformers.models.auto import modeling_auto as m

    t = config.model_type
    if t in m.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES and getattr(config, "is_encoder_decoder", False):
        return "encoder_decoder"
    if t in m.MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        return "encoder"
    if t in m.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    raise ValueError(
        f"model type {t!r} is not supported: it has no language-model head in transformers (no causal LM, "
        f"masked LM or sequence-to-sequence class), so it cannot predict tokens."
    )


def family_name(config) -> str:
    """A display name for the model family: the class name its config lists, without the head."""
    for arch in getattr(config, "architectures", None) or []:
        name = re.sub(r"(" + "|".join(HEAD_SUFFIXES) + r"|Model)$", "", arch)
        if name:
            return name
    return config.model_type


def _supported_type(model_type) -> bool:
    from transformers.models.auto import modeling_auto as m

    return isinstance(model_type, str) and any(model_type in d for d in (m.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, m.MODEL_FOR_MASKED_LM_MAPPING_NAMES, m.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES))


def gguf_architecture(path: Path) -> str | None:
    """The architecture a GGUF file loads as, from the ``general.architecture`` its header declares
    (`gguf_summary`, a fraction of a second where ``AutoConfig`` parses every field: 15 s for Gemma 3):
    ``transformers`` loads GGUF files of the architectures in its ``GGUF_SUPPORTED_ARCHITECTURES``, all
    causal language models but T5's (``t5``, ``umt5``: encoder-decoders). None for any other."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    arch = gguf_summary(path).get("gguf_architecture")
    if not isinstance(arch, str) or arch not in GGUF_SUPPORTED_ARCHITECTURES or arch in ("general", "tokenizer"):
        return None
    return "encoder_decoder" if arch in ("t5", "umt5") else "decoder"


def peek_architecture(name: str) -> str | None:
    """The architecture ``name`` would load as, from its config (or GGUF header) alone; None when it
    cannot tell (a hub id not in the cache, an unsupported model type)."""
    folder = checkpoint_folder(name)
    try:
        import transformers

        if folder is not None:
            g = gguf_file(folder)
            if g is not None:
                return gguf_architecture(g)
            return architecture_of(transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False))
        return architecture_of(transformers.AutoConfig.from_pretrained(name, local_files_only=True, trust_remote_code=False))
    except Exception:
        return None


# ---------------------------------------------------------------- the checkpoints on this machine


def list_cached() -> list[str]:
    """Ids of the supported checkpoints in the local Hugging Face cache, sorted; never raises."""
    found = []
    try:
        for d in sorted(_hub_cache().glob("models--*")):
            try:
                configs = sorted(d.glob("snapshots/*/config.json"))
                if configs and _supported_type(json.loads(configs[-1].read_text()).get("model_type")):
                    found.append(d.name[len("models--") :].replace("--", "/"))
            except (OSError, ValueError, AttributeError):
                continue  # one broken entry hides one model, never the list
    except Exception:
        return found
    return found


@dataclass(frozen=True)
class Found:
    """A published checkpoint found on disk, before it is loaded."""

    name: str  # what engine.load_variant takes: a portable name (the entry's own, `in_model_dirs`), a path or a hub id
    label: str  # e.g. "SmolLM2 135M Instruct"
    parameters: int | None
    source: str  # where it was found, in words
    format: str  # "GGUF Q4_1", "safetensors" or "hub cache"


def _safetensors_parameters(folder: Path) -> int | None:
    try:
        from safetensors import safe_open

        total = 0
        for f in folder.glob("*.safetensors"):
            with safe_open(str(f), "pt") as s:
                for k in s.keys():
                    n = 1
                    for d in s.get_slice(k).get_shape():
                        n *= d
                    total += n
        return total or None
    except Exception:
        return None


def find_checkpoints() -> list[Found]:
    """Published checkpoints on this machine, without loading them: every folder (or ``.gguf`` file)
    directly inside ``../shared/models`` and ``MASKLAB_MODEL_DIRS`` that holds a supported model,
    then the Hugging Face cache. Never raises: an unreadable entry is skipped. ``MASKLAB_FIND_PUBLISHED=0``
    turns the search off (the app then shows MaskLab's own variants only)."""
    out: list[Found] = []
    if os.environ.get(FIND_PUBLISHED_ENV, "1") == "0":
        return out
    for root in model_dirs():
        try:
            entries = sorted(root.iterdir())
        except OSError:
            continue
        for p in entries:
            try:
                g = gguf_file(p)
                if g is not None:
                    s = gguf_summary(g)
                    label = re.sub(r"[.-](I?Q\d\w*|F16|F32|BF16)$", "", g.stem, flags=re.I)  # the file's name without its quantisation
                    out.append(Found(portable_name(str(p)), label, s["parameters"], str(root), f"GGUF {s['quantisation']}"))
                elif p.is_dir() and (p / "config.json").is_file() and _supported_type(json.loads((p / "config.json").read_text()).get("model_type")):
                    out.append(Found(portable_name(str(p)), p.name, _safetensors_parameters(p), str(root), "safetensors"))
            except Exception:
                continue
    for name in list_cached():
        out.append(Found(name, name, None, "Hugging Face cache", "hub cache"))
    return out
