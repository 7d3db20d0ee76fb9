"""Published checkpoints through ``transformers`` (placeholder until the loader lands)."""


def looks_like_checkpoint(name: str) -> bool:
    return False
