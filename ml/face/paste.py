"""Paste restored faces back into the upscaled image with CodeFormer's blend mask.

The mask is the minimum of two masks warped into the output: a square mask, eroded and
Gaussian-blurred by an amount that grows with the face, and a ParseNet face mask blurred twice.
The face itself is multiplied by the (hard-edged) eroded square, which removes the black
border the inverse warp leaves. Array types follow the reference (float32 square mask, float64
parse mask and blend) because the parity tolerance is tight.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# ParseNet's 19 classes -> face (255) or not (0): background, hat (14), and 16-18 (neck,
# cloth, hair) are excluded so hair and clothing keep their original texture.
_FACE_CLASSES = np.array([0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 255, 0, 0, 0])
_PARSE_BLUR_KERNEL = (101, 101)
_PARSE_BLUR_SIGMA = 11
_PARSE_BORDER = 10
_BLEND_ROWS = 128


def parse_mask(labels: np.ndarray) -> np.ndarray:
    """ParseNet argmax labels (512x512 ints) -> soft face mask in [0, 1], float64, 512x512."""
    mask = _FACE_CLASSES[labels].astype(np.float64)
    mask = cv2.GaussianBlur(mask, _PARSE_BLUR_KERNEL, _PARSE_BLUR_SIGMA)
    mask = cv2.GaussianBlur(mask, _PARSE_BLUR_KERNEL, _PARSE_BLUR_SIGMA)
    # Zero the rim: the crop's outside-the-image fill must never leak into the output.
    mask[:_PARSE_BORDER, :] = 0
    mask[-_PARSE_BORDER:, :] = 0
    mask[:, :_PARSE_BORDER] = 0
    mask[:, -_PARSE_BORDER:] = 0
    return mask / 255.0


def paste_face(
    canvas: np.ndarray,
    face: np.ndarray,
    face_mask: np.ndarray,
    inverse: np.ndarray,
    upscale: int,
) -> np.ndarray:
    """Blend one restored face into ``canvas`` (HxWx3, any numeric dtype); returns it as float64.

    ``face`` is the restored face (NxN BGR, uint8 or float), ``face_mask`` its parse mask at
    512x512 (from ``parse_mask``), ``inverse`` the face->canvas matrix from
    ``geometry.paste_matrix``, and ``upscale`` the output factor (sets the erosion width).
    The masks are computed only over the face's footprint plus a margin wider than the erosion
    and blur kernels, so a 60-megapixel output does not need gigabytes per face; outside it the
    blend weight is exactly 0. (Shifting the warp origin moves OpenCV's fixed-point sampling by
    at most one step: a handful of pixels change by one grey level.)
    """
    result = canvas.astype(np.float64, copy=canvas.dtype != np.float64)
    box = _footprint(face, inverse, canvas.shape[1], canvas.shape[0])
    _blend(result, (0, 0), box, face, face_mask, inverse, upscale)
    return result


def paste_faces(canvas: np.ndarray, faces: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], upscale: int) -> None:
    """Blend ``(face, face_mask, inverse)`` triples, in order, into ``canvas`` in place.

    The same result as ``paste_face`` over the whole canvas, face after face, then the
    reference's final cast (uint8: truncation; uint16, on the 0..65535 scale: rounding of the
    0..255 blend times 257; float canvases keep the value), but only footprints become float64:
    faces whose footprints overlap are blended together in one float64 region, so a later face
    sees an earlier one's unrounded blend, exactly as on a whole float64 canvas. Outside the
    footprints the blend weight is exactly 0, so the cast gives back the canvas' own values.
    """
    height, width = canvas.shape[:2]
    boxes = [_footprint(face, inverse, width, height) for face, _, inverse in faces]
    for (x0, y0, x1, y1), group in _overlapping_groups(boxes):
        target = canvas[y0:y1, x0:x1]
        region = target.astype(np.float64) / (257.0 if canvas.dtype == np.uint16 else 1.0)
        for i in group:
            face, face_mask, inverse = faces[i]
            _blend(region, (x0, y0), boxes[i], face, face_mask, inverse, upscale)
        target[...] = _cast_like(region, canvas.dtype)


def _blend(
    region: np.ndarray,
    origin: tuple[int, int],
    box: tuple[int, int, int, int],
    face: np.ndarray,
    face_mask: np.ndarray,
    inverse: np.ndarray,
    upscale: int,
) -> None:
    """Blend one face into ``region`` (float64, its top-left at ``origin`` in the canvas)."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return  # the face lies wholly outside the canvas
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    face_side = face.shape[1], face.shape[0]
    warped_face = cv2.warpAffine(face, shifted, size)
    square = _eroded_square(face_side, shifted, size, upscale)
    pasted = square[:, :, None] * warped_face
    soft = _soft_square(square)
    parse = cv2.resize(face_mask, face_side)
    parse = cv2.warpAffine(parse, shifted, size, flags=cv2.INTER_AREA)
    window = region[y0 - origin[1] : y1 - origin[1], x0 - origin[0] : x1 - origin[0]]
    # The blend in bands of rows: the same elementwise float64 arithmetic as over the whole
    # footprint at once, but its temporaries (four footprint-sized float64 arrays: about 280 MB
    # for a face 1,700 pixels across) stay one band's size.
    for top in range(0, window.shape[0], _BLEND_ROWS):
        rows = slice(top, top + _BLEND_ROWS)
        blend = np.minimum(parse[rows], soft[rows].astype(np.float64))[:, :, None]
        window[rows] = blend * pasted[rows] + (1 - blend) * window[rows]


