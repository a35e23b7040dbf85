"""The pack's manifest: sha256 and size of every file, and the one way pack files are read.

``manifest.json`` (schema ``reportgen.manifest/1``) lists every file of the pack except
itself and its detached signature ``manifest.json.sig``, with the tool version, the
library versions that shaped the bytes, the run id, the snapshot fingerprint and the
as-of time. ``reportgen.pack.verify`` checks a pack against it.

A pack may come from anyone, so its files are never reached by path. ``PackFolder`` opens
the folder once (``O_DIRECTORY | O_NOFOLLOW``) and reaches every file from that descriptor
one path component at a time, each with ``O_NOFOLLOW``; a file is read only after
``fstat`` shows a regular file. So a symbolic link (to a copy elsewhere, or inside the
pack) can never stand in for a pack file or folder, and a FIFO or device is never opened
for reading, where it could block or have side effects. Writing uses the same walk, so a
manifest never lists what verify would refuse.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from importlib import metadata
from pathlib import Path
from typing import Mapping, Self

from reportgen import TOOL_NAME, __version__
from reportgen.render.interface import MANIFEST, SIGNATURE

MANIFEST_SCHEMA = "reportgen.manifest/1"
# Libraries whose versions decide the exact bytes of the PDF, workbook, charts and snapshot
# copy: re-rendering gives identical files only with the same versions.
RENDER_LIBRARIES = ("weasyprint", "pydyf", "fonttools", "matplotlib", "openpyxl", "jinja2", "pandas", "pyarrow", "numpy")
# A pack is three folders deep; far deeper nesting is not ours and would only exhaust descriptors.
MAX_DEPTH = 16

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: should a FIFO be swapped in between the type check and the open, the open
# still returns at once (and fstat then refuses it); on a regular file it changes nothing.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20


class NotRegular(Exception):
    """A pack path that is, or lies below, an entry other than a regular file or folder."""

    def __init__(self, rel: str, kind: str):
        super().__init__(f"{rel}: {kind}")
        self.rel, self.kind = rel, kind


def entry_kind(mode: int) -> str:
    """What a non-regular entry is, for a problem line."""
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return kind
    return "not a regular file"


class PackFolder:
    """A pack folder opened once, without following a link; every file below it is reached
    from that descriptor, no path component followed if it is a link."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd = os.open(self.path, _DIR_FLAGS)  # ELOOP when the folder itself is a link

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def walk(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Every regular file (sorted POSIX paths) and every other entry as (path, kind):
        links, FIFOs, sockets and devices. A link to a folder is not entered."""
        files: list[str] = []
        odd: list[tuple[str, str]] = []
        self._walk(self.fd, "", 0, files, odd)
        return sorted(files), sorted(odd)

    def _walk(self, dir_fd: int, prefix: str, depth: int, files: list[str], odd: list[tuple[str, str]]) -> None:
        with os.scandir(dir_fd) as it:  # scandir works on a duplicate of dir_fd
            entries = sorted((e.name, e) for e in it)
        for name, entry in entries:
            rel = prefix + name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue  # removed since it was listed
            if stat.S_ISREG(mode):
                files.append(rel)
            elif not stat.S_ISDIR(mode):
                odd.append((rel, entry_kind(mode)))
            elif depth + 1 >= MAX_DEPTH:
                odd.append((rel, f"a folder nested more than {MAX_DEPTH} deep"))
            else:
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError:  # replaced (by a link, say) since it was listed
                    odd.append((rel, self._kind(name, dir_fd)))
                    continue
                try:
                    self._walk(sub, rel + "/", depth + 1, files, odd)
                finally:
                    os.close(sub)

    @staticmethod
    def _kind(name: str, dir_fd: int) -> str:
        try:
            return entry_kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError as exc:
            return f"unreadable ({exc.strerror})"

    def open_regular(self, rel: str) -> int:
        """A read descriptor on the regular file ``rel`` (a POSIX path below the folder).

        ``FileNotFoundError`` when it does not exist; ``NotRegular`` naming the entry when
        it or a folder above it is a link, FIFO, socket or device.
        """
        parts = rel.split("/")
        opened: list[int] = []
        dir_fd = self.fd
        try:
            for i, part in enumerate(parts[:-1]):
                try:
                    dir_fd = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    raise _refusal("/".join(parts[:i + 1]), part, dir_fd, exc) from None
                opened.append(dir_fd)
            name = parts[-1]
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            if not stat.S_ISREG(mode):
                raise NotRegular(rel, entry_kind(mode))
            try:
                fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                raise _refusal(rel, name, dir_fd, exc) from None
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):  # swapped since the check above
                os.close(fd)
                raise NotRegular(rel, entry_kind(mode))
            return fd
        finally:
            for fd_ in opened:
                os.close(fd_)

    def read_bytes(self, rel: str) -> bytes:
        fd = self.open_regular(rel)
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def digest(self, rel: str) -> tuple[str, int]:
        """sha256 (hex) and size in bytes of the regular file ``rel``, read from one descriptor."""
        fd = self.open_regular(rel)
        h, size = hashlib.sha256(), 0
        with os.fdopen(fd, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size


def _refusal(rel: str, name: str, dir_fd: int, exc: OSError) -> Exception:
    """Why a no-follow open of ``name`` (pack path ``rel``) failed: missing, or not regular."""
    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):
        return exc
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        mode = None
    if mode is None or stat.S_ISREG(mode):  # a file where a folder was expected: the path does not exist
        return FileNotFoundError(errno.ENOENT, "no such file", rel)
    return NotRegular(rel, entry_kind(mode))


def pack_files(pack_dir: Path) -> list[str]:
    """Every regular file of the pack except the manifest (and its signature), as sorted POSIX
    paths, never following a link: links, FIFOs and the like are left out (verify names them)."""
    with PackFolder(pack_dir) as folder:
        files, _ = folder.walk()
    return [rel for rel in files if rel not in (MANIFEST, SIGNATURE)]


def render_environment() -> dict[str, str]:
    """Versions of Python and the rendering libraries (recorded so a re-render can match them)."""
    import platform
    versions = {"python": platform.python_version()}
    for name in RENDER_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_manifest(pack_dir: Path, *, run_id: str, snapshot_fingerprint: str, as_of: str,
                   period: Mapping[str, str] | None = None) -> Path:
    pack_dir = Path(pack_dir)
    with PackFolder(pack_dir) as folder:
        files = []
        for rel in (r for r in folder.walk()[0] if r not in (MANIFEST, SIGNATURE)):
            sha256, size = folder.digest(rel)
            files.append({"path": rel, "sha256": sha256, "size": size})
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "environment": render_environment(),
        "run_id": run_id,
        "snapshot_sha256": snapshot_fingerprint,
        "as_of": as_of,
        **({"period": dict(period)} if period else {}),
        "files": files,
    }
    path = pack_dir / MANIFEST
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def parse_manifest(data: bytes) -> dict:
    """The manifest in ``data`` as a dict; ``ValueError`` naming the problem when it is unreadable."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise ValueError("expected an object with a 'files' list")
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise ValueError(f"unknown schema {manifest.get('schema')!r}, this reportgen reads {MANIFEST_SCHEMA}")
    return manifest


def read_manifest(pack_dir: Path) -> dict:
    """The pack's manifest as a dict, read without following a link; ``ValueError`` naming the
    problem when it is unreadable."""
    try:
        with PackFolder(pack_dir) as folder:
            data = folder.read_bytes(MANIFEST)
    except NotRegular as exc:
        raise ValueError(f"{exc.kind}, not a regular file") from None
    except OSError as exc:
        raise ValueError(f"not readable JSON ({exc})") from None
    return parse_manifest(data)
