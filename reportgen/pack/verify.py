"""``reportgen verify``: a pack checked against its manifest, its snapshot, its signature and,
with ``--deep``, a re-render of its own snapshot.

``verify_pack`` trusts nothing in the folder. It opens the pack once and reads every file
through ``manifest.PackFolder``, so no symbolic link is ever followed; any entry that is
not a regular file or folder (a link to a file or folder, inside the pack or out, a FIFO,
socket or device) is a problem. It re-hashes every file, reports missing and unexpected
files, re-checks the copied snapshot's own dataset and query hashes against its
``snapshot.json`` and, given a public key, the manifest's signature over the very bytes it
parsed. Every problem is one line naming the file; an empty list means the pack is intact.

What that proves: anyone can recompute the hashes, so a manifest alone shows only that the
files match the manifest beside them. A signature checked against a key obtained out of
band shows who made the pack; ``deep_check`` shows that the figures follow from the
snapshot, by rendering it again in a temporary folder and comparing every file and every
figure of summary.json.

The pack folder given must not itself be a symbolic link: verify does not resolve it on the
user's behalf, so the folder named in the output is the folder that was read. A folder
named like reportgen's unfinished folders (``.NAME.partial-XXXX``) is refused: it is a
half-written or replaced pack, never one to hand over.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping


from reportgen.config import RunConfig, with_frameworks
from reportgen.errors import ReportgenError, UsageError
from reportgen.outdir import is_hidden_work_folder
from reportgen.pack.manifest import NotRegular, PackFolder, parse_manifest
from reportgen.pack.signing import signature_problems
from reportgen.progress import QUIET
from reportgen.render.interface import MANIFEST, SIGNATURE, SNAPSHOT_DIR

_DATASET_NAME = re.compile(r"[A-Za-z0-9_]+")
SUMMARY = "summary.json"  # render.summary.SUMMARY, named here so that plain verify loads no pandas
MAX_FIGURE_LINES = 40  # summary.json differences listed before "and N more"


def _safe_relative(path: object) -> bool:
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        return False
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts and "." not in pure.parts and pure.as_posix() == path


def shown(name: object) -> str:
    """A path as printed: names come from the folder, so one holding a newline or a control
    character is quoted rather than allowed to forge an output line."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def _not_regular(rel: str, kind: str) -> str:
    return f"{shown(rel)}: {kind}, not a regular file or folder (verify follows no links)"


def _below(rel: str, entries: set[str]) -> bool:
    """True when ``rel`` is one of ``entries`` or lies below one (already reported)."""
    parts = rel.split("/")
    return any("/".join(parts[:i]) in entries for i in range(1, len(parts) + 1))


def open_pack(pack_dir: Path) -> tuple[PackFolder | None, list[str]]:
    """The pack folder opened for reading, or the one line saying why it is refused.

    ``UsageError`` when ``pack_dir`` is no folder at all (the user named the wrong path).
    """
    pack_dir = Path(pack_dir)
    if pack_dir.is_symlink():
        return None, [f"{shown(pack_dir)}: a symbolic link; verify follows no links, not even to the pack folder "
                      f"(name the folder itself: {shown(os.path.realpath(pack_dir))})"]
    if not pack_dir.is_dir():
        raise UsageError(f"{pack_dir}: not a folder", hint="pass the pack folder written by render or demo")
    real = Path(os.path.realpath(pack_dir))
    if is_hidden_work_folder(real.name):
        named = pack_dir if pack_dir.name == real.name else real
        return None, [f"{shown(named)}: unfinished or replaced pack, not a pack (reportgen builds and removes "
                      f"packs under hidden .NAME.partial-XXXX names)"]
    try:
        return PackFolder(pack_dir), []
    except OSError as exc:  # replaced since the checks above
        return None, [f"{shown(pack_dir)}: cannot be opened as a folder without following links ({exc.strerror})"]


def verify_pack(pack_dir: Path, public_key=None) -> list[str]:
    """Problems found, one line each naming the file; empty when the pack is intact.

    ``public_key`` (an Ed25519 public key) also checks ``manifest.json.sig``.
    """
    folder, refused = open_pack(pack_dir)
    if folder is None:
        return refused
    with folder:
        return _verify(folder, public_key)


