"""The proof behind the four steps, run live: copy one set of weights into an encoder-decoder with
the chosen switches and into the single-stack model it should become, and compare their logits."""

import torch

from engine.cost import count_params, flops_per_token
from engine.model import ModelConfig, Transformer
from engine.rng import seeded

DEMO = dict(vocab_size=512, n_layer=2, n_head=4, d_model=64, d_ff=256, max_len=64)


@torch.inference_mode()
def switch_demo(switches: dict, seed: int = 0, n_input: int = 12, n_target: int = 8) -> dict:
    """Max |logit difference| between the switched encoder_decoder and ``prefix_lm`` / ``decoder``
    holding the same weights (wherever their parameter names coincide).

    With (a) shared attention, (b) shared parameters and (c) layer-to-layer attention the first is 0
    up to float rounding; with (d) causal input as well, the second is. Otherwise the switched model
    still keeps structure the single stack lacks, and the difference is far from 0.
    """
    cfg = ModelConfig(architecture="encoder_decoder", **DEMO, **{k: bool(v) for k, v in switches.items()})
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randint(0, DEMO["vocab_size"], (1, n_input), generator=g)
    y = torch.randint(0, DEMO["vocab_size"], (1, n_target), generator=g)
    result = {"parameters": count_params(cfg), "flops_per_token": flops_per_token(cfg, n_input + n_target), "config": cfg}
    models = {}
    with seeded(seed):  # both pairs drawn in one seeded sequence, as they always were
        for arch in ("prefix_lm", "decoder"):
            models[arch] = (Transformer(ModelConfig(architecture=arch, **DEMO)).eval(), Transformer(cfg).eval())
    for arch in ("prefix_lm", "decoder"):
        single, switched = models[arch]
        switched.load_state_dict(single.state_dict(), strict=False)
        ref = single(torch.cat([x, y], 1), **({"n_prefix": n_input} if arch == "prefix_lm" else {})).logits[:, n_input:]
        got = switched(x, decoder_idx=y).logits
        result[f"max_diff_vs_{arch}"] = float((got - ref).abs().max())
        result[f"{arch}_parameters"] = count_params(single.config)
    return result
