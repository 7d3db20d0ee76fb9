"""MaskLab's engine: tokenization, attention masks, one transformer in four architectures, the
pretraining objectives, per-token scoring and cost accounting. Pure PyTorch; no UI imports.

>>> import engine
>>> engine.attention_masks("prefix_lm", 2, 1)["self"].int().tolist()
[[1, 1, 0], [1, 1, 0], [1, 1, 1]]
"""

from engine import paths

paths.use_shared_tiktoken()  # the OpenAI encodings load offline from ../shared/tiktoken, in the app and in a notebook alike

from engine.checkpoint import CheckpointError, load_model, save_model
from engine.cost import chat_cost, count_params, flops_per_token, forward_flops, params_by_component, supervision, time_chat, training_flops
from engine.device import describe as _describe_device
from engine.device import pick_device
from engine.encoder_reading import EncoderReliance, context_reliance, encoder_reliance, held_out_windows
from engine.losses import IGNORE_INDEX, token_nll
from engine.masks import ARCHITECTURES, attention_masks
from engine.model import KVCache, ModelConfig, Transformer, build
from engine.objectives import OBJECTIVES, Corruption, as_decoder_sequence, corrupt, exposure_table
from engine.probes import PROBES, run_probes
from engine.scoring import AttentionResult, GenerationResult, attention, by_category, generate, score, summarize
from engine.switches import switch_demo
from engine.tokenizer import ENCODINGS, EncodingUnavailable, Token, available_encodings, get_encoding, tokenize
from engine.variants import Variant, VariantInfo, list_variants, load_variant


def device_info(device=None) -> str:
    """Where models run, in words: "CPU (2 threads, float32)" or the GPU's name."""
    return _describe_device(pick_device(device))


__all__ = [
    "ARCHITECTURES", "AttentionResult", "CheckpointError", "Corruption", "ENCODINGS", "EncoderReliance", "EncodingUnavailable", "GenerationResult",
    "IGNORE_INDEX", "KVCache", "ModelConfig", "OBJECTIVES", "Token", "Transformer", "Variant", "VariantInfo",
    "as_decoder_sequence", "attention", "attention_masks", "available_encodings", "build", "by_category", "chat_cost",
    "context_reliance", "corrupt", "count_params", "device_info", "encoder_reliance", "exposure_table", "flops_per_token", "forward_flops", "generate",
    "get_encoding", "held_out_windows", "list_variants", "load_model", "load_variant", "params_by_component", "pick_device", "save_model",
    "score", "summarize", "switch_demo", "supervision", "PROBES", "run_probes", "time_chat", "token_nll", "tokenize", "training_flops",
]
