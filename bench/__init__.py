"""Tokenboard's benchmark harness: ingest and page speed against the database's own limit.

Run it with `python -m bench run` (see bench/__main__.py for the options); results go to
bench/results/latest.json. docs/scaling.md explains what the numbers mean for scale-out.
"""
