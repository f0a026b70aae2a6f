"""Benchmarks of nodelatency.monitor beside the tools users would otherwise pick.

``python -m benchmarks`` (``make bench``) runs them on labs of their own and prints
one table; see docs/benchmarks.md.
"""
