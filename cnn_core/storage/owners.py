"""Who may change a run or a drawing: the session that made it (known by its secret, of which
the stores keep only a hash) or whoever holds the teacher key. Both stores ask here."""

from __future__ import annotations

import hashlib
import secrets

from cnn_core.storage.teacher_key import TeacherKey


def owner_hash(owner_token: str) -> str:
    """What the database keeps of a session's secret: enough to say "mine", useless to steal."""
    return hashlib.sha256(owner_token.encode()).hexdigest()


def kept_hash(owner_token: str | None) -> str | None:
    """What a row keeps of its maker: the secret's hash, or None when no session made it."""
    return owner_hash(owner_token) if owner_token else None


def new_owner_token() -> str:
    return secrets.token_urlsafe(24)


def owns(kept_hash: str | None, owner_token: str | None) -> bool:
    """Whether the session holding ``owner_token`` made the row that keeps ``kept_hash``."""
    return owner_token is not None and kept_hash == owner_hash(owner_token)


def key_refusal(teacher: TeacherKey | None, key: str) -> str | None:
    """Why ``key`` is not the teacher key (or is not checked yet), or None when it is."""
    if teacher is None:
        return "no teacher key is set"
    return None if teacher.check(key) else teacher.refusal()


def change_refusal(kept_hash: str | None, owner_token: str | None, teacher: TeacherKey | None,
                   key: str | None, not_yours: str) -> str | None:
    """Why this caller may not change a row (``not_yours`` when it is another session's and no
    key was given), or None: the session that made it may, and anyone with the teacher key."""
    if owns(kept_hash, owner_token):
        return None
    return key_refusal(teacher, key) if key else not_yours
