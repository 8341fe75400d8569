"""Benchmarks run by hand or from `make bench-*`; nothing here is imported by the service."""
