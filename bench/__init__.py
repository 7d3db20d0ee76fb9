"""MaskLab's benchmark suite: ``python -m bench`` runs every part and writes ``bench/results/``.

- ``bench.analysis``: the per-token-loss page's analysis (``engine.score`` + ``engine.attention``) for
  every shipped variant, uncached and through a memo that does what ``st.cache_data`` does;
- ``bench.reference``: the same work, and the same training step, on ``transformers`` models of
  identical configuration: the reference every engine number is a ratio against;
- ``bench.training``: training throughput (tokens/s) and utilisation of the measured matmul rate;
- ``bench.browser``: the app in Debian's Chromium: first chart after the server is up, and a text
  edit to the updated per-token-loss chart;
- ``bench.report``: the machine, the tables, the targets, written as Markdown and JSON.

See ``bench/README.md``.
"""
