"""Cost accounting for a loaded ``transformers`` checkpoint (`describe`): parameters by component, size,
heads and memory, for the cost views, as `engine.cost` gives them for MaskLab's own models."""

import re

from engine.hf.discovery import family_name


def _component(param_name: str) -> str:
    """Where a parameter belongs, by its name in transformers' modules (GPT-2, Llama, GPT-NeoX, BERT,
    DistilBERT, RoBERTa, ModernBERT, T5, BART ...)."""
    n = param_name.lower()
    if "norm" in n or re.search(r"(^|\.)ln_", n) or any(k in n for k in ("predictions.transform", "vocab_transform", "lm_head.dense", "head.dense")):
        return "other"  # norms, and the MLM heads' dense layer before the output projection
    if "encdecattention" in n or "crossattention" in n or "encoder_attn" in n:
        return "cross_attention"
    if "attn" in n or "attention" in n:  # T5's relative position biases live in its attention
        return "attention"
    if "mlp" in n or "densereludense" in n or "intermediate" in n or ".ffn." in n or re.search(r"layer\.\d+\.output\.|\.fc[12]\.", n):
        return "mlp"
    if any(k in n for k in ("embed", "wte", "wpe", "shared", "lm_head", "vocab_projector", "decoder.weight", "decoder.bias")):
        return "embeddings"
    return "other"


def describe(variant) -> dict:
    """Cost accounting for a loaded checkpoint: parameters by component (embeddings counts untied
    output projections too; "other" holds norms, pooler and the MLM heads' transforms), size, heads
    (query and key/value), and the memory its weights take at the loaded dtype. Tied weights are
    counted once."""
    model, b = variant.model, variant.backend
    c = model.config.get_text_config()
    parts = dict.fromkeys(("embeddings", "attention", "cross_attention", "mlp", "other"), 0)
    for name, p in model.named_parameters():
        parts[_component(name)] += p.numel()
    tensors = list(model.parameters()) + list(model.buffers())
    out = {
        "family": family_name(model.config),
        "architecture": variant.architecture,
        "parameters": sum(parts.values()),
        "parameters_by_component": parts,
        "layers": b.n_layer,
        "d_model": int(c.hidden_size),
        "n_head": b.n_head,
        "n_kv_head": b.n_kv_head,
        "vocab_size": int(c.vocab_size),
        "context": b.context,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "memory_mb": sum(t.numel() * t.element_size() for t in tensors) / 2**20,
    }
    if variant.architecture == "encoder_decoder":
        out["decoder_layers"] = getattr(c, "num_decoder_layers", None) or getattr(c, "decoder_layers", None) or b.n_layer
    return out
