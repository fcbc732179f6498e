"""Publishing output files atomically and exclusively: the one place that does it.

Every writer stages its bytes in a hidden file beside the target (so the rename stays on one file
system) and publishes it in one step:

* with ``overwrite=False`` the target is created **exclusively** (a hard link of the staged file,
  or ``O_EXCL`` where the file system has no hard links): of two concurrent runs exactly one
  succeeds, the other gets :class:`~radiomap_geo.errors.OutputExistsError`; nothing is clobbered;
* with ``overwrite=True`` the staged file replaces the target (``os.replace``).

Staging files are named ``.<target name>.<pid>.<random>.staging``; a run killed by SIGKILL cannot
remove its own, so :func:`clean_stale_staging` removes those whose process is gone (never those of
a live concurrent run). Operating-system failures become :class:`OutputError` messages that say
what happened ("no space left on device", "permission denied") instead of a library's
"could not write TIFF".
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from radiomap_geo.errors import OutputError, OutputExistsError

log = logging.getLogger(__name__)
STAGING_SUFFIX = ".staging"
_STAGING_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[^.]+" + re.escape(STAGING_SUFFIX))
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_ACCESS = (errno.EACCES, errno.EPERM, errno.EROFS)
#: A write that fails with less free space than this is reported as a full disk.
NEARLY_FULL_BYTES = 1 << 20


def default_permissions(path: Path) -> None:
    """Give a published file the mode a plain ``open()`` would (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def check_target(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing target without ``overwrite``; create its folder; clean stale staging.

    Call it before computing, so a long run does not fail at its very end.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} exists: pass --overwrite (overwrite=True) to replace it", parameter="output"
        )
    with os_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied", str(path.parent))
    clean_stale_staging(path)
    # A folder can pass the access check and still take no new file (/proc, some mounts):
    # find out now, not after the run.
    staging_path(path).unlink()
    return path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: the same resolved path (neither has to exist), or
    existing paths that are one file (hard links, case-insensitive file systems).
    """
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def is_within(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (symbolic links and ``..`` resolved)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_staging(target: str | os.PathLike) -> list[Path]:
    """Remove staging files of ``target`` left by runs that no longer exist; returns them."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    for candidate in target.parent.glob(f".{target.name}.*{STAGING_SUFFIX}"):
        match = _STAGING_NAME.match(candidate.name)
        if not match or match["target"] != target.name or _process_alive(int(match["pid"])):
            continue
        with suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
            log.info("removed %s, left by an interrupted run (process %s)", candidate, match["pid"])
    return removed


