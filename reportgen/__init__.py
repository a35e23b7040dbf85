"""reportgen: audit-ready evidence packs for vulnerable running container images in AKS.

The pipeline is collect -> snapshot -> aggregate -> render; see ``reportgen.pipeline``.
"""

__version__ = "0.1.0"
TOOL_NAME = "reportgen"
