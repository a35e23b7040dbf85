"""Everything KQL in one place: the query catalogue, the checks and the embedded engine.

``catalog``   the query files, their parameters and the exact text sent;
``parser``    the bridge to the official Kusto parser (node, ``check.js``);
``subset``    the Azure Resource Graph subset of KQL, as data (``resource_graph_subset.yaml``);
``check``     ``reportgen queries check``: parser, subset and result columns per query file;
``engine``    an embedded KQL engine (duckdb-kql on DuckDB) that runs the same query files over
              raw Azure-shaped records, for the sample tenant and the test emulator.
"""
