"""Where things are kept and what may come in: the one SQLite helper (``sqlite_db``) both stores
use, the teacher key's check and backoff (``teacher_key``), who may change a row (``owners``),
the runs and datasets folders (``places``), whether a row's writer lives (``processes``), and the
upload bounds (``uploads``)."""
