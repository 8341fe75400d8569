"""Load benchmark of the submission endpoint against a real gunicorn, PostgreSQL and Redis.

Run from the repository root: ``.venv/bin/python -m bench.api_load`` (see README.md).
"""
