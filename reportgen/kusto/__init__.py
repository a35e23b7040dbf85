"""The Kusto query checker shipped with reportgen: ``check.js`` runs the official Kusto parser.

``check.js`` is a small node program around ``@kusto/language-service-next`` (npm). It reads
the declared table schemas and every query text from stdin, and returns per query the
parser's diagnostics, the result columns it computes, and Resource Graph subset problems.
``reportgen.catalog.check_queries`` drives it.
"""

from pathlib import Path

CHECK_SCRIPT = Path(__file__).resolve().parent / "check.js"
