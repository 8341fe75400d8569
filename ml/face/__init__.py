"""CodeFormer's face helper, re-implemented: geometry (upsizing, detector frame, alignment,
inverse affine), the paste-back blend, and grayscale handling.

These modules are numpy/OpenCV only; the networks (detector, parser, restorers) live in
``ml.models`` and are driven by ``ml.pipeline``.
"""