def remove_dead_staging(folder: str | os.PathLike) -> list[Path]:
    """Remove every staging file in ``folder`` whose run is gone (any target); returns them."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for candidate in folder.glob(f".*{STAGING_SUFFIX}"):
        match = _STAGING_NAME.match(candidate.name)
        if match and not _process_alive(int(match["pid"])):
            with suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def staging_path(target: Path) -> Path:
    """A new, empty, hidden staging file beside ``target`` (see :func:`clean_stale_staging`)."""
    try:
        with os_errors(target):
            handle, name = tempfile.mkstemp(
                prefix=f".{target.name}.{os.getpid()}.", suffix=STAGING_SUFFIX, dir=target.parent
            )
    except OutputError:
        raise
    except OSError as exc:  # e.g. a virtual file system such as /proc that takes no new files
        raise OutputError(
            f"cannot create a file in {target.parent} ({exc.strerror or exc}): choose another "
            "output folder",
            parameter="output",
        ) from exc
    os.close(handle)
    return Path(name)


def publish(staging: Path, target: Path, overwrite: bool) -> Path:
    """Move a complete staging file onto ``target`` (exclusively unless ``overwrite``)."""
    with os_errors(target):
        default_permissions(staging)
        if overwrite:
            os.replace(staging, target)
            return target
        try:
            os.link(staging, target)
        except FileExistsError:
            raise _raced(target) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            _claim_then_replace(staging, target)
        else:
            staging.unlink()
    return target


def _claim_then_replace(staging: Path, target: Path) -> None:
    """Exclusive publication on file systems without hard links (FAT, some network shares)."""
    try:
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        raise _raced(target) from None
    os.replace(staging, target)


@contextmanager
def os_errors(target: Path) -> Iterator[None]:
    """Turn a full disk or a write-protected folder into an :class:`OutputError` naming both.

    Libraries that write through their own I/O layer (GDAL's "TIFFWriteDirectorySec: IO error")
    lose the operating system's reason: a failed write in a folder with almost no free space left
    is then reported as the full disk it is.
    """
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:
        error = describe_os_error(exc, target)
        if error is None:
            raise
        raise error from exc


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def describe_os_error(exc: BaseException, target: Path) -> OutputError | None:
    """An :class:`OutputError` for a disk-full or permission failure, else None.

    Only an ``OSError`` carries the system's ``errno`` (GDAL's exceptions have an ``errno`` too,
    but it is GDAL's error class: 1 is "AppDefined", not EPERM). Without one, the message and the
    state of the folder decide.
    """
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc).lower()
    if code in _NO_SPACE or "no space left" in text or "disk quota" in text:
        return _cannot_write("full", target)
    if code in _NO_ACCESS or "permission denied" in text or "read-only file system" in text:
        return _cannot_write("read-only", target)
    if code is not None:
        return None
    free = _free_bytes(target.parent)  # a library's I/O error without the system's reason
    if free is not None and free < NEARLY_FULL_BYTES:
        return _cannot_write("full", target)
    if target.parent.is_dir() and not os.access(target.parent, os.W_OK):
        return _cannot_write("read-only", target)
    return None


def _raced(target: Path) -> OutputExistsError:
    return OutputExistsError(
        f"{target} was created by another run meanwhile: pass --overwrite (overwrite=True) to "
        "replace it, or choose another output",
        parameter="output",
    )


#: Why an output cannot be written, as the user is told it.
_CANNOT_WRITE = {
    "read-only": "cannot write {target}: {target.parent} is read-only or not writable by you; "
    "choose another output folder",
    "full": "no space left on device while writing {target}: free space in {target.parent} or "
    "write elsewhere",
}


def _cannot_write(cause: str, target: Path) -> OutputError:
    return OutputError(_CANNOT_WRITE[cause].format(target=target), parameter="output")


@contextmanager
def atomic_path(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging path to write; publish it on a clean exit, remove it on any error.

    For writers that want a path (GDAL, torch, numpy). Without ``overwrite`` an existing target
    is refused before anything is written (see :func:`check_target`).
    """
    target = check_target(target, overwrite)
    staging = staging_path(target)
    try:
        with os_errors(target):
            yield staging
        publish(staging, target, overwrite)
    finally:
        with suppress(FileNotFoundError):
            staging.unlink()


@contextmanager
def atomic_open(
    target: str | os.PathLike, mode: str = "w", *, overwrite: bool = True, fsync: bool = True
) -> Iterator[IO]:
    """Like ``open(target, mode)``, but the file appears complete or not at all.

    Defaults to ``overwrite=True``: for state files (manifests, checkpoints, JSON records) that a
    run rewrites as it goes.
    """
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(target, overwrite=overwrite) as staging:
        with open(staging, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            if fsync:
                os.fsync(stream.fileno())


def atomic_write_bytes(target: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_open`)."""
    with atomic_open(target, "wb", overwrite=overwrite) as stream:
        stream.write(data)
    return Path(target)


def atomic_save(
    target: str | os.PathLike, write: Callable[[Path], object], *, overwrite: bool = True
) -> Path:
    """Call ``write(staging_path)`` and publish the result atomically at ``target``."""
    with atomic_path(target, overwrite=overwrite) as staging:
        write(staging)
    return Path(target)
