"""MaskLab: see how transformers tokenize, mask and learn your own text.  ``streamlit run app.py``"""

from pathlib import Path

import streamlit as st

from ui import layout, state

st.set_page_config(page_title="MaskLab", page_icon=str(Path(__file__).parent / "assets" / "favicon.png"), layout="wide", initial_sidebar_state="expanded")

PAGES = {
    "": [st.Page("views/home.py", title="Home", icon=":material/home:", default=True)],
    "See it on your text": [
        st.Page("views/tokenization.py", title="Tokenization", icon=":material/segment:", url_path="tokenization"),
        st.Page("views/masks.py", title="Attention masks", icon=":material/grid_on:", url_path="masks"),
        st.Page("views/compose.py", title="Compose masks", icon=":material/join:", url_path="compose"),
        st.Page("views/objectives.py", title="Objectives and loss exposure", icon=":material/target:", url_path="objectives"),
        st.Page("views/losses.py", title="Per-token losses", icon=":material/insights:", url_path="losses"),
    ],
    "Why decoder-only won": [
        st.Page("views/switches.py", title="Encoder-decoder to decoder-only", icon=":material/toggle_on:", url_path="switches"),
        st.Page("views/chat.py", title="Multi-turn chat cost", icon=":material/forum:", url_path="chat"),
        st.Page("views/scaling.py", title="Scaling and training", icon=":material/trending_down:", url_path="scaling"),
    ],
}

page = st.navigation(PAGES)
state.init()
layout.sidebar()
layout.run_page(page)  # an error no page handles: logged, and one sentence on the page
