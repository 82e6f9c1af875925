"""The intent and the catalog as files a person or a GitOps tool reads.

* :mod:`baseline.render.manifests`: ``fleet-baseline render``: the in-cluster baseline as plain YAML
  for Argo CD or Flux, from the same function the in-cluster component registers.
* :mod:`baseline.render.listing`: ``fleet-baseline controls``: the catalog as a listing, and the
  control-by-cloud matrix of ``docs/controls.md``.
"""

from __future__ import annotations

__all__: list[str] = []