def _verify(folder: PackFolder, public_key) -> list[str]:
    files, odd = folder.walk()
    problems = [_not_regular(rel, kind) for rel, kind in odd]
    reported = {rel for rel, _ in odd}
    if MANIFEST in reported:
        return problems
    if MANIFEST not in files:
        return problems + [f"{MANIFEST}: missing (not an evidence pack, or an incomplete one)"]
    try:
        manifest_bytes = folder.read_bytes(MANIFEST)
        manifest = parse_manifest(manifest_bytes)
    except NotRegular as exc:
        return problems + [_not_regular(exc.rel, exc.kind)]
    except (OSError, ValueError) as exc:
        return problems + [f"{MANIFEST}: unreadable manifest: {exc}"]
    listed: dict[str, dict] = {}
    for entry in manifest["files"]:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not _safe_relative(rel) or rel in (MANIFEST, SIGNATURE):
            problems.append(f"{MANIFEST}: bad file entry {rel if isinstance(rel, str) else entry!r}"[:300])
        elif rel in listed:
            problems.append(f"{MANIFEST}: {shown(rel)} listed twice")
        else:
            listed[rel] = entry
    present = set(files) - {MANIFEST, SIGNATURE}
    hashes: dict[str, str] = {}
    for rel in sorted(listed):
        if _below(rel, reported):
            continue  # the link (or FIFO...) in its place is already named
        entry = listed[rel]
        missing = f"{shown(rel)}: missing (listed in {MANIFEST})"
        if rel not in present:
            problems.append(missing)
            continue
        try:
            hashes[rel], size = folder.digest(rel)
        except FileNotFoundError:  # removed since the walk
            problems.append(missing)
            continue
        except NotRegular as exc:  # swapped since the walk
            problems.append(_not_regular(exc.rel, exc.kind))
            continue
        if size != entry.get("size") or hashes[rel] != entry.get("sha256"):
            problems.append(f"{shown(rel)}: changed (sha256 does not match {MANIFEST})")
    for rel in sorted(present - set(listed)):
        problems.append(f"{shown(rel)}: unexpected file (not in {MANIFEST})")
    problems += _snapshot_problems(folder, manifest, hashes, reported)
    if public_key is not None and SIGNATURE not in reported:
        problems += _signature_problems(folder, manifest_bytes, public_key)
    return problems


def _signature_problems(folder: PackFolder, manifest_bytes: bytes, public_key) -> list[str]:
    """The signature checked over the manifest bytes that were parsed, not a second read."""
    try:
        signature = folder.read_bytes(SIGNATURE)
    except FileNotFoundError:
        return [f"{SIGNATURE}: missing (the pack is not signed; sign it with 'reportgen sign')"]
    except NotRegular as exc:
        return [_not_regular(exc.rel, exc.kind)]
    return signature_problems(signature, manifest_bytes, public_key)


def verify_snapshot_copy(pack_dir: Path, manifest: Mapping | None = None,
                         known_hashes: Mapping[str, str] | None = None) -> list[str]:
    """Re-check ``snapshot/snapshot.json``: its fingerprint in the manifest, and the sha256 of
    every dataset file and query text it lists (read without following links)."""
    with PackFolder(pack_dir) as folder:
        return _snapshot_problems(folder, manifest, known_hashes or {}, set())


def _snapshot_problems(folder: PackFolder, manifest: Mapping | None, known_hashes: Mapping[str, str],
                       reported: set[str]) -> list[str]:
    meta_rel = f"{SNAPSHOT_DIR}/snapshot.json"
    if _below(meta_rel, reported):
        return []
    try:
        meta_bytes = folder.read_bytes(meta_rel)
    except FileNotFoundError:
        return []  # a pack without a snapshot copy: the manifest check names what is missing
    except NotRegular as exc:
        return [_not_regular(exc.rel, exc.kind)]
    problems = []
    if manifest is not None and manifest.get("snapshot_sha256") not in (None, hashlib.sha256(meta_bytes).hexdigest()):
        problems.append(f"{meta_rel}: sha256 does not match the manifest's snapshot_sha256")
    try:
        meta = json.loads(meta_bytes.decode("utf-8"))
        datasets = meta["datasets"]
        if not isinstance(datasets, dict):
            raise TypeError("datasets is not an object")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        return problems + [f"{meta_rel}: unreadable ({type(exc).__name__}: {exc})"]

    def sha256_of(rel: str) -> str:
        return known_hashes.get(rel) or folder.digest(rel)[0]

    for name in sorted(datasets):
        entry = datasets[name]
        file = entry.get("file") if isinstance(entry, dict) else None
        if not _safe_relative(file):
            problems.append(f"{meta_rel}: dataset {shown(name)} has no valid file entry")
            continue
        rel = f"{SNAPSHOT_DIR}/{file}"
        if not _below(rel, reported):
            try:
                if sha256_of(rel) != entry.get("sha256"):
                    problems.append(f"{shown(rel)}: sha256 does not match {meta_rel}")
            except FileNotFoundError:
                problems.append(f"{shown(rel)}: missing (listed in {meta_rel})")
            except NotRegular as exc:
                problems.append(_not_regular(exc.rel, exc.kind))
        query_sha = entry.get("query_sha256")
        query = f"{SNAPSHOT_DIR}/queries/{name}.kql"
        # the query hash is of the exact text sent, which the snapshot writes as UTF-8 bytes
        if query_sha and _DATASET_NAME.fullmatch(name) and not _below(query, reported):
            try:
                if sha256_of(query) != query_sha:
                    problems.append(f"{query}: sha256 does not match {meta_rel}")
            except FileNotFoundError:
                pass  # query texts are optional in a snapshot
            except NotRegular as exc:
                problems.append(_not_regular(exc.rel, exc.kind))
    return problems


