"""Load generator for the conversations server: client processes, sender, monitors, reports.

`load-tests/run.py` is the entry point; it puts `load-tests/` on `sys.path` so this package
imports as `loadgen` without being installed.
"""
