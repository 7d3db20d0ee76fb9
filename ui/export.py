"""CSV for the app's "Download … (CSV)" buttons, written in one place so that no exported cell starts a
spreadsheet formula (CSV injection).

A cell is user-derived more often than not: a token of the typed text, a model's name from a link, a
predicted token. Following OWASP's CSV-injection guidance, a string cell (a header too) that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or the full-width ``＝ ＋ － ＠`` that some
spreadsheets read as the same) gets a leading ``'``, which spreadsheets show as text and do not
evaluate. Numbers stay numbers: a loss of -1.5 is written as -1.5.
"""

import numbers

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value):
    """``value`` with a leading ``'`` when, written as text, it would start a formula; numbers, booleans
    and missing values unchanged. Other objects (a list of predictions) are judged as CSV writes them."""
    if value is None or isinstance(value, (numbers.Number, bool)):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else value


def csv_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as UTF-8 CSV without its index, every string cell and header that would start a formula
    quoted with a leading ``'`` (`neutralise`). ``df`` itself is left as it was."""
    safe = df.copy()
    safe.columns = [neutralise(c) if isinstance(c, str) else c for c in safe.columns]
    for i in range(safe.shape[1]):
        col = safe.iloc[:, i]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            safe.isetitem(i, col.map(neutralise))
    # RFC 4180's CRLF rows: the csv module then quotes any field holding a carriage return as well as a
    # line feed, so a token "\r" cannot end a row early
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
