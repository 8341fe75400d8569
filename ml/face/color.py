"""Grayscale handling of CodeFormer's helper.

CodeFormer tends to colourise faces. When the input is grey, the reference turns each restored
face grey and gives it the crop's per-channel mean and spread (AdaIN), so the face matches the
photo's tint instead of looking pasted in.
"""

from __future__ import annotations

import numpy as np

GRAY_THRESHOLD = 10.0
_EPS = 1e-5


def is_gray(image: np.ndarray, threshold: float = GRAY_THRESHOLD) -> bool:
    """True when the mean variance of the pairwise channel differences is at most ``threshold``
    (in 8-bit units; pass float images on the 0..255 scale)."""
    if image.ndim == 2 or image.shape[2] == 1:
        return True
    channels = [image[:, :, i].astype(np.float64) for i in range(3)]
    diffs = [(channels[0] - channels[1]).var(), (channels[1] - channels[2]).var(), (channels[2] - channels[0]).var()]
    return sum(diffs) / 3.0 <= threshold


def gray_face_like(restored: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """Restored BGR face -> grey (BT.601 weights, 3 channels), re-tinted to the crop's statistics.

    Returns float64; the values can leave [0, 255] slightly and are clipped when the image is
    finally converted to integers.
    """
    blue, green, red = (restored[:, :, i].astype(np.float64) for i in range(3))
    gray = 0.2989 * red + 0.5870 * green + 0.1140 * blue
    gray3 = np.repeat(gray[:, :, None], 3, axis=2)
    content_mean, content_std = _mean_std(gray3)
    style_mean, style_std = _mean_std(crop.astype(np.float64))
    return (gray3 - content_mean) / content_std * style_std + style_mean


def _mean_std(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = image.reshape(-1, image.shape[2])
    return flat.mean(axis=0), np.sqrt(flat.var(axis=0) + _EPS)
