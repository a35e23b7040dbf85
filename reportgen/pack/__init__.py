"""The pack stage: the rendered outputs, the snapshot copy, README.txt, the manifest and its
signature, written beside the target and swapped into place in one step (``writer``), and
their verification (``verify``)."""
