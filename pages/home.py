"""Start here: what the app teaches and how to use it in a class."""

from ui.page_guard import require_frame

require_frame()

import streamlit as st

from ui.lesson_maker import make_panel, shipped_lessons

st.title("CNN Explainer")
st.markdown(
    "Learn how a **convolutional neural network** reads handwritten digits by building one, "
    "training it on real MNIST digits and looking inside it."
)
cols = st.columns(4)
steps = [
    (":material/account_tree: 1 · Design", "pages/architecture.py",
     "Stack layers and see every output shape, the formula behind it, and where a design "
     "breaks."),
    (":material/monitoring: 2 · Train", "pages/train.py",
     "Train your design on MNIST and watch the loss fall and the accuracy rise, live."),
    (":material/draw: 3 · Draw & test", "pages/draw.py",
     "Draw a digit, see it turned into a 28×28 input, and what each layer sees."),
    (":material/zoom_in: 4 · Explain a step", "pages/explain.py",
     "Slide a kernel over a real digit, one multiply-add at a time."),
]
for col, (title, page, text) in zip(cols, steps):
    with col, st.container(border=True):
        st.subheader(title)
        st.write(text)
        st.page_link(page, label="Open", icon=":material/arrow_forward:")

st.subheader("Lessons")
st.caption("A lesson is a link: it opens only the pages and controls it needs, with predict "
           "first on and a question on each page. Hand it out as it is.")
shipped_lessons()
with st.expander("For teachers: make a lesson", icon=":material/edit_note:"):
    make_panel()

st.subheader("In the classroom")
st.markdown(
    "- **On a projector**: start with *Design* and the small fast net, change one kernel size "
    "and ask the class to predict the new output shape before the table updates.\n"
    "- **Students on their own devices**: each browser tab has its own design and training; "
    "the server runs a few trainings at a time and queues the rest, showing each student "
    "their place.\n"
    "- **Offline**: the app ships 10,000 real MNIST digits, so training and drawing work "
    "without a network."
)
