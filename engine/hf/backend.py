"""`HFBackend`, the `engine.backend.Backend` for a ``transformers`` model and its tokenizer: scoring,
attention-map and generation passes, and the locks that let several sessions share one model.

The model runs with PyTorch's fused attention (``sdpa``) where its family has it; attention maps come
from an eager twin that shares its weights (`twin_of`), so the shared model is never switched, and are
taken layer by layer as the pass runs (`self_attention_weights`). `attn_implementation` is the one
place MaskLab reads which attention a ``transformers`` model runs with.
"""

import copy
import inspect
import threading

import torch

from engine.backend import Generation, TextTokens, as_weights, gather_rows
from engine.hf.discovery import CheckpointUnavailable
from engine.masks import layer_window
from engine.hf.tokens import specials, text_rows, token_names, tokenizer_problem

ACTIVATION_BUDGET = 1 << 25  # floats in the largest transient tensor of one batch of masked copies
T5_CONTEXT = 512  # T5's relative positions have no hard limit; 512 is the length it was trained on


def attn_implementation(model: torch.nn.Module) -> str | None:
    """The attention ``model`` runs with: "sdpa", "eager", ...

    The one read of a private ``transformers`` attribute in MaskLab, kept here on purpose: transformers
    5.23 sets the implementation publicly (``from_pretrained(attn_implementation=...)``,
    ``model.set_attn_implementation``) but has no public getter, and ``config._attn_implementation`` is
    what its own attention modules read at every forward pass."""
    return model.config._attn_implementation


