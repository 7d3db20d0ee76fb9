"""Token categories: a word is classed the same wherever it stands."""

import doctest

import pytest

import engine.categories
from engine.categories import token_categories, token_category
from engine.tokenizer import tokenize


def test_doctests():
    assert doctest.testmod(engine.categories).failed == 0


@pytest.mark.parametrize("text", ["the cat sat", "i saw the cat", "the cat\nthe dog", "The cat sat", "Cat\ni saw"])
def test_a_word_at_the_start_of_a_text_or_a_line_is_classed_as_it_is_mid_line(text):
    """MaskLab's own tokens: a line's first word has no leading space, yet the same category."""
    surfaces = [t.text for t in tokenize(text, "masklab")]
    checked = 0
    for i, (surface, category) in enumerate(zip(surfaces, token_categories(surfaces))):
        first = i == 0 or surfaces[i - 1].endswith("\n")  # the text's or a line's first token
        whole = i + 1 == len(surfaces) or not surfaces[i + 1][0].isalpha()  # not the first piece of a longer word
        if first and surface.isalpha() and whole:  # no leading space: compare with the same word after a space
            assert category == token_category(" " + surface), (surface, category)
            checked += 1
    assert checked >= 1


def test_first_word_categories():
    assert token_categories(["the", " cat", " sat"]) == ["function word", "content word", "content word"]
    assert token_categories(["i"]) == ["function word"]
    assert token_categories(["“", "the"]) == ["punctuation", "function word"]  # after punctuation
    assert token_category("i", word_start=True) == token_category(" i") == "function word"
    assert token_category("The") == token_category(" The") == "function word"


def test_a_piece_inside_a_word_is_still_a_continuation():
    assert token_categories([" walk", "ing"]) == ["content word", "word continuation"]
    assert token_categories([" ba", "the"])[1] == "word continuation"
    assert token_category("ing") == "word continuation"  # no context: a lower-case piece continues a word


def test_a_special_token_ends_the_word_before_it():
    assert token_categories([" walk", "<|sentinel_0|>", "the"], special=[False, True, False]) == ["content word", "special", "function word"]