# --- the deep check: re-render the snapshot and compare ------------------------------------

@dataclass(frozen=True)
class DeepCheck:
    """A pack compared with a re-render of its own snapshot.

    ``not_run`` says why no comparison could be made (then ``problems`` is empty); ``notes``
    give context that is not itself a problem, such as differing library versions.
    """
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    not_run: str | None = None


def deep_check(pack_dir: Path, config: RunConfig | None = None, history_dir: Path | None = None) -> DeepCheck:
    """Re-render ``pack_dir``'s snapshot in a temporary folder and compare every file (sha256)
    and every figure of summary.json; meant for a pack that ``verify_pack`` has passed.

    ``config`` is the ``RunConfig`` the pack was rendered with (the default when None: a pack
    records the figures its configuration produced, not the file). A pack rendered with
    earlier snapshots re-renders only with the same ``history_dir``.
    """
    folder, refused = open_pack(pack_dir)
    if folder is None:
        return DeepCheck(not_run=refused[0])
    with folder, tempfile.TemporaryDirectory(prefix="reportgen-verify-") as tmp:
        try:
            manifest = parse_manifest(folder.read_bytes(MANIFEST))
        except (OSError, NotRegular, ValueError) as exc:
            return DeepCheck(not_run=f"{MANIFEST}: unreadable ({exc})")
        notes: list[str] = []
        changes = _recorded_changes(folder)
        if changes is not None and history_dir is None:
            since = changes.get("previous_as_of") if isinstance(changes, dict) else None
            return DeepCheck(not_run=(
                f"this pack was rendered with earlier snapshots ({SUMMARY} records changes since "
                f"{shown(since or 'an earlier snapshot')}); a re-render without them would differ in every "
                f"figure that uses history: pass --history-dir with the same history folder"))
        if changes is None and history_dir is not None:
            notes.append(f"the pack was rendered without earlier snapshots ({SUMMARY} records no changes): "
                         f"--history-dir {shown(history_dir)} is not used")
            history_dir = None
        snapshot = Path(tmp) / SNAPSHOT_DIR
        copy_problems = _copy_snapshot(folder, manifest, snapshot)
        if copy_problems:
            return DeepCheck(problems=tuple(copy_problems))
        if history_dir is not None:
            history_dir, note = _owner_history(snapshot, history_dir, Path(tmp) / "history")
            notes.extend(note)
        from reportgen import pipeline  # the pipeline sits above the pack stage that imports this module
        given = config is not None
        if not given:   # the audit sample the pack records (its size and seed) is drawn again
            config = _recorded_sample_config(folder)
        # the framework crosswalk the pack records (summary.json "crosswalk"; none when absent) is mapped again
        recorded = _recorded_frameworks(folder)
        if given and config.crosswalk.frameworks and config.crosswalk.frameworks != recorded:
            notes.append(f"the pack records the crosswalk {', '.join(recorded) or 'none'}; re-rendered with it, "
                         f"not with --config's [crosswalk] frameworks {', '.join(config.crosswalk.frameworks)}")
        config = with_frameworks(config or RunConfig(), recorded)
        try:
            result = pipeline.render(snapshot, Path(tmp) / "pack", config or RunConfig(),
                                     history_dir=history_dir, progress=QUIET,
                                     split_by="owner" if _recorded_split(folder) else None)
        except ReportgenError as exc:
            return DeepCheck(not_run=f"re-rendering the snapshot failed: {exc.one_line()}")
        with PackFolder(result.pack_dir) as again:
            rerendered = parse_manifest(again.read_bytes(MANIFEST))
            problems = _compare(folder, manifest, again, rerendered)
    notes = _version_notes(manifest, rerendered) + notes
    if problems and not given:
        notes.append("re-rendered with the default configuration: if the pack was rendered with --config, "
                     "pass the same --config (and its exceptions and owner mapping files)")
    return DeepCheck(problems=tuple(problems), notes=tuple(notes))


