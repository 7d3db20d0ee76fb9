"""The reference: ``transformers`` models configured like a MaskLab model, doing the same work.

Each MaskLab architecture gets the ``transformers`` model that does its job, with the same layers,
width, heads, MLP width, vocabulary (8,192) and context, random weights:

- ``decoder`` -> GPT-2 (``GPT2LMHeadModel``, exact GELU like MaskLab's);
- ``prefix_lm`` -> GPT-2 as well: ``transformers`` has no prefix-LM mask for it, so it attends causally;
  a mask changes which scores are kept, not what is computed, so the cost is the same;
- ``encoder`` -> BERT (``BertForMaskedLM``);
- ``encoder_decoder`` -> T5 (``T5ForConditionalGeneration``, non-gated GELU MLP).

Scoring follows ``engine.score``'s algorithm step for step (the same windows, the same one-copy-per-
token batches, the output head only at the positions scored, the same DataFrame), so a ratio measures
the models and their kernels, not different algorithms. Attention maps come from a twin with eager
attention (``output_attentions`` needs it); scoring and training use SDPA.
"""

import numpy as np
import torch
from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration
from transformers.utils import logging as hf_logging

from bench.analysis import TOP_K, PageLimits, scored_part
from engine.losses import mean_nll
from engine.model import ModelConfig
from engine.objectives import corrupt
from engine.backend import BATCH_TOKENS
from engine.scoring import Scores, ScoringMethod, strided_copies, to_frame, windows
from engine.tokenizer import tokenize
from engine.vocab import MASKLAB

hf_logging.set_verbosity_error()

KIND = {"decoder": "GPT-2", "prefix_lm": "GPT-2 (causal)", "encoder": "BERT", "encoder_decoder": "T5"}


def hf_model_class_and_config(mc: ModelConfig):
    d = dict(vocab_size=mc.vocab_size, tie_word_embeddings=True)
    if mc.architecture in ("decoder", "prefix_lm"):
        return GPT2LMHeadModel, GPT2Config(
            n_positions=mc.max_len, n_embd=mc.d_model, n_layer=mc.n_layer, n_head=mc.n_head, n_inner=mc.d_ff,
            activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
            bos_token_id=MASKLAB.eos, eos_token_id=MASKLAB.eos, **d)
    if mc.architecture == "encoder":
        return BertForMaskedLM, BertConfig(
            hidden_size=mc.d_model, num_hidden_layers=mc.n_layer, num_attention_heads=mc.n_head, intermediate_size=mc.d_ff,
            max_position_embeddings=mc.max_len, hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            pad_token_id=MASKLAB.pad, **d)
    return T5ForConditionalGeneration, T5Config(
        d_model=mc.d_model, d_kv=mc.d_model // mc.n_head, d_ff=mc.d_ff, num_layers=mc.n_layer, num_decoder_layers=mc.n_layer,
        num_heads=mc.n_head, feed_forward_proj="gelu", dropout_rate=0.0, pad_token_id=MASKLAB.pad, eos_token_id=MASKLAB.eos,
        decoder_start_token_id=MASKLAB.bos, **d)


def build(mc: ModelConfig, attn: str, device, seed: int = 0) -> torch.nn.Module:
    cls, cfg = hf_model_class_and_config(mc)
    torch.manual_seed(seed)
    return cls._from_config(cfg, attn_implementation=attn).to(device)


def train_logits(model: torch.nn.Module, architecture: str, batch) -> torch.Tensor:
    """Logits for a training batch laid out by ``engine.train.make_batch`` (a prefix-LM's prefix ignored)."""
    if architecture == "encoder_decoder":
        return model(input_ids=batch.idx, decoder_input_ids=batch.decoder_idx).logits
    return model(input_ids=batch.idx).logits


def train_loss(model: torch.nn.Module, architecture: str, batch) -> torch.Tensor:
    return mean_nll(train_logits(model, architecture, batch), batch.targets)


