"""Every "Download … (CSV)" neutralises spreadsheet formulas (OWASP, CSV injection): a string cell that
starts with = + - @, a tab or a carriage return gets a leading ', through the one helper ui.export.csv_bytes;
numbers stay numbers."""

import io
import re
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st

from ui.export import FORMULA_STARTS, csv_bytes

from conftest import open_page

REPO = Path(__file__).resolve().parents[1]
HOSTILE = "=1+2 @SUM(A1) -3 +cmd|' /C calc'!A0 \t=tab \r=cr"


def read(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)


def _number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def formula_cells(df: pd.DataFrame) -> list[str]:
    """Cells a spreadsheet would read as a formula (a number such as -1.5 is read as a number)."""
    return [v for col in df.columns for v in [col, *df[col].astype(str)] if v.startswith(FORMULA_STARTS) and not _number(v)]


def test_string_cells_that_start_a_formula_are_quoted_and_numbers_stay_numbers():
    df = pd.DataFrame({
        "token": ["=SUM(A1:A9)", "+1", "-x", "@cmd", "\tx", "\rx", "plain", " =spaced", "'quoted"],
        "loss": [-1.5, 2.0, -0.25, 0.0, 1.0, 3.0, 4.0, 5.0, 6.0],
        "rank": [-1, 2, 3, 4, 5, 6, 7, 8, 9],
        "top_k": [[("=a", 0.5)], [], [], [], [], [], [], [], []],
    })
    out = read(csv_bytes(df))
    assert list(out["token"]) == ["'=SUM(A1:A9)", "'+1", "'-x", "'@cmd", "'\tx", "'\rx", "plain", " =spaced", "'quoted"]
    assert list(out["loss"]) == ["-1.5", "2.0", "-0.25", "0.0", "1.0", "3.0", "4.0", "5.0", "6.0"]  # a negative loss is a number, not a formula
    assert list(out["rank"])[0] == "-1"
    assert pd.read_csv(io.BytesIO(csv_bytes(df)))["loss"].dtype.kind == "f"
    assert list(df["token"])[0] == "=SUM(A1:A9)"  # the frame itself is left alone


def test_headers_from_user_names_are_quoted_too_and_empty_frames_work():
    df = pd.DataFrame({"=evil": ["a"], "model": ["-decoder"]})
    out = read(csv_bytes(df))
    assert list(out.columns) == ["'=evil", "model"] and list(out["model"]) == ["'-decoder"]
    assert csv_bytes(pd.DataFrame()).strip() in (b"", b'""')


def test_every_download_button_and_csv_goes_through_the_helper():
    """No view or ui module writes CSV itself: to_csv only in ui/export.py, and each download_button's data
    comes from csv_bytes (in the call, or in the function named as its data)."""
    sources = {p: p.read_text() for p in [*sorted((REPO / "views").glob("*.py")), *sorted((REPO / "ui").glob("*.py")), REPO / "app.py"]}
    for path, src in sources.items():
        if path.name != "export.py":
            assert ".to_csv(" not in src, f"{path.relative_to(REPO)} writes CSV without ui.export.csv_bytes"
        for m in re.finditer(r"download_button\(", src):
            call = src[m.end(): m.end() + 400]
            data_arg = call.split(",")[1].strip()
            uses_helper = "csv_bytes(" in data_arg or re.search(rf"def {re.escape(data_arg)}\(.*?\n(?:    .*\n|\n)*?.*csv_bytes\(", src, re.S)
            assert uses_helper, f"{path.relative_to(REPO)}: a download_button whose data is not csv_bytes: {data_arg}"


@pytest.fixture
def downloads(monkeypatch):
    """The bytes of every download_button a page draws (a callable's too: it is what a click would get)."""
    got = {}
    real = st.download_button

    def spy(label, data, *args, **kwargs):
        got[label + " " + str(kwargs.get("key"))] = data() if callable(data) else data
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    return got


@pytest.mark.parametrize("page, params", [("tokenization", {"enc": "masklab"}), ("losses", {"variants": "random-decoder,random-encoder", "gen": "random-decoder"})])
def test_a_page_s_csv_downloads_hold_no_formula(downloads, page, params):
    open_page(page, HOSTILE, params=params)
    assert downloads, "the page drew no download button"
    quoted = 0
    for label, data in downloads.items():
        df = read(data if isinstance(data, bytes) else data.encode())
        assert not formula_cells(df), (label, formula_cells(df)[:5])
        quoted += sum(v.startswith("'") and v[1:].startswith(FORMULA_STARTS) for col in df.columns for v in df[col])
    assert quoted, "the hostile tokens reached no CSV"
