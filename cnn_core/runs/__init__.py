"""What was trained, kept and compared: the run store (``store``), recording a training into it
(``recording``), weights (``weights``), exported files (``files``), comparison (``compare``)
and ``python -m cnn_core runs`` (``cli``)."""
