"""The mask composer's redraw in Chromium: a text edit at 128 and 1,024 MaskLab tokens and a control
step (patterns side by side, 1 <-> 2), against Streamlit's own step on a page that does almost nothing
(``bench/floor_app.py``, the floor), both measured in this run as ``bench/pages.py`` measures every page.
Targets: 300 ms at 128 tokens, 1 s at 1,024. Writes ``bench/results/compose.json`` and ``compose.md``.

    python -m bench.compose [--reps 5]

Measure on an idle machine (a training run beside it doubles every number).
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench import floors, pages
from bench.common import REPO, source_text, texts

TARGET_MS = {128: 300, 1024: 1000}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = p.parse_args(argv)
    source, _ = source_text()
    texts_for = lambda n, k: texts(n, k + 1, source)[1:]  # noqa: E731
    sizes = sorted(TARGET_MS)
    tmp = Path(tempfile.gettempdir())
    got = pages.measure(sizes, args.reps, texts_for, tmp / "masklab-bench-compose.log", sessions=0, pages={"compose": pages.PAGES["compose"]})
    bare = pages.measure(sizes, args.reps, texts_for, tmp / "masklab-bench-floor.log", sessions=0, pages=floors.FLOOR_PAGE,
                         launcher=floors.FLOOR_APP, arm=pages.ARM_OUTPUT)
    page, floor = got["pages"].get("compose", {}), bare["pages"].get("home", {})
    rows = []
    for n in sizes:
        edit, base = page.get("edits", {}).get(n) or [], floor.get("edits", {}).get(n) or []
        control = (page.get("controls") or {}).get(n) or []
        rows.append({"tokens": n, "edit_ms": statistics.median(edit) if edit else None, "edit_samples_ms": edit,
                     "control_ms": statistics.median(control) if control else None, "control_samples_ms": control,
                     "floor_ms": statistics.median(base) if base else None, "target_ms": TARGET_MS[n]})
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "reps": args.reps, "first_view_ms": page.get("first_view"), "rows": rows,
              "errors": got["errors"] + bare["errors"], "command": "python -m bench.compose"}
    out = Path(args.out)
    (out / "compose.json").write_text(json.dumps(result, indent=1))
    fmt = lambda v: "–" if v is None else f"{v:,.0f} ms"  # noqa: E731
    md = ["# The mask composer's redraw", "", f"`{result['command']}`, {result['date']}, median of {args.reps}. The floor: Streamlit's own step "
          "for the same edit on bench/floor_app.py, in the same run.", "",
          "| tokens | text edit | patterns 1 <-> 2 | Streamlit's floor | target |", "|---|---|---|---|---|"]
    md += [f"| {r['tokens']:,} | {fmt(r['edit_ms'])} | {fmt(r['control_ms'])} | {fmt(r['floor_ms'])} | {fmt(r['target_ms'])} |" for r in rows]
    if result["errors"]:
        md += ["", "Errors: " + "; ".join(result["errors"])]
    (out / "compose.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
