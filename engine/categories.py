"""Token categories: next-token prediction is many small tasks, learned at different speeds.

A BPE token is classed by what predicting it asks of a model:
- ``punctuation``: commas, quotes, full stops — mostly syntax;
- ``function word``: "the", "of", "she" — grammar;
- ``capitalised word``: names and sentence starts — who and where, and where sentences begin;
- ``content word``: the start of an ordinary lower-case word — meaning and world knowledge;
- ``word continuation``: a piece inside a word ("ing" of "walking") — spelling, nearly free once the
  word has begun;
- ``number``: any token with a digit — counting and dates;
- ``whitespace``: spaces and line breaks — layout;
- ``special``: tokens MaskLab inserts (sentinels, mask, mode tokens), never in the text itself.

A word is classed the same wherever it stands: "the" is a function word at the start of a text or a
line, where it has no leading space, as it is after one. Only a token's neighbours tell a word's first
piece without a space ("the" at a line's start) from a piece inside a word ("the" of "bathe"), so
`token_categories` reads a whole sequence; `token_category` alone is told by ``word_start``.
"""

import string

CATEGORIES = ("punctuation", "function word", "capitalised word", "content word", "word continuation", "number", "whitespace", "special")

FUNCTION_WORDS = frozenset(
    """a an the and or but nor so yet for of in on at to from by with about as into onto upon over under
    after before between through during without within against among towards toward off out up down
    i me my mine myself you your yours yourself he him his himself she her hers herself it its itself
    we us our ours ourselves they them their theirs themselves this that these those who whom whose which
    what when where why how all any both each either neither some such no not only own same than too very
    is am are was were be been being have has had having do does did doing will would shall should can
    could may might must if then else there here now again once because while until although though""".split()
)

_PUNCT = set(string.punctuation) | set("“”‘’—–…«»")


def token_category(text: str, special: bool = False, word_start: bool = False) -> str:
    """Category of one token from its surface (the text it stands for, with the whitespace before it).

    A token with a leading space or punctuation starts a word; so does a capitalised one (a capital
    inside a word is rare). ``word_start=True`` says that a token without a leading space starts a word
    too: it begins the text or a line, or follows punctuation. Without it, such a lower-case piece is
    taken for the inside of a word.

    >>> token_category("the"), token_category("the", word_start=True), token_category(" the")
    ('word continuation', 'function word', 'function word')
    """
    if special:
        return "special"
    if text == "" or text.isspace():
        return "whitespace"
    word = text.strip()
    if any(ch.isdigit() for ch in word):
        return "number"
    if all(ch in _PUNCT for ch in word):
        return "punctuation"
    core = word.strip("".join(_PUNCT))
    if not core:
        return "punctuation"
    starts_word = word_start or text[0].isspace() or not text[0].isalpha() or core[0].isupper()
    if not starts_word:
        return "word continuation"
    if core.lower() in FUNCTION_WORDS:
        return "function word"
    if core[0].isupper():
        return "capitalised word"
    return "content word"


def starts_a_word(previous: str | None) -> bool:
    """Whether a token that follows ``previous`` (a surface; None at the start of a text) begins a word:
    at the start, or after whitespace or punctuation, but not straight after a letter or a digit."""
    return not previous or not previous[-1].isalnum()


def token_categories(surfaces: list[str], special: list[bool] | None = None) -> list[str]:
    """Category of every token of one text, in order: each token is told whether it starts a word by
    the token before it (a special token, such as a sentinel, ends whatever word came before).

    >>> token_categories(["the", " cat", "\\n", "i", " sat", "\\n", "ba", "the"])
    ['function word', 'content word', 'whitespace', 'function word', 'content word', 'whitespace', 'content word', 'word continuation']
    """
    special = special or [False] * len(surfaces)
    out, previous = [], None
    for text, is_special in zip(surfaces, special):
        out.append(token_category(text, special=is_special, word_start=starts_a_word(previous)))
        previous = None if is_special else text
    return out


def category_table(token_texts: list[str], n_regular: int) -> list[str]:
    """Category of every id, given each id's text; ids from ``n_regular`` on are special."""
    return [token_category(t, special=i >= n_regular) for i, t in enumerate(token_texts)]
