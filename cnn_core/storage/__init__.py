"""Where things are kept and what may come in: the one SQLite helper (``sqlite_db``) both stores
use, the teacher key's check and backoff (``teacher_key``), and the upload bounds (``uploads``)."""
