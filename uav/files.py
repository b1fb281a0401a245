"""Files written all at once: a crash, a full card or a folder watcher never sees half a file.

Every file the project writes for a person or another program (plans, exports, simulated
frames, truth files, cached thumbnails, signing timestamps) goes through :func:`write_atomic`:
the content goes to a uniquely named temporary file in the target's folder, which is then
renamed over the target (a rename within one folder is atomic on POSIX and Windows).  The
temporary file's name says which computer and process write it (:func:`owner_tag`), so what a
process killed outright (power cut, SIGKILL) left can be told from what a live one is writing
(:func:`remove_dead_writes`).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import UavError

# Files get the usual permissions (0666 less the umask), not mkstemp's private 0600: plans,
# exports and caches are meant to be shared.  The umask is read once, at import, because it can
# only be read by setting it, which is not safe while other threads create files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def write_atomic(path, content: bytes | str | Callable[[Path], None], *,
                 error: type[UavError] = UavError, what: str = "", mode: int = FILE_MODE,
                 encoding: str = "utf-8") -> Path:
    """Write ``content`` to ``path`` through a temporary file renamed into place.

    Parameters
    ----------
    path : str or Path
        The file to write; missing parent folders are created.
    content : bytes, str or callable
        The whole content, or a function that writes the file at the path it is given (for
        writers that insist on a file name: zip files, GeoPackages, XML trees).
    error : type of UavError
        Raised, naming the file, when the folder or file cannot be written (permissions, full
        disk, a file where a folder should be).  Errors raised by a ``content`` function pass
        through unchanged.
    what : str
        How the message names the file, e.g. ``"frame"`` -> "cannot write frame PATH: ...".
    mode : int
        Permission bits of the written file (default 0666 less the umask).
    encoding : str
        Encoding of a ``str`` content.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{owner_tag()}.", suffix=".part")
        tmp = Path(name)
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            data = content.encode(encoding) if isinstance(content, str) else bytes(content)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise error(f"cannot write {label}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def owner_tag() -> str:
    """``HOST-PID`` of this process, for the names of files it writes and removes itself."""
    return f"{re.sub(r'[^A-Za-z0-9_]', '_', socket.gethostname())}-{os.getpid()}"


def owner_gone(tag: str) -> bool:
    """Whether the process an :func:`owner_tag` names has ended.  Only this computer's can be
    known: another's (a shared disk) is taken as still running."""
    host, _, pid = tag.rpartition("-")
    if host != owner_tag().rpartition("-")[0] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:     # alive, another user's
        return False
    return False


def remove_dead_writes(path) -> int:
    """Remove the temporary files a killed process left while writing ``path`` (its own and
    any a writer added to the same name, e.g. ``….part.plain.tif``); return the bytes freed.
    Files a live process is writing are left alone."""
    path = Path(path)
    freed = 0
    if not path.parent.is_dir():
        return 0
    start = f".{path.name}."
    for f in path.parent.iterdir():
        if not f.name.startswith(start) or ".part" not in f.name:
            continue
        tag = f.name[len(start):].split(".", 1)[0]
        if owner_gone(tag):
            try:
                size = f.stat().st_size
                f.unlink()
                freed += size
            except OSError:
                pass
    return freed


__all__ = ["FILE_MODE", "owner_gone", "owner_tag", "remove_dead_writes", "write_atomic"]