def _overlapping_groups(boxes: list[tuple[int, int, int, int]]) -> list[tuple[tuple[int, int, int, int], list[int]]]:
    """(bounding box, face indices in order) groups whose bounding boxes do not overlap; the
    order of the blends matters where faces overlap, so each group keeps the faces' order."""
    groups: list[tuple[tuple[int, int, int, int], list[int]]] = []
    for index, box in enumerate(boxes):
        bound, members = box, [index]
        while (hit := next((g for g in groups if _overlap(g[0], bound)), None)) is not None:
            groups.remove(hit)
            bound = (
                min(bound[0], hit[0][0]),
                min(bound[1], hit[0][1]),
                max(bound[2], hit[0][2]),
                max(bound[3], hit[0][3]),
            )
            members = sorted(hit[1] + members)
        groups.append((bound, members))
    return groups


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _cast_like(region: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        # Truncation, not rounding: the reference converts its float blend with astype(uint8).
        return np.clip(region, 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(np.round(region * 257.0), 0, 65535).astype(np.uint16)
    return region


def _footprint(face: np.ndarray, inverse: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) in the canvas of everything the face can touch."""
    h, w = face.shape[:2]
    corners = cv2.transform(np.array([[[0, 0], [w, 0], [0, h], [w, h]]], np.float64), inverse)[0]
    low, high = corners.min(axis=0), corners.max(axis=0)
    # Kernels reach at most ~side/10 (erosion 2*edge, blur edge, edge = side/20): keep zeros
    # beyond that so the ROI's borders never change a result.
    margin = int((high - low).max()) // 8 + 8
    x0, y0 = (np.floor(low).astype(int) - margin).clip(0)
    x1, y1 = np.ceil(high).astype(int) + margin
    return int(x0), int(y0), int(min(x1, width)), int(min(y1, height))


def _eroded_square(face_side: tuple[int, int], inverse: np.ndarray, size: tuple[int, int], upscale: int) -> np.ndarray:
    mask = np.ones((face_side[1], face_side[0]), dtype=np.float32)
    warped = cv2.warpAffine(mask, inverse, size)
    # Erode by the upscale factor: the bilinear edge of the warp is a half-black seam.
    width = int(2 * upscale)
    return cv2.erode(warped, np.ones((width, width), np.uint8))


def _soft_square(square: np.ndarray) -> np.ndarray:
    # The fusion band grows with the face: 1/20 of the side of the face's area in pixels.
    # np.sum over float32 keeps numpy's float32 pairwise sum, exactly as the reference.
    area = np.sum(square)
    edge = int(area**0.5) // 20
    # An empty kernel makes OpenCV use its default 3x3, as in the reference for tiny faces.
    center = cv2.erode(square, np.ones((edge * 2, edge * 2), np.uint8))
    return cv2.GaussianBlur(center, (edge * 2 + 1, edge * 2 + 1), 0)
