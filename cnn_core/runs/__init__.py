"""What was trained, kept and compared: the run store (``store``; its records, schema, curves and
weights folder in ``records``, ``schema``, ``curves`` and ``weights_folder``), recording a
training into it (``recording``), weights (``weights``), exported files (``files``), comparison
(``compare``) and ``python -m cnn_core runs`` (``cli``)."""
