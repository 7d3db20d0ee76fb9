"""What every part of the benchmark shares: the clock, the texts, and the models under test."""

import statistics
import time
from dataclasses import dataclass

import torch

from engine import paths  # importing the engine points tiktoken at ../shared/tiktoken
from engine.catalog import NATURAL_OBJECTIVE
from engine.masks import ARCHITECTURES
from engine.model import Transformer
from engine.tokenizer import tokenize
from engine.train import TrainConfig
from engine.variants import Variant, list_variants, load_variant

REPO = paths.REPO

# Public domain (Austen, 1813); used when the corpus is not beside the project.
FALLBACK_TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
    "want of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
    "considered as the rightful property of some one or other of their daughters. \"My dear Mr. Bennet,\" "
    "said his lady to him one day, \"have you heard that Netherfield Park is let at last?\" Mr. Bennet "
    "replied that he had not. \"But it is,\" returned she; \"for Mrs. Long has just been here, and she told "
    "me all about it.\" Mr. Bennet made no answer. \"Do you not want to know who has taken it?\" cried his "
    "wife impatiently. \"You want to tell me, and I have no objection to hearing it.\" This was invitation "
    "enough. "
)


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def clock(fn, device="cpu") -> float:
    """Seconds one call of ``fn`` takes, the GPU's queued work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def repeat(fn, reps: int, warmup: int, device="cpu") -> list[float]:
    """``warmup`` untimed calls, then the seconds of each of ``reps`` timed ones."""
    for _ in range(warmup):
        fn()
    return [clock(fn, device) for _ in range(reps)]


def median_ms(seconds: list[float]) -> float:
    return 1e3 * statistics.median(seconds) if seconds else float("nan")


def source_text() -> tuple[str, str]:
    """Long English prose and where it came from: the validation corpus, else a built-in passage."""
    path = paths.SHARED / "corpus" / "valid.txt"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(400_000).replace("<|endoftext|>", "\n")
        if len(text) > 50_000:
            return text, f"{path.relative_to(REPO.parent)} (validation split)"
    except OSError:
        pass
    return FALLBACK_TEXT * 60, "a built-in passage (Pride and Prejudice, repeated): the corpus was not found"


def texts(n_tokens: int, count: int, source: str) -> list[str]:
    """``count`` different texts of exactly ``n_tokens`` MaskLab tokens, cut from ``source``."""
    tokens = tokenize(source[:100_000])
    if len(tokens) < 2 * n_tokens:
        raise ValueError(f"the source text has {len(tokens)} tokens; {n_tokens}-token texts need more")
    out = []
    for k in range(count):
        start = (k * (n_tokens + 97)) % (len(tokens) - 2 * n_tokens)
        end = start + n_tokens - 1  # the last token kept
        for _ in range(10):  # a cut can merge or split tokens at its edge: move the end until it is exact
            text = source[tokens[start].start : tokens[end].end]
            have = len(tokenize(text))
            if have == n_tokens:
                break
            end += n_tokens - have
        else:
            raise ValueError(f"could not cut a text of exactly {n_tokens} tokens")
        out.append(text)
    return out


@dataclass
class Models:
    variants: list[Variant]
    note: str  # how they were chosen, for the table


def bench_variants(quick: bool, device, random: bool = False) -> Models:
    """Every shipped variant; with none shipped (or with ``quick`` or ``random``), one random model per
    architecture at the CPU preset's size (``medium``), or ``tiny`` when ``quick``."""
    shipped = [v for v in list_variants(include_random=False) if v.source == "shipped"]
    if shipped and not (quick or random):
        missing = [a for a in ARCHITECTURES if a not in {v.architecture for v in shipped}]
        note = f"shipped variants: {', '.join(v.name for v in shipped)}" + (f" (none shipped yet for {', '.join(missing)})" if missing else "")
        return Models([load_variant(v.name, device=device) for v in shipped], note)
    size = "tiny" if quick else "medium"
    out = []
    for arch in ARCHITECTURES:
        torch.manual_seed(0)
        mc = TrainConfig(architecture=arch, objective=NATURAL_OBJECTIVE[arch], size=size).model_config()
        model = Transformer(mc).to(device).eval()
        out.append(Variant(f"random-{size}-{arch}", arch, NATURAL_OBJECTIVE[arch], model, "masklab", None, "random"))
    why = "--quick" if quick else "--random-models" if random else "no shipped variants exist yet (assets/models/ is empty)"
    return Models(out, f"random weights, TrainConfig(size={size!r}).model_config() for each architecture: {why}")