def _owner_history(snapshot: Path, history_dir: Path, out: Path) -> tuple[Path, list[str]]:
    """For a per-owner pack (its snapshot.json records ``derived_from`` with the owner's cluster ids), the
    main history folder filtered to those clusters exactly as ``render --split-by owner`` did; any other
    pack re-renders with ``history_dir`` as given."""
    from reportgen.pack import split
    from reportgen.snapshot import list_history, read_snapshot
    try:
        meta = json.loads((snapshot / "snapshot.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return history_dir, []
    derived = meta.get("derived_from") if isinstance(meta, dict) else None
    ids = derived.get("cluster_ids") if isinstance(derived, dict) else None
    if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids) and isinstance(derived.get("filter"), str)):
        return history_dir, []
    current = read_snapshot(snapshot, datasets=())
    earlier = [read_snapshot(p) for p in list_history(history_dir, before=current.collected_at)]
    filtered = split.filtered_history(earlier, ids, derived["filter"], out)
    return (filtered or history_dir), [
        f"per-owner pack ({derived['filter']}): the {len(earlier)} earlier snapshot(s) of --history-dir were "
        f"filtered to its {len(ids)} cluster(s) as render --split-by owner does"]


def _recorded_sample_config(folder: PackFolder) -> RunConfig | None:
    """The default configuration with the audit sample size and seed summary.json records; None when it
    records none (the default sample, or none drawn)."""
    try:
        summary = json.loads(folder.read_bytes(SUMMARY).decode("utf-8"))
    except (OSError, NotRegular, ValueError):
        return None
    sample = summary.get("audit_sample") if isinstance(summary, dict) else None
    if not isinstance(sample, dict):
        return None
    size, seed = sample.get("size"), sample.get("seed")
    if not (isinstance(size, int) and isinstance(seed, int) and size >= 0 and seed >= 0):
        return None
    from reportgen.config import with_audit_sample
    return with_audit_sample(RunConfig(), size, seed)


def _recorded_frameworks(folder: PackFolder) -> tuple[str, ...]:
    """The framework ids of summary.json's ``crosswalk``, in order; () when it has none."""
    try:
        summary = json.loads(folder.read_bytes(SUMMARY).decode("utf-8"))
    except (OSError, NotRegular, ValueError):
        return ()
    crosswalk = summary.get("crosswalk") if isinstance(summary, dict) else None
    frameworks = crosswalk.get("frameworks") if isinstance(crosswalk, dict) else None
    if not isinstance(frameworks, list):
        return ()
    return tuple(str(f["id"]) for f in frameworks if isinstance(f, dict) and isinstance(f.get("id"), str))


def _recorded_split(folder: PackFolder) -> bool:
    """True when summary.json indexes per-owner packs (rendered with --split-by owner)."""
    try:
        summary = json.loads(folder.read_bytes(SUMMARY).decode("utf-8"))
    except (OSError, NotRegular, ValueError):
        return False
    return isinstance(summary, dict) and bool(summary.get("by_owner"))


def _recorded_changes(folder: PackFolder) -> object | None:
    """summary.json's ``changes``: present only when earlier snapshots were used."""
    try:
        summary = json.loads(folder.read_bytes(SUMMARY).decode("utf-8"))
    except (OSError, NotRegular, ValueError):
        return None  # the comparison names an unreadable summary.json
    return summary.get("changes") if isinstance(summary, dict) else None