def twin_of(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with eager attention for attention maps, sharing its weights: a deep copy of the
    modules and config whose parameters and buffers are ``model``'s own tensors, set to eager. Made
    after the model is on its device (moving a model replaces its buffers). Raises ValueError when
    the family cannot be set to eager (``set_attn_implementation`` only warns for a family that cannot
    switch at run time, so the result is checked)."""
    twin = copy.deepcopy(model, memo={id(t): t for t in (*model.parameters(), *model.buffers())})
    twin.set_attn_implementation("eager")
    if attn_implementation(twin) != "eager":
        raise ValueError(f"{type(model).__name__} cannot switch its attention to eager at run time")
    if twin.config is model.config or any(a is not b for a, b in zip(twin.parameters(), model.parameters())):
        raise ValueError("the eager twin does not share the model's weights")
    return twin.eval()


def self_attention_weights(model, x, n_layer: int, kw: dict, dtype: torch.dtype = torch.float32) -> list | None:
    """Every layer's self-attention weights of one eager pass, each (H, T, T) in ``dtype`` on the CPU, taken
    from the attention modules' own outputs by forward hooks as each layer runs, so that the pass never
    holds all layers' weights at once the way ``output_attentions`` collects them: with ``dtype`` float16
    the pass keeps half of what float32 takes (SmolLM2 at 600 tokens: 180 MB, not 370). None when the modules do not hand
    their weights out this way (then ``output_attentions`` is used)."""
    T = x.shape[1]
    caught, seen = [], set()

    def hook(module, args, output):
        if not isinstance(output, tuple) or len(output) < 2 or not torch.is_tensor(output[1]):
            return None
        w = output[1]
        if w.ndim != 4 or w.shape[-1] != T or w.shape[-2] != T:
            return None
        if w.data_ptr() not in seen:  # a wrapper module hands on its inner module's weights
            seen.add(w.data_ptr())
            caught.append(as_weights(w[0], dtype).clone() if dtype == w.dtype else as_weights(w[0], dtype))
        return (output[0], None, *output[2:])  # let the pass drop this layer's weights now

    handles = [m.register_forward_hook(hook) for name, m in model.named_modules() if type(m).__name__.endswith("Attention")]
    try:
        model(input_ids=x, **kw)
    finally:
        for h in handles:
            h.remove()
    return caught if len(caught) == n_layer else None


class HFBackend:
    """`engine.backend.Backend` for a ``transformers`` model and its tokenizer."""

    def __init__(self, model, tokenizer, architecture: str):
        self.model, self.tokenizer, self.architecture = model, tokenizer, architecture
        c = model.config
        t = c.get_text_config()
        self.vocab_size = int(t.vocab_size)
        self.n_layer = int(t.num_hidden_layers)
        self.n_head = int(t.num_attention_heads)
        self.n_kv_head = int(getattr(t, "num_key_value_heads", None) or self.n_head)
        self.head_dim = int(getattr(t, "head_dim", None) or int(t.hidden_size) // self.n_head)
        self.layer_windows = tuple(layer_window(t, i) for i in range(self.n_layer))
        problem = tokenizer_problem(tokenizer, model, architecture)
        if problem:
            raise CheckpointUnavailable(f"{c.name_or_path or c.model_type}: {problem}")
        self.context = self._context()
        self.specials = specials(tokenizer, model, architecture, self.vocab_size)
        self._keep = "logits_to_keep" in inspect.signature(model.forward).parameters
        self._maps_lock = threading.Lock()  # one maps pass at a time: each holds every layer's weights
        self._pass_lock = threading.Lock()  # one scoring or generation pass at a time: its activations and logits are
        # hundreds of MB at 49k-wide heads, and two cores gain nothing from two passes at once
        self._twin_lock = threading.Lock()
        self._twin = None  # eager_model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _context(self) -> int:
        c, tok = self.model.config.get_text_config(), self.tokenizer
        if self.model.config.model_type in ("t5", "mt5", "umt5", "longt5"):
            n = T5_CONTEXT
        elif self.model.config.model_type in ("roberta", "xlm-roberta", "camembert") and getattr(c, "pad_token_id", None) is not None:
            n = c.max_position_embeddings - c.pad_token_id - 1  # positions are counted from pad_token_id + 1
        else:
            n = next((v for v in (getattr(c, k, None) for k in ("max_position_embeddings", "n_positions", "max_seq_len")) if isinstance(v, int) and v > 0), 2048)
        m = tok.model_max_length
        return int(min(n, m) if m and m < 1_000_000 else n)

    def rows_per_batch(self, width: int) -> int:
        """At most 64 copies, and at most 2**25 floats in the largest transient tensor of one pass: eager
        attention weights, the MLP's hidden layer, or logits at every position when the head cannot be
        restricted to the scored ones."""
        c = self.model.config.get_text_config()
        d_ff = next((v for v in (getattr(c, k, None) for k in ("d_ff", "intermediate_size", "hidden_dim", "n_inner", "encoder_ffn_dim")) if v), 4 * c.hidden_size)
        wide = max(width * self.n_head, d_ff, self.vocab_size if not self._keep else 0)
        return max(1, min(64, ACTIVATION_BUDGET // (width * wide)))

    def tokens(self, text: str) -> TextTokens:
        """The tokenizer's tokens of ``text`` (`engine.hf.tokens.text_rows`)."""
        return text_rows(self.tokenizer, text)

    def names(self, ids):
        return token_names(self.tokenizer, ids)

    def decode(self, ids):
        return self.tokenizer.decode(list(ids))

    def logits(self, x, *, at=None, n_prefix=None, decoder=None, mask=None):
        if n_prefix is not None:
            raise ValueError(f"a prefix length applies to prefix-LM models only; {self.architecture} checkpoints have none")
        if mask is not None:
            if decoder is not None or self.architecture != "decoder":
                raise ValueError("a custom mask is for a published decoder's own pass")
            with self._pass_lock:  # a 4D mask is used as given (transformers' masking_utils): True = may attend, for sdpa
                m = mask.to(torch.bool)
                m = (m if m.dim() == 4 else m[None, None]).expand(x.shape[0], 1, -1, -1).to(x.device)
                if attn_implementation(self.model) == "eager":  # eager adds the mask to the scores
                    m = torch.zeros(m.shape, dtype=self.model.dtype, device=x.device).masked_fill(~m, torch.finfo(self.model.dtype).min)
                return gather_rows(self.model(input_ids=x, attention_mask=m).logits, at)
        with self._pass_lock:
            if decoder is not None:
                return gather_rows(self.model(input_ids=x, decoder_input_ids=decoder).logits, at)
            if at is not None and self._keep:  # the output head only at the positions asked for (49k-wide heads are costly)
                at = at.reshape(x.shape[0], -1)
                keep, inverse = torch.unique(at, return_inverse=True)
                logits = self.model(input_ids=x, logits_to_keep=keep).logits  # (B, len(keep), V)
                return gather_rows(logits, inverse)
            return gather_rows(self.model(input_ids=x).logits, at)

    def attention_maps(self, x, *, n_prefix=None, decoder=None, dtype=torch.float32):
        if n_prefix is not None:
            raise ValueError(f"a prefix length applies to prefix-LM models only; {self.architecture} checkpoints have none")
        maps = lambda ws: [as_weights(w[0], dtype) for w in ws]
        model = self.eager_model()
        with self._maps_lock:
            if decoder is not None:
                out = model(input_ids=x, decoder_input_ids=decoder, output_attentions=True)
                return {"encoder": maps(out.encoder_attentions), "decoder": maps(out.decoder_attentions), "cross": maps(out.cross_attentions)}
            kw = {"logits_to_keep": 1} if self._keep else {}
            caught = self_attention_weights(model, x, self.n_layer, kw, dtype)
            if caught is not None:
                return {"self": caught}
            return {"self": maps(model(input_ids=x, output_attentions=True, **kw).attentions)}

    def eager_model(self) -> torch.nn.Module:
        """The model with eager attention, the only kind that returns its weights, for attention maps.

        The shared model is never switched: `transformers` reads the attention implementation from the
        model's config at every forward pass, so switching it while another thread scores would run that
        pass with eager attention under a mask built for ``sdpa`` (it sees future tokens). Instead a twin
        is made once: a deep copy of the modules and config whose parameters and buffers *are* the
        model's own tensors (no weights copied), set to eager."""
        with self._twin_lock:
            if self._twin is None:
                self._twin = twin_of(self.model)
            return self._twin

    def prefill(self, ids, *, n_prefix=None, encoder_ids=None):
        with self._pass_lock:
            return self._prefill(ids, encoder_ids)

    def _prefill(self, ids, encoder_ids):
        dev = self.device
        if encoder_ids is not None:
            enc = self.model.get_encoder()(input_ids=torch.tensor([encoder_ids], device=dev))
            out = self.model(encoder_outputs=enc, decoder_input_ids=torch.tensor([ids], device=dev), use_cache=True)
            return out.logits[0, -1], Generation(out.past_key_values, {"encoder_outputs": enc})
        out = self.model(input_ids=torch.tensor([ids], device=dev), use_cache=True)
        return out.logits[0, -1], Generation(out.past_key_values)

    def extend(self, ids, state):
        x = torch.tensor([list(ids)], device=self.device)
        with self._pass_lock:
            if "encoder_outputs" in state.extra:
                out = self.model(encoder_outputs=state.extra["encoder_outputs"], decoder_input_ids=x, past_key_values=state.cache, use_cache=True)
            else:
                out = self.model(input_ids=x, past_key_values=state.cache, use_cache=True)
        state.cache = out.past_key_values
        return out.logits[0, -1]
