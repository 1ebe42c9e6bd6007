"""Benchmarks of Debito (not part of the services): `python -m bench.pain008_vs_sepaxml`."""
