"""Start the app with its models already loaded: ``python -m ui.serve`` (options as for ``streamlit run``).

``streamlit run app.py`` imports PyTorch and loads the models when the first visitor arrives, so the
first page waits for them (about 5 s on a 2-core CPU). This launcher does that work first, in the
server's own process, and then starts the same server: the models sit in the app's resource cache
(``ui/cache.py``), which every session shares, and the first visitor only waits for the page itself.
"""

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"
# The warm-up runs outside a Streamlit runtime, where every cached call and st.* call warns that it
# has none ("No runtime found", "missing ScriptRunContext"); the server's own runs have one.
BARE_MODE_LOGGERS = (
    "streamlit.runtime.caching.cache_data_api",
    "streamlit.runtime.caching.cache_resource_api",
    "streamlit.runtime.scriptrunner_utils.script_run_context",
)
# Lines of Streamlit's start that read like failures or say nothing to a user: a headless server
# looks up its external IP for the banner (and says when it cannot), and names its web server.
STARTUP_NOISE = {
    "streamlit.net_util": "Did not auto detect external IP",
    "streamlit.web.server.starlette.starlette_server": "Uvicorn server started",
}


class _Drop(logging.Filter):
    def __init__(self, prefix: str = ""):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


@contextmanager
def _silenced(names):
    """Drop every record of these loggers (a filter: Streamlit resets their levels when it reads its config)."""
    drop = _Drop()
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(drop)


def warm() -> list[str]:
    """Import the engine and load every shipped variant, and the first published checkpoint found on
    this machine (`engine.hf.find_checkpoints`: the losses page shows it by default), into the app's
    resource cache; their names. ``MASKLAB_WARM_PUBLISHED=0`` skips the published one."""
    import os

    from ui import cache, catalog

    names = [v.name for v in catalog.variants() if v.source == "shipped"]
    if os.environ.get("MASKLAB_WARM_PUBLISHED", "1") != "0":
        names += [f.name for f in catalog.published()[:1]]
    for name in names:
        try:
            cache.engine.score(cache.variant(name), "Warm up.", top_k=1)  # loads, and runs PyTorch's first kernels
        except Exception as e:  # a broken model must not keep the app from starting: the pages explain it
            print(f"masklab: {name} could not be loaded ({e})", file=sys.stderr)
    return names


def freeze_heap() -> int:
    """Collect once, then move every object alive (the models, PyTorch, transformers, Streamlit) to
    Python's permanent generation (``gc.freeze``), so that the collector's full passes during the
    sessions scan only what the sessions allocate; the number of objects frozen."""
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    with _silenced(BARE_MODE_LOGGERS):
        names = warm()
    freeze_heap()
    print(f"masklab: {len(names)} model(s) loaded: {', '.join(names) or 'none'}", file=sys.stderr, flush=True)
    for name, prefix in STARTUP_NOISE.items():
        logging.getLogger(name).addFilter(_Drop(prefix))
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
