"""Infrastructure several apps use, below all of them (healthchecks keeps the same in ``hc/lib``).

Modules here may import ``config`` and Django, never ``accounts``, ``billing``, ``jobs`` or
``restoration``: the domain layer (``jobs/``) and the web layer (``restoration/``) both build on
them, so the request path never has to turn back into the web layer.
"""
