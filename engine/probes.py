"""Probes: next-word prediction is many tasks at once. Each probe pairs a prompt with a right and a
wrong next word, for one skill.

Two sets: `PROBES`, in the kind of sentence a 19th-century novel holds (the corpus MaskLab's own
variants learned from), and `MULTITASK_PROBES`, the table "next-word prediction is massively
multi-task" from the talk MaskLab illustrates (Hyung Won Chung, Stanford CS25, 2024), which needs a
model that has read the web: a published checkpoint beside a tiny variant is the point.

Each word is scored the model's own way (`engine.score`), so the same probes run on every
architecture: next-token for a decoder, pseudo-log-likelihood for an encoder, one-token spans for an
encoder-decoder.
"""

import math

import pandas as pd

from engine.scoring import score
from engine.variants import Variant

PROBES = (  # (skill, prompt, right word, wrong word)
    ("grammar", "She was sitting by the fire, and her sisters", " were", " was"),
    ("grammar", "He had not", " seen", " see"),
    ("word meaning", "She poured the tea into a", " cup", " horse"),
    ("word meaning", "The carriage was drawn by four", " horses", " letters"),
    ("world knowledge", "The sun rose in the", " east", " west"),
    ("world knowledge", "In winter the river was covered with", " ice", " grass"),
    ("sentiment", "It was the happiest day of her life, and she could not stop", " smiling", " weeping"),
    ("sentiment", "The news of his death filled them with", " grief", " joy"),
    ("counting", "one, two, three,", " four", " seven"),
    ("counting", "The first, the second, and the", " third", " fifth"),
    ("spatial", "He climbed the stairs to the room", " above", " below"),
    ("spatial", "She looked up at the stars in the", " sky", " floor"),
)


MULTITASK_PROBES = (  # (skill, prompt, right word, wrong word)
    ("grammar", "In my free time, I like to", " code", " banana"),
    ("lexical semantics", "I went to the store to buy papaya, dragon fruit, and", " durian", " squirrel"),
    ("world knowledge", "The capital of Azerbaijan is", " Baku", " London"),
    ("sentiment", "I was engaged by the movie the whole time, I thought it was", " good", " bad"),
    ("translation", "The word for pretty in Spanish is", " bonita", " hola"),
    ("spatial reasoning", "Iroh went to the kitchen to make tea. Standing next to Iroh, Zuko pondered his destiny. Zuko left the", " kitchen", " store"),
    ("arithmetic", "Arithmetic exam answer key: 3 + 8 + 4 =", " 15", " 11"),
)
PROBE_SETS = {"novel": PROBES, "multitask": MULTITASK_PROBES}


def word_logprob(variant: Variant, prompt: str, word: str) -> float:
    """log P(word | prompt): the sum of the word's token log-probabilities, scored the model's own
    way (``engine.score``'s method); NaN where the method leaves a token unscored."""
    df = score(variant, prompt + word, top_k=1)
    part = df[df["start"] >= len(prompt)]
    return float(-part["loss"].sum()) if len(part) and bool(part["scored"].all()) else math.nan


def run_probes(variant: Variant, probes=PROBES) -> pd.DataFrame:
    """One row per probe: log-probabilities (nats) of the right and the wrong word, the margin
    (right minus wrong; positive: the model prefers the right word). ``probes``: a tuple of
    (skill, prompt, right, wrong) or a key of `PROBE_SETS`."""
    probes = PROBE_SETS[probes] if isinstance(probes, str) else probes
    rows = []
    for skill, prompt, right, wrong in probes:
        lr, lw = word_logprob(variant, prompt, right), word_logprob(variant, prompt, wrong)
        rows.append({
            "variant": variant.name, "skill": skill, "probe": f"{right.strip()} / {wrong.strip()} · {skill}",
            "prompt": prompt, "right": right.strip(), "wrong": wrong.strip(),
            "logp_right": lr, "logp_wrong": lw, "margin": lr - lw,
        })
    return pd.DataFrame(rows)
