"""Reading the files a user names (objects aside): only regular files, never unbounded.

Every path on the command line or in a config is user input. Opening a FIFO blocks until a
writer appears, ``/dev/zero`` says size 0 and never ends, and a stray image can be gigabytes:
so the file type is checked before opening and every read is bounded, whatever ``stat`` said.
This module reads only the paths it is given (it is not host inspection).
"""

from __future__ import annotations

import stat
from pathlib import Path

from bpfdoctor.errors import InputError

_SPECIAL = ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
            (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def require_regular_file(path: Path | str, what: str) -> None:
    """Refuse an input that is not a regular file before anything opens it.

    Missing files are left to the reader, which names them in its own words.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"{what} {p}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} {p}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = next((word for test, word in _SPECIAL if test(mode)), "special file")
        raise InputError(f"{what} {p}: is a {kind}, not a regular file")


def read_capped(path: Path | str, what: str, limit: int) -> bytes:
    """A regular file's bytes, refused past ``limit`` (one InputError line naming it)."""
    p = Path(path)
    require_regular_file(p, what)
    try:
        size = p.stat().st_size
        if size > limit:
            raise InputError(f"{what} {p}: {size} bytes is more than the {limit >> 20} MiB limit")
        with p.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{what} {p}: more than the {limit >> 20} MiB limit")
    return data
