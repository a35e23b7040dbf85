"""Output folders that never lose a user's files: checked before the work, replaced atomically.

Every folder reportgen writes (an evidence pack, a snapshot) is built beside its target
under a hidden name, ``.NAME.partial-XXXXXXXX``, and put in place in one step:

1. ``check_target`` runs before any work. The target must not be a symbolic link or a
   file, its parent must exist and be writable, and an existing, non-empty target is
   replaced only when ``replaceable`` says it is our own output (for a pack: a reportgen
   manifest that lists every file in the folder). Anything else is refused with exit 2,
   naming the folder; nothing is deleted.
2. ``build_beside`` makes the hidden folder and holds an exclusive lock
   (``.NAME.lock`` beside the target, ``flock``) for the whole run, so two runs never
   replace the same folder at once and leftovers of earlier, killed runs can be told from
   a live run's: they are removed (each named on stderr) once the lock is held.
3. ``swap_into_place`` exchanges the finished folder with the target in one
   ``renameat2(RENAME_EXCHANGE)`` call (Linux 3.15+, through ctypes), so at every instant
   the target path holds either the old folder or the new one. The old one then sits
   under the hidden name and is removed. Where the system has no atomic exchange (another
   OS, or a file system without it), two renames are used instead and a short window
   remains in which the target path is missing (the README says so).

``reportgen verify`` refuses any folder whose name has the hidden form, so neither a
half-written folder nor a replaced old one can pass for a pack.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from reportgen.errors import UsageError

log = logging.getLogger(__name__)

PARTIAL_INFIX = ".partial-"
# .NAME.partial-XXXX: a folder being built, or an old one being removed after the swap.
HIDDEN_NAME = re.compile(r"^\..+\.partial-[A-Za-z0-9_]+$")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def is_hidden_work_folder(name: str) -> bool:
    """True for ``.NAME.partial-XXXX``: never a finished pack or snapshot."""
    return bool(HIDDEN_NAME.match(name))


def check_target(out: Path, *, option: str, replaceable: Callable[[Path], str | None],
                 inputs: dict[str, Path] | None = None, create_parent: bool = False) -> Path:
    """Refuse (``UsageError``, exit 2) an ``out`` we must not write, before any work.

    ``replaceable(folder)`` returns None when an existing non-empty folder is our own output
    and may be replaced, else the reason it may not. ``inputs`` (label -> path) are read by
    the run: none may lie inside ``out``, which is replaced as a whole.
    """
    out = Path(out)
    name = f"{option} {out}"
    if out.name in ("", ".", ".."):
        raise UsageError(f"{name}: not a folder name", hint="name the folder to write, e.g. --out pack-2026-11")
    if is_hidden_work_folder(out.name):
        raise UsageError(f"{name}: that name is reserved for reportgen's unfinished folders")
    if out.is_symlink():
        raise UsageError(f"{name}: is a symbolic link; refusing to write through it",
                         hint="name the real folder, or a new one")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{name}: exists and is not a folder; refusing to overwrite it",
                         hint="choose a new or empty folder")
    parent = out.parent
    if not parent.exists():
        if not create_parent:
            raise UsageError(f"{name}: its parent folder {parent} does not exist", hint=f"create {parent} first")
        parent.mkdir(parents=True, exist_ok=True)
    if not parent.is_dir():
        raise UsageError(f"{name}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{name}: the folder {parent} is not writable", hint="choose a folder you can write to")
    resolved = out.resolve()
    for label, path in (inputs or {}).items():
        if path is None:
            continue
        src = Path(path).resolve()
        if src == resolved or resolved in src.parents:
            raise UsageError(f"{name}: contains the {label} {path}; replacing it would delete that",
                             hint="write to another folder")
        if src in resolved.parents:
            raise UsageError(f"{name}: lies inside the {label} {path}", hint="write to another folder")
    if out.is_dir() and any(out.iterdir()):
        why = replaceable(out)
        if why is not None:
            raise UsageError(f"{name}: exists and {why}; refusing to overwrite it",
                             hint="choose a new or empty folder; reportgen replaces only its own output")
    return out


def regular_tree(folder: Path) -> tuple[list[str], str | None]:
    """Every regular file under ``folder`` as sorted POSIX paths, walking without following
    symbolic links; the second value names the first entry that is neither a regular file
    nor a folder (a link, FIFO, socket or device), or None."""
    files: list[str] = []
    stack = [Path(folder)]
    while stack:
        current = stack.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                rel = Path(entry.path).relative_to(folder).as_posix()
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    stack.append(Path(entry.path))
                elif stat.S_ISREG(mode):
                    files.append(rel)
                else:
                    return sorted(files), rel
    return sorted(files), None


def holds_only(folder: Path, listed: set[str], index: str) -> str | None:
    """None when every entry under ``folder`` is a regular file named in ``listed``, else why not
    (``index`` names the file that lists them, e.g. "its manifest.json")."""
    files, odd = regular_tree(folder)
    if odd is not None:
        return f"holds {odd}, which is not a regular file"
    extra = [rel for rel in files if rel not in listed]
    if extra:
        more = f" (and {len(extra) - 1:,} more)" if len(extra) > 1 else ""
        return f"holds {extra[0]}{more}, which {index} does not list"
    return None


@contextmanager
def build_beside(out: Path) -> Iterator[Path]:
    """A new hidden folder beside ``out`` to build in, under the lock; removed on any failure."""
    out = Path(out)
    with _locked(out):
        _remove_stale(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{PARTIAL_INFIX}", dir=out.parent))
        try:
            yield tmp
        finally:  # after a swap this is the old folder (already removed); otherwise the unfinished one
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def swap_into_place(tmp: Path, out: Path) -> str:
    """Put the finished folder ``tmp`` at ``out`` in one step; return how ("created",
    "exchanged" or "renamed twice"). The old ``out``, if any, is removed afterwards."""
    tmp, out = Path(tmp), Path(out)
    tmp.chmod(0o777 & ~_umask())  # mkdtemp made it private; the output is for handing over
    if not out.exists() and not out.is_symlink():
        os.rename(tmp, out)
        _fsync_dir(out.parent)
        return "created"
    if exchange(tmp, out):
        _fsync_dir(out.parent)
        shutil.rmtree(tmp, ignore_errors=True)  # the old folder, now under the hidden name
        return "exchanged"
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}{PARTIAL_INFIX}", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)     # from here until the next rename, out is missing: the documented window
    os.rename(tmp, out)
    _fsync_dir(out.parent)
    shutil.rmtree(old, ignore_errors=True)
    return "renamed twice"


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # kernel or file system without exchange: the caller falls back
    raise OSError(err, f"exchanging {a} and {b}: {os.strerror(err)}")


def _renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    lock_path = out.parent / f".{out.name}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{out}: another reportgen run is writing it now",
                             hint="wait for it to finish, or choose another folder") from None
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)  # removed while held, so no run ever waits on a stale one
    finally:
        os.close(fd)


def _remove_stale(out: Path) -> None:
    """Remove the hidden folders of earlier runs into ``out`` (we hold its lock, so none is live)."""
    prefix = f".{out.name}{PARTIAL_INFIX}"
    for entry in sorted(out.parent.iterdir()):
        if entry.name.startswith(prefix) and is_hidden_work_folder(entry.name) and not entry.is_symlink() \
                and entry.is_dir():
            print(f"note: removing {entry}, left unfinished by an earlier run", file=sys.stderr)
            shutil.rmtree(entry, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
