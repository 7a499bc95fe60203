"""Everything that is not UI, importable and testable without Streamlit.

Seven packages, each importing only from those listed before it:
``design`` (a network as data: layers, shapes, codes) → ``storage`` (SQLite, the teacher key,
upload bounds) → ``data`` (digits in, tensors out) → ``explain`` (what a net sees, number by
number) → ``runs`` (what was trained, kept and compared) → ``teaching`` (predictions, their
answers and causes, lessons) → ``training`` (the contract, the budget, the loop, the job and
its runners). ``passes`` is the admitted door from the pages to the heavy passes;
``__main__`` is the CLI.
"""
