"""The restoration engine: a plain Python package, free of Django.

Importing ``ml`` (or ``ml.errors``, ``ml.options``, ``ml.imageio``, ``ml.weights``) never
imports torch, so the web image can validate inputs and report weight status without it.
Only ``ml.pipeline`` and ``ml.models`` need torch.
"""
