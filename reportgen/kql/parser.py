"""The bridge to the official Kusto parser (``@kusto/language-service-next``, npm), run under node.

``check.js`` loads the parser once, parses every query text against the declared table
schemas and returns, per query, the parser's diagnostics, the result columns it computes
and the constructs the Resource Graph subset check needs (statements, operators, functions,
``mv-expand`` limits), each with its position. The rules applied to those constructs live
in Python and data (``subset.py``, ``resource_graph_subset.yaml``), not in JavaScript.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping

from reportgen.errors import UsageError
from reportgen.snapshot import sha256_text

KUSTO_PACKAGE = "@kusto/language-service-next"
CHECK_SCRIPT = Path(__file__).resolve().parent / "check.js"


def find_kusto_module() -> Path:
    candidates = []
    if os.environ.get("REPORTGEN_NODE_MODULES"):
        candidates.append(Path(os.environ["REPORTGEN_NODE_MODULES"]))
    package_root = Path(__file__).resolve().parent.parent.parent
    candidates += [package_root / "node_modules", Path.cwd() / "node_modules"]
    for base in candidates:
        module = base / KUSTO_PACKAGE
        if (module / "Kusto.Language.Bridge.js").is_file() and (module / "bridge.js").is_file():
            return module
    raise UsageError(
        f"the Kusto parser ({KUSTO_PACKAGE}) is not installed (looked in "
        + ", ".join(str(c) for c in candidates) + ")",
        hint="run `npm ci` in the reportgen checkout (needs node >= 18), or set REPORTGEN_NODE_MODULES")


_CACHE: dict[str, str] = {}


def run_parser(texts: list[tuple[str, str, str]], tables: Mapping[str, Mapping[str, Mapping[str, str]]]) -> list[dict]:
    """Parse (name, service, text) triples with the official Kusto parser in one node process."""
    node = shutil.which("node")
    if node is None:
        raise UsageError("node is not installed; the query check runs the official Kusto parser under node",
                         hint="install Node.js >= 18, then run `npm ci` in the reportgen checkout")
    module = find_kusto_module()
    payload = {
        "module_dir": str(module),
        "services": {s: {"tables": dict(t)} for s, t in tables.items()},
        "queries": [{"name": n, "service": s, "text": t} for n, s, t in texts],
    }
    encoded = json.dumps(payload, sort_keys=True)
    key = sha256_text(encoded)
    if key in _CACHE:  # the parser is slow to start; the same texts give the same answer
        return json.loads(_CACHE[key])
    try:
        proc = subprocess.run([node, str(CHECK_SCRIPT)], input=encoded, capture_output=True,
                              text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"could not run the Kusto parser under node: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise UsageError(f"the Kusto parser failed: {' | '.join(tail)}",
                         hint="run `npm ci` in the reportgen checkout to reinstall it")
    _CACHE[key] = proc.stdout
    return json.loads(proc.stdout)