def _copy_snapshot(folder: PackFolder, manifest: Mapping, dest: Path) -> list[str]:
    """Copy the pack's snapshot files, as listed and hashed in its manifest, to ``dest``: the
    re-render reads exactly the bytes that were checked, from a folder nobody else writes."""
    problems = []
    dest.mkdir()
    for entry in manifest["files"]:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not _safe_relative(rel) or not rel.startswith(SNAPSHOT_DIR + "/"):
            continue
        try:
            data = folder.read_bytes(rel)
        except (OSError, NotRegular) as exc:
            problems.append(f"{shown(rel)}: unreadable for the re-render ({exc})")
            continue
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            problems.append(f"{shown(rel)}: changed (sha256 does not match {MANIFEST})")
            continue
        target = dest / rel[len(SNAPSHOT_DIR) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as fh:
            fh.write(data)
    return problems


def _compare(folder: PackFolder, manifest: Mapping, again: PackFolder, rerendered: Mapping) -> list[str]:
    problems = []
    for key in ("run_id", "snapshot_sha256", "as_of", "period"):
        if manifest.get(key) != rerendered.get(key):
            problems.append(f"{MANIFEST}: {key} {_value(manifest.get(key))} != {_value(rerendered.get(key))} "
                            f"(re-rendered)")
    ours = [e["path"] for e in manifest["files"] if isinstance(e, dict) and _safe_relative(e.get("path"))]
    theirs = [e["path"] for e in rerendered["files"]]
    for rel in sorted(set(ours) | set(theirs)):
        if rel not in theirs:
            problems.append(f"{shown(rel)}: not in the re-rendered pack")
            continue
        if rel not in ours:
            problems.append(f"{shown(rel)}: missing (the re-rendered pack has it)")
            continue
        try:
            mine = folder.digest(rel)[0]
        except (OSError, NotRegular) as exc:
            problems.append(f"{shown(rel)}: unreadable ({exc})")
            continue
        other = again.digest(rel)[0]
        if mine != other:
            figures = _summary_differences(folder, again) if rel == SUMMARY else []
            problems += figures or [f"{shown(rel)}: differs from the re-rendered file "
                                    f"(sha256 {mine[:12]}... != {other[:12]}...)"]
    return problems


def _summary_differences(folder: PackFolder, again: PackFolder) -> list[str]:
    """summary.json compared figure by figure: one line per JSON path whose value differs."""
    try:
        mine = json.loads(folder.read_bytes(SUMMARY).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{SUMMARY}: not readable JSON ({exc}), unlike the re-rendered one"]
    other = json.loads(again.read_bytes(SUMMARY).decode("utf-8"))
    lines = [f"{SUMMARY}: {path or '(the whole document)'} {_value(a)} != {_value(b)} (re-rendered)"
             for path, a, b in _json_differences(mine, other, "")]
    if len(lines) > MAX_FIGURE_LINES:
        lines = lines[:MAX_FIGURE_LINES] + [f"{SUMMARY}: and {len(lines) - MAX_FIGURE_LINES:,} more figures differ"]
    return lines


_ABSENT = object()


def _json_differences(a: object, b: object, path: str) -> Iterator[tuple[str, object, object]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}" if path else str(key)
            yield from _json_differences(a.get(key, _ABSENT), b.get(key, _ABSENT), sub)
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            yield from _json_differences(a[i] if i < len(a) else _ABSENT, b[i] if i < len(b) else _ABSENT,
                                         f"{path}[{i}]")
    elif type(a) is not type(b) or a != b:  # 1 and 1.0 and True are different figures here
        yield path, a, b


def _value(value: object) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return shown(text if len(text) <= 60 else text[:57] + "...")


def _version_notes(manifest: Mapping, rerendered: Mapping) -> list[str]:
    """A byte-exact re-render needs the same reportgen and library versions (manifest tool and
    environment): name those that differ, since differences may come from them."""
    def versions(m: Mapping) -> dict[str, str]:
        tool = m.get("tool") if isinstance(m.get("tool"), dict) else {}
        env = m.get("environment") if isinstance(m.get("environment"), dict) else {}
        return {"reportgen": tool.get("version"), **env}
    recorded, here = versions(manifest), versions(rerendered)
    differing = [f"{name} {shown(recorded.get(name) or 'not recorded')} (here {shown(here.get(name) or 'none')})"
                 for name in sorted(set(recorded) | set(here)) if recorded.get(name) != here.get(name)]
    if not differing:
        return []
    return [f"the pack was rendered with {', '.join(differing)}: files may differ because of these versions "
            f"rather than a change to the pack; re-render with the versions in {MANIFEST} to be sure"]
