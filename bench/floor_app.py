"""The floor of a page step: a Streamlit page that does almost nothing (``bench/floors.py`` times it).

The same text box and the same kind of toggle as MaskLab's pages, and one line that depends on both,
so an edit or a toggle reruns the script, sends one element and redraws it. What a step takes here is
what Streamlit itself takes on this machine and browser (the round trip, the rerun, React, the
paint): no page of the app can step faster.
"""

import streamlit as st

st.set_page_config(page_title="MaskLab floor", layout="wide")
text = st.text_area("Your text", "A bare page: Streamlit's own time for a step.", height=110)
shown = st.toggle("Show whitespace")
ending = text[-24:].replace("\n", " ")
st.markdown(f"{len(text):,} characters, ending “{ending}”" + (f"; {sum(c.isspace() for c in text):,} of them whitespace" if shown else ""))
