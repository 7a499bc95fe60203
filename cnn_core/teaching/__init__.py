"""Predict, then see: a student's answers checked and explained (``shape_answers`` for output
shapes, ``step_answers`` for a window's value, a net's verdict and a loss's trend), and kept
for the teacher's board (``predictions``). No Streamlit; imports design, storage, data,
explain and runs, never training."""
