"""The program ``fleet-baseline plan`` runs for stacks that come without one (``--stacks-dir`` only): the
same three lines ``fleet-baseline init`` writes, shipped in the package."""