class Reference:
    """A MaskLab variant's ``transformers`` twin (same configuration, its own random weights)."""

    def __init__(self, variant, device):
        self.arch = variant.architecture
        self.mc: ModelConfig = variant.model.config
        self.device = torch.device(device)
        self.model = build(self.mc, "sdpa", device).eval()
        self.eager = build(self.mc, "eager", device).eval()
        self.eager.load_state_dict(self.model.state_dict())
        self.name = f"transformers {KIND[self.arch]}"
        self.names = variant.backend  # MaskLab's tokenizer and token names, for the same DataFrame

    def analyze(self, text: str, limits: PageLimits):
        """What ``bench.analysis.analyze`` does, with this model."""
        stride = limits.stride if self.arch in limits.slow_archs and limits.stride and not limits.exact else None
        df = self.score(scored_part(text, self.arch, limits), stride=stride)
        return df, self.attention(text)

    @torch.inference_mode()
    def score(self, text: str, top_k: int = TOP_K, split: int | None = None, stride: int | None = None):
        tokens = self.names.tokens(text)
        ids = tokens.ids
        n, method = len(ids), ScoringMethod(self.arch)
        if n and stride and self.arch in ("encoder", "encoder_decoder"):
            return to_frame(tokens, self._strided(ids, top_k, stride), ScoringMethod(self.arch, stride=stride), self.names)
        s = Scores.empty(n, top_k)
        if n and self.arch == "decoder":
            full = self._causal([MASKLAB.eos] + ids, 1, top_k)
            s = Scores(full.logprob[1:], full.rank[1:], full.top_ids[1:], full.top_probs[1:], full.scored[1:])
        elif n > 1 and self.arch == "prefix_lm":
            split = max(1, min(n - 1, n // 2 if split is None else int(split)))
            method = ScoringMethod(self.arch, prefix_tokens=split)
            s = self._causal(ids, split, top_k)
        elif n and self.arch in ("encoder", "encoder_decoder"):
            s = self._masked(ids, top_k)
        return to_frame(tokens, s, method, self.names)

    def _causal(self, seq: list[int], first: int, k: int) -> Scores:
        """One forward per window, as a user of GPT-2 would; the head only where a target is predicted."""
        out = Scores.empty(len(seq), k)
        for c, a, b in windows(first, len(seq), self.mc.max_len):
            x = torch.tensor([seq[c:b]], device=self.device)
            h = self.model.transformer(input_ids=x).last_hidden_state[0]  # (b - c, C)
            out.fill(a, self.model.lm_head(h[a - 1 - c : b - 1 - c]), torch.tensor(seq[a:b], device=self.device))
        return out

    def _masked(self, ids: list[int], k: int) -> Scores:
        """``engine.scoring._score_masked`` with BERT or T5: the same copies in the same batches."""
        is_t5 = self.arch == "encoder_decoder"
        W = self.mc.max_len - 1 if is_t5 else self.mc.max_len
        n, dev = len(ids), self.device
        w = min(W, n)
        out = Scores.empty(n, k)
        base = torch.tensor(ids, device=dev)
        for s in range(0, n, max(1, BATCH_TOKENS // w)):
            i = torch.arange(s, min(n, s + max(1, BATCH_TOKENS // w)), device=dev)
            c = (i - W // 2).clamp(min=0).clamp(max=max(0, n - W))
            x = base[c[:, None] + torch.arange(w, device=dev)]  # (N, w)
            x[torch.arange(len(i), device=dev), i - c] = MASKLAB.sentinel(0) if is_t5 else MASKLAB.mask
            if is_t5:
                x = torch.cat([x, torch.full((len(i), 1), MASKLAB.eos, device=dev)], dim=1)
                dec = torch.tensor([[MASKLAB.bos, MASKLAB.sentinel(0)]], device=dev).expand(len(i), 2)
                logits = self.model(input_ids=x, decoder_input_ids=dec).logits[:, 1]
            else:
                h = self.model.bert(input_ids=x).last_hidden_state  # (N, w, C)
                logits = self.model.cls(h[torch.arange(len(i), device=dev), i - c])
            out.fill(s, logits, base[i])
        return out

    def _strided(self, ids: list[int], k: int, stride: int) -> Scores:
        """``engine.scoring._score_strided`` with BERT or T5: the same copies in the same batches."""
        is_t5 = self.arch == "encoder_decoder"
        W = self.mc.max_len - 1 if is_t5 else self.mc.max_len
        n, dev = len(ids), self.device
        w = min(W, n)
        base = torch.tensor(ids, device=dev)
        copies = strided_copies(n, W, stride)
        rows = max(1, BATCH_TOKENS // (w + 1))
        logits_all, where_all = [], []
        for s in range(0, len(copies), rows):
            group = copies[s : s + rows]
            x = torch.stack([base[c : c + w] for c, _, _ in group])
            if is_t5:
                m = max(len(h) for _, h, _ in group)
                dec = torch.full((len(group), 2 * m), MASKLAB.eos, device=dev)
                for j, (c, hidden, scored) in enumerate(group):
                    sent = torch.tensor([MASKLAB.sentinel(i) for i in range(len(hidden))], device=dev)
                    h = torch.tensor(hidden, device=dev)
                    x[j, h - c] = sent
                    dec[j, 0], dec[j, 1 : 2 * len(hidden) : 2], dec[j, 2 : 2 * len(hidden) : 2] = MASKLAB.bos, sent, base[h][:-1]
                x = torch.cat([x, torch.full((len(group), 1), MASKLAB.eos, device=dev)], dim=1)
                logits = self.model(input_ids=x, decoder_input_ids=dec).logits
                for j, (c, hidden, scored) in enumerate(group):
                    first = hidden.index(scored[0])
                    logits_all.append(logits[j, 1 + 2 * (first + torch.arange(len(scored), device=dev))])
            else:
                for j, (c, hidden, _) in enumerate(group):
                    x[j, torch.tensor(hidden, device=dev) - c] = MASKLAB.mask
                h = self.model.bert(input_ids=x).last_hidden_state  # (B, w, C)
                rows_ = torch.tensor([j for j, (_, _, sc) in enumerate(group) for _ in sc], device=dev)
                cols = torch.tensor([p - c for c, _, sc in group for p in sc], device=dev)
                logits_all.append(self.model.cls(h[rows_, cols]))
            where_all.append(torch.tensor([p for _, _, sc in group for p in sc], device=dev))
        where = torch.cat(where_all)
        order = where.argsort()
        out = Scores.empty(n, k)
        out.fill(0, torch.cat(logits_all)[order], base[where[order]])
        return out

    @torch.inference_mode()
    def attention(self, text: str, max_tokens: int = 256) -> dict[str, np.ndarray]:
        """Every layer's attention weights over the text, as ``engine.attention`` computes them."""
        ids = [t.id for t in tokenize(text)][: min(max_tokens, self.mc.max_len - 16)]
        if not ids:
            return {}
        tensor = lambda xs: torch.tensor([xs], device=self.device)  # noqa: E731
        if self.arch == "encoder_decoder":
            c = corrupt(ids, "span_corruption", seed=0)
            out = self.eager(input_ids=tensor(c.inputs), decoder_input_ids=tensor(c.decoder_inputs), output_attentions=True)
            layers = {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions, "cross": out.cross_attentions}
        else:
            layers = {"self": self.eager(input_ids=tensor(ids), output_attentions=True).attentions}
        return {k: np.stack([w[0].float().cpu().numpy() for w in v]) for k, v in layers.items()}
