"""MaskLab's tables, each written once: model sizes, which objective each architecture can learn
from, the shipped variants, and the training presets. Every module, page and test reads them from
here. Imports nothing, so anything may import it cheaply (the app's link parser does).
"""

SIZES = {  # model size presets: layers per stack, heads, width, MLP width
    "tiny": dict(n_layer=2, n_head=2, d_model=64, d_ff=256),
    "mini": dict(n_layer=2, n_head=4, d_model=96, d_ff=384),
    "small": dict(n_layer=3, n_head=4, d_model=128, d_ff=512),
    "medium": dict(n_layer=4, n_head=4, d_model=192, d_ff=768),
    "large": dict(n_layer=6, n_head=6, d_model=384, d_ff=1536),
}

# Which objectives each architecture can learn from: an encoder cannot generate, so it only fills masks.
COMPATIBLE = {
    "decoder": ("clm", "fim", "span_corruption", "ul2"),
    "encoder": ("mlm",),
    "prefix_lm": ("prefix_lm", "ul2", "span_corruption", "clm"),
    "encoder_decoder": ("span_corruption", "prefix_lm", "ul2"),
}

# The objective each architecture is pretrained with by default (the first it can learn from, but for a
# prefix-LM, its own).
NATURAL_OBJECTIVE = {"decoder": "clm", "encoder": "mlm", "prefix_lm": "prefix_lm", "encoder_decoder": "span_corruption"}

VARIANTS = {  # MaskLab's shipped variants: name -> (architecture, objective)
    "decoder-clm": ("decoder", "clm"),
    "encoder-mlm": ("encoder", "mlm"),
    "encdec-span": ("encoder_decoder", "span_corruption"),
    "prefixlm-prefix": ("prefix_lm", "prefix_lm"),
    "prefixlm-ul2": ("prefix_lm", "ul2"),
    "decoder-fim": ("decoder", "fim"),
}

# (objective, the architecture it trains in the shipped variants), in the order the pages show them
OBJECTIVE_ARCHITECTURE = tuple((objective, arch) for arch, objective in VARIANTS.values())

PRESETS = {  # engine.pretrain's presets: fields of engine.train.TrainConfig
    # 2.7e14 training FLOPs a variant (the decoder-only sees 12.7M corpus tokens): about an hour a variant
    # on one CPU core in bf16. Medium (1.8M parameters besides the embeddings) is near compute-optimal
    # at this budget (Chinchilla: about 20 tokens a parameter gives 1.5M) and its weights stay under 12 MB
    "cpu": dict(size="medium", seq_len=256, batch_size=16, flops=2.7e14, lr=3e-3, warmup=60, eval_interval=250, ckpt_interval=50, device="auto", yardstick=500),
    # the shipped variants: 5x the cpu preset's compute on the same medium size (a larger encoder-decoder would
    # not fit 12 MB); the decoder-only reads 66M tokens, the whole corpus about five times. On one H200 all five
    # trained and exported in 259 s (measured), worker processes corrupting the batches ahead.
    # `--fit-seconds` lowers the budget to what a machine does in a given time
    "gpu": dict(size="medium", seq_len=256, batch_size=128, flops=1.4e15, lr=3e-3, warmup=100, eval_interval=250, ckpt_interval=500, device="cuda", yardstick=500,
                workers=10, max_corpus_bytes=60_000_000),
    # seconds, for tests and the app's live training
    "smoke": dict(size="tiny", seq_len=32, batch_size=4, flops=2e9, lr=3e-3, warmup=2, eval_interval=5, ckpt_interval=5, eval_batches=1, max_corpus_bytes=400_000),
}

# An encoder-decoder's own recipe, over every preset's fields.
# - Its start. With the others' peak learning rate (3e-3) and a short warm-up, its cross-attention is
#   uniform while Adam's first, sign-like steps are large: every encoder position gets the same gradient,
#   the encoder learns one vector shared by every position, and the decoder learns to do without it. A
#   copy task that only the encoder can solve shows it (tests/test_encoder_decoder_schedule.py: stuck at
#   the no-encoder floor with 60 warm-up steps, solved with 300).
# - Its span bias (engine.model.span_anchors). With the start alone its encoder stays whole, but the decoder
#   still barely reads it: to predict a span it must find the span's sentinel in the input by content, a
#   search these small models do not learn within the budget (the FIM decoder's PSM fill fails the same
#   way). A learned cross-attention bias over the offset from the span's sentinel lets it look at the
#   hole's neighbourhood from the start: at 1.4e14 FLOPs (medium, batches of 16 x 256) random encoder text
#   then costs 1.4 nats per masked text token, against 0.1-0.2 without (README: "The encoder-decoder").
ARCHITECTURE_RECIPES = {"encoder_decoder": dict(lr=1e-3, warmup=300, span_bias=8)}


def preset_fields(preset: str, architecture: str, presets: dict | None = None) -> dict:
    """The TrainConfig fields of ``preset`` (a key of ``presets``, by default `PRESETS`) for one
    architecture: the preset's, with `ARCHITECTURE_RECIPES` over them (but for the smoke preset, whose
    few steps a long warm-up would never leave). KeyError for an unknown preset."""
    fields = dict((presets or PRESETS)[preset])
    if preset != "smoke":
        fields.update(ARCHITECTURE_RECIPES.get(architecture, {}))
    return fields


SWEEP_PRESETS = {  # engine.sweep's presets: TrainConfig fields for every run of the sweep
    # 2M corpus tokens a run by default: about 80 minutes for the twelve runs on 2 CPU cores
    "cpu": dict(seq_len=128, batch_size=16, lr=3e-3, warmup=30, eval_interval=50, ckpt_interval=50, yardstick=200),
    # 28M corpus tokens a run (--tokens 28000000): 3.6 minutes for the twelve runs on one H200
    "gpu": dict(seq_len=256, batch_size=128, lr=3e-3, warmup=30, eval_interval=100, ckpt_interval=50, yardstick=500, workers=10, device="cuda",
                max_corpus_bytes=60_000_000),
}
SWEEP_SIZES = ("tiny", "small", "medium")  # the scaling sweep's default sizes: 0.6 to 3.4M parameters (decoder), 5.7M (encoder-decoder)
SWEEP_VARIANTS = ("decoder-clm", "encoder-mlm", "encdec-span", "prefixlm-prefix")  # one per architecture
