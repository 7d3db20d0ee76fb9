"""MaskLab's Streamlit layer: state and URL (state), caches (cache), figures (charts), HTML (html),
and what every page shares (layout). Pages only place what these build. Where files are (the corpus,
checkpoints, tiktoken's offline cache) is the engine's to know: `engine.paths`."""
