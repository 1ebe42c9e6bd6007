"""Debito's command line, supervisor and scheduler: the parts that run the
cluster rather than belong to one service."""
