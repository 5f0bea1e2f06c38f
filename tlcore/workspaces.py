"""Workspaces: who sees, cancels and removes which runs on a shared server, without accounts.

A workspace is a short code. A browser session works in one: by default a personal one
(a fresh random code, kept in the page's URL so a bookmark brings it back); ``?ws=CODE``
joins a shared one, which is how a teacher gathers a class. Runs stay content-addressed:
the same setup queued in two workspaces is trained once and listed in both
(``Store.submit``), so a workspace is a list of runs, not a copy of them.

The rules (enforced by the store's ``cancel_as``/``remove``/``submit``, so the UI, links
and the CLI all meet the same ones):

- only the workspace that queued a run may stop it;
- removing takes a run off the remover's list; its files go only when no list holds it;
- common runs (``COMMON``: queued outside any workspace, as the command line does unless
  told a workspace) are listed by every workspace, and only the command line or the
  admin stops or deletes them;
- re-training a finished run that another workspace lists is refused;
- the admin key (``TLAB_ADMIN_KEY``, or the one ``tlcore admin-key`` writes into the data
  folder) unlocks all three for every run on the server.

A code is not a password: anyone who learns one can join it, and every page can show
all runs on the server. What it prevents is accidents and mischief in a room, one student
stopping or deleting another's runs; behind the open internet, put a login proxy in front.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from pathlib import Path

# No 0/o, 1/l/i: a code is read off a projector and typed in by hand.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LEN = 8
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,31}$")
# Runs queued outside any workspace (the command line's by default, a store's from before
# workspaces, a script's): common to every workspace, listed by all of them.
COMMON = ""
KEY_FILE = "admin-key"


class NotAllowed(PermissionError):
    """An action on a run this workspace may not take; the message says why and what to do."""


class QueueFull(NotAllowed):
    """More runs asked for than one session may have waiting (``TLAB_QUEUE_CAP``)."""


def new_code() -> str:
    """A fresh personal workspace code: 8 characters of 31, about 2^40 of them."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))


def normalise(text: str | None) -> str | None:
    """``text`` as a workspace code (trimmed, lower case), or None if it cannot be one:
    3 to 32 letters, digits or dashes, starting with a letter or digit."""
    code = (text or "").strip().lower()
    return code if CODE_RE.match(code) else None


NAME_MAX = 32


def clean_name(text: str | None) -> str | None:
    """``text`` as a name for the class view (spaces collapsed, at most ``NAME_MAX``
    characters, no control characters), or None when nothing is left. It is shown, never
    trusted: the view escapes it."""
    name = " ".join("".join(ch for ch in (text or "") if ch.isprintable()).split())
    return name[:NAME_MAX] or None


def cli_workspace(arg: str | None = None) -> str:
    """The CLI's workspace: ``--workspace``, else ``TLAB_WORKSPACE``, else ``COMMON``: on
    one's own machine, what the command line trains shows in every browser session."""
    for text in (arg, os.environ.get("TLAB_WORKSPACE")):
        if text:
            code = normalise(text)
            if code is None:
                raise ValueError(f"{text!r} is not a workspace code: use 3 to 32 letters, digits or dashes")
            return code
    return COMMON


def _key_path(root: str | os.PathLike) -> Path:
    return Path(root) / KEY_FILE


def admin_key(root: str | os.PathLike) -> str | None:
    """The server's admin key: ``TLAB_ADMIN_KEY`` if set, else the data folder's key file,
    else None (then nobody has server-wide rights, and each workspace only its own runs)."""
    env = os.environ.get("TLAB_ADMIN_KEY", "").strip()
    if env:
        return env
    try:
        return _key_path(root).read_text().strip() or None
    except OSError:
        return None


def make_admin_key(root: str | os.PathLike) -> str:
    """The key (made once, readable only by its owner), for ``tlcore admin-key``."""
    have = admin_key(root)
    if have:
        return have
    key = secrets.token_urlsafe(18)
    path = _key_path(root)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def is_admin(root: str | os.PathLike, key: str | None) -> bool:
    """Whether ``key`` is the server's admin key (compared in constant time)."""
    real = admin_key(root)
    return bool(real and key) and hmac.compare_digest(real.encode(), key.strip().encode())
