"""One module per group of routes; :mod:`polypdet.api.app` includes them all."""
