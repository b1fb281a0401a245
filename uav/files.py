"""Files written all at once: a crash, a full card or a folder watcher never sees half a file.

Every file the project writes for a person or another program (plans, exports, simulated
frames, truth files, cached thumbnails, signing timestamps) goes through :func:`write_atomic`:
the content goes to a uniquely named temporary file in the target's folder, which is then
renamed over the target (a rename within one folder is atomic on POSIX and Windows).
"""

from __future__ import annotations

import os
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
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
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


__all__ = ["FILE_MODE", "write_atomic"]
