"""A real published checkpoint, read offline from ../shared/models: SmolLM2-135M-Instruct (Apache-2.0),
a GGUF file that transformers de-quantises to float32. MaskLab's numbers on it must equal
transformers' own forward pass on the same weights."""

import re
from pathlib import Path

import pytest
import torch

import engine
from engine import hf
from engine.probes import run_probes

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "models" / "smollm2-135m-instruct-q4_1"
GGUF = FOLDER / "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT = "The Eiffel Tower stands 324 meters tall in Paris, France."

pytestmark = [
    pytest.mark.slow,
    pytest.mark.shared,
    pytest.mark.skipif(not GGUF.is_file(), reason=f"needs {GGUF} (../shared/models beside the checkout)"),
]


@pytest.fixture(scope="module")
def smol():
    return engine.load_variant(str(FOLDER), device="cpu")


def test_a_gguf_folder_loads_as_a_decoder_with_its_card(smol):
    assert (smol.architecture, smol.objective, smol.source) == ("decoder", "clm", "huggingface")
    c = smol.card
    assert c["format"] == "GGUF" and c["quantisation"] == "Q4_1" and all(w in c["note"] for w in ("de-quantised", "Q4_1", "float32"))
    assert c["layers"] == 30 and c["query_heads"] == 9 and c["key_value_heads"] == 3
    assert c["parameters"] == pytest.approx(134.5e6, rel=0.01)
    assert next(smol.model.parameters()).dtype == torch.float32


def test_per_token_losses_equal_transformers_forward_pass(smol):
    df = engine.score(smol, TEXT)
    tok, b = smol.tokenizer, smol.backend
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    assert df.token_id.tolist() == ids
    x = torch.tensor([[b.specials.start] + ids])
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(smol.model(x).logits[0, :-1], x[0, 1:], reduction="none")
    assert torch.allclose(torch.tensor(df.loss.tolist(), dtype=torch.float32), want, atol=1e-4)
    loss = dict(zip(df.token, df.loss))
    assert loss[" Tower"] < 0.5 and loss[" Paris"] < 2.0  # a real model knows where the tower stands


def test_the_gguf_file_itself_and_the_relative_path_name_the_same_model(smol, monkeypatch):
    assert hf.looks_like_checkpoint(str(GGUF)) and hf.gguf_file(FOLDER) == GGUF
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the repository: ../shared sits beside it
    assert hf.checkpoint_folder("../shared/models/smollm2-135m-instruct-q4_1") == FOLDER.resolve()
    assert hf.looks_like_checkpoint("../shared/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
    with pytest.raises(ValueError, match="refusing"):
        hf.checkpoint_folder("../shared/corpus/valid.txt")  # '..' reaches ../shared/models only


def test_attention_every_layer_and_query_head_with_its_shared_key_value_head(smol):
    r = engine.attention(smol, TEXT)
    maps = r.maps["self"]
    n = len(smol.tokenizer(TEXT, add_special_tokens=False)["input_ids"])
    assert len(maps) == 30 and maps[0].shape == (9, n, n)
    assert [r.kv_head(h) for h in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2] and [int(n) for n in re.search(r"(\d+) query heads\D+(\d+) key/value heads", r.note).groups()] == [9, 3]
    assert torch.allclose(maps[5].sum(-1), torch.ones(9, n), atol=1e-4) and maps[5].triu(1).abs().max() < 1e-6


def test_greedy_generation_with_the_kv_cache_equals_the_uncached_loop(smol):
    r = engine.generate(smol, "The capital of France is", max_new_tokens=6, temperature=0)
    tok = smol.tokenizer
    seq = [smol.backend.specials.start] + tok("The capital of France is", add_special_tokens=False)["input_ids"]
    new = []
    with torch.no_grad():
        for _ in range(6):
            nxt = int(smol.model(torch.tensor([seq])).logits[0, -1].argmax())
            if nxt in smol.backend.specials.stop:
                break
            new.append(nxt)
            seq.append(nxt)
    assert tok.convert_tokens_to_ids(r.tokens) == new and "Paris" in r.text


def test_the_multitask_probes_come_out_mostly_right_for_a_real_model(smol):
    df = run_probes(smol, "multitask")
    assert len(df) == 7 and df.margin.notna().all()
    assert (df.margin > 0).sum() >= 5, df[["skill", "margin"]]
    assert df.set_index("skill").loc["world knowledge", "margin"] > 0


def test_threads_scoring_and_reading_maps_get_what_one_thread_gets(smol):
    """Two sessions on the one shared SmolLM2: one scores while the other reads attention maps. Every
    score equals the same text scored alone (reading maps once switched the shared model to eager
    attention, and a few scoring passes in a hundred then saw future tokens)."""
    from tests.test_concurrency import _hammer

    _hammer(smol, 16, 16, [TEXT, "The capital of Azerbaijan is Baku, on the Caspian Sea."])


def test_rows_and_attention_labels_read_as_the_text_with_the_vocabulary_entry_beside_it(smol):
    """The token column is the text each token stands for (" Tower"), as MaskLab's own models give it;
    the byte-level vocabulary entry ("ĠTower") stays in the piece column."""
    df = engine.score(smol, TEXT)
    assert "".join(df.token) == TEXT and not any("Ġ" in t for t in df.token)
    assert df.piece.tolist() == smol.tokenizer.convert_ids_to_tokens(df.token_id.tolist()) and "ĠTower" in df.piece.tolist()
    labels = engine.attention(smol, TEXT).query_tokens["self"]
    assert labels == df.token.tolist()


FRACTION_TEXT = "Mix ½ cup of flour with ¼ cup of sugar."


def test_the_files_own_pre_tokenizer_makes_fractions_cheaper_to_read(smol, capsys):
    """tokenizer.ggml.pre = smollm honoured (numerals apart before GPT-2's rule): the model reads the
    fraction text in the tokens it was trained on, and its total loss drops against transformers'
    GGUF tokenizer, which ignores the declared pre-tokenizer."""
    from transformers import AutoTokenizer

    assert smol.card["pre_tokenizer"].startswith("smollm") and "numerals split" in smol.card["pre_tokenizer"]
    ours = engine.score(smol, FRACTION_TEXT)
    raw = AutoTokenizer.from_pretrained(str(FOLDER), gguf_file=GGUF.name, local_files_only=True)(FRACTION_TEXT, add_special_tokens=False)["input_ids"]
    assert ours.token_id.tolist() != raw
    x = torch.tensor([[smol.backend.specials.start] + raw])
    with torch.no_grad():
        before = float(torch.nn.functional.cross_entropy(smol.model(x).logits[0, :-1], x[0, 1:], reduction="sum"))
    after = float(ours.loss.sum())
    with capsys.disabled():
        print(f"\nSmolLM2 total loss on {FRACTION_TEXT!r}: {before:.2f} nats with transformers' tokens ({len(raw)}), {after:.2f} with the file's own rule ({len(ours)})")
    assert after < before
