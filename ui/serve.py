"""Start the app with its models already loaded: ``python -m ui.serve`` (options as for ``streamlit run``).

``streamlit run app.py`` imports PyTorch and loads the models when the first visitor arrives, so the
first page waits for them (about 5 s on a 2-core CPU). This launcher does that work first, in the
server's own process, and then starts the same server: the models sit in the app's resource cache
(``ui/cache.py``), which every session shares, and the first visitor only waits for the page itself.
"""

import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"


def warm() -> list[str]:
    """Import the engine and load every shipped variant, and the first published checkpoint found on
    this machine (`engine.hf.find_checkpoints`: the losses page shows it by default), into the app's
    resource cache; their names. ``MASKLAB_WARM_PUBLISHED=0`` skips the published one."""
    import os

    from ui import cache

    names = [v.name for v in cache.variants() if v.source == "shipped"]
    if os.environ.get("MASKLAB_WARM_PUBLISHED", "1") != "0":
        names += [f.name for f in cache.published()[:1]]
    for name in names:
        try:
            cache.engine.score(cache.variant(name), "Warm up.", top_k=1)  # loads, and runs PyTorch's first kernels
        except Exception as e:  # a broken model must not keep the app from starting: the pages explain it
            print(f"masklab: {name} could not be loaded ({e})", file=sys.stderr)
    return names


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    names = warm()
    print(f"masklab: {len(names)} model(s) loaded: {', '.join(names) or 'none'}", file=sys.stderr, flush=True)
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
