"""Reading configuration files without ever failing: a missing file is normal, an
unusable one becomes a problem, and a cached reader skips unchanged files."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePath

from pydantic import BaseModel, ConfigDict

# (mtime_ns, size, inode, mode); () when absent; (-errno,) when stat itself failed.
Fingerprint = tuple[int, ...]

ABSENT: Fingerprint = ()

MAX_CONFIG_BYTES = 1024 * 1024


class FileRead(BaseModel):
    """The outcome of reading one path."""

    model_config = ConfigDict(frozen=True)

    path: PurePath
    data: bytes | None = None
    problem: str | None = None


def fingerprint(path: Path) -> Fingerprint:
    """A cheap stamp that changes when the file is created, edited or deleted."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return ABSENT
    except OSError as exc:
        return (-(exc.errno or errno.EIO),)
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode)


def read_bytes(path: Path) -> bytes:
    """The single place where configuration bytes are read (tests count calls here).

    Opened without blocking and read up to the size limit, so a file swapped for a
    FIFO or a device between `stat` and `open` cannot hang or flood the server."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = file.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise OSError(errno.EFBIG, "file too large")
    return data


def cannot_read(path: PurePath, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f"cannot read {path}: permission denied (check owner/permissions)"
    return f"cannot read {path}: {exc.strerror or exc}"


def read_file(path: Path, stamp: Fingerprint | None = None) -> FileRead:
    """Read ``path``; absence is silent, a directory or an error is a problem."""
    stamp = fingerprint(path) if stamp is None else stamp
    if stamp == ABSENT:
        return FileRead(path=path)
    if len(stamp) == 1:
        return FileRead(path=path, problem=cannot_read(path, _error(-stamp[0])))
    if stat.S_ISDIR(stamp[3]):
        return FileRead(
            path=path, problem=f"{path} is a directory, not a file; ignored"
        )
    if not stat.S_ISREG(stamp[3]):
        # A FIFO or a device (a symlink to /dev/zero in a cloned repository) would
        # block or never end.
        return FileRead(path=path, problem=f"{path} is not a regular file; ignored")
    if stamp[1] > MAX_CONFIG_BYTES:
        return FileRead(
            path=path,
            problem=f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KiB; ignored",
        )

    try:
        return FileRead(path=path, data=read_bytes(path))
    except (FileNotFoundError, NotADirectoryError):
        return FileRead(path=path)
    except OSError as exc:
        return FileRead(path=path, problem=cannot_read(path, exc))


def _error(code: int) -> OSError:
    if code in (errno.EACCES, errno.EPERM):
        return PermissionError(code, os.strerror(code))
    return OSError(code, os.strerror(code))


class FileReader:
    """Reads every file afresh."""

    def read(self, path: Path) -> FileRead:
        return read_file(path)

    def exists(self, path: Path) -> bool:
        stamp = fingerprint(path)
        return len(stamp) > 1 and stat.S_ISREG(stamp[3])


class CachingReader(FileReader):
    """Returns the earlier read of a file whose fingerprint has not changed."""

    def __init__(self) -> None:
        self._reads: dict[Path, tuple[Fingerprint, FileRead]] = {}

    def read(self, path: Path) -> FileRead:
        stamp = fingerprint(path)
        cached = self._reads.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        result = read_file(path, stamp)
        self._reads[path] = (stamp, result)
        return result

    def forget(self, paths: list[Path] | None = None) -> None:
        """Drop cached reads of ``paths`` (all when None)."""
        if paths is None:
            self._reads.clear()
            return
        for path in paths:
            self._reads.pop(path, None)

    def keep_only(self, paths: set[Path]) -> None:
        for path in list(self._reads):
            if path not in paths:
                del self._reads[path]
