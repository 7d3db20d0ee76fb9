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


def token_category(text: str, special: bool = False) -> str:
    if special:
        return "special"
    if text == "" or text.isspace():
        return "whitespace"
    word = text.strip()
    if any(ch.isdigit() for ch in word):
        return "number"
    if all(ch in _PUNCT for ch in word):
        return "punctuation"
    starts_word = text[0].isspace() or not text[0].isalpha()
    core = word.strip("".join(_PUNCT))
    if not core:
        return "punctuation"
    if not starts_word:  # a capital without a leading space is a line's first word, not a word's middle
        return "capitalised word" if core[0].isupper() else "word continuation"
    if core.lower() in FUNCTION_WORDS:
        return "function word"
    if core[0].isupper():
        return "capitalised word"
    return "content word"


def category_table(token_texts: list[str], n_regular: int) -> list[str]:
    """Category of every id, given each id's text; ids from ``n_regular`` on are special."""
    return [token_category(t, special=i >= n_regular) for i, t in enumerate(token_texts)]
