"""Coordinate frames of CodeFormer's face helper: upsizing, detector frame, alignment, inverse.

Every formula here mirrors what CodeFormer's ``facelib`` helper computes, down to the float
types, because with the reference weights a 1/32-pixel change in a crop changes which codebook
entries CodeFormer picks (see shared/parity/README.md section 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FACE_SIZE = 512
# The 5-point FFHQ template at 512x512 (eyes, nose tip, mouth corners), as facexlib publishes it.
FACE_TEMPLATE = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ]
)
# Grey fill for the parts of a crop that fall outside the image (the reference's value, BGR).
CROP_BORDER_VALUE = (135, 133, 132)
MIN_INTERNAL_SIDE = 512
DETECTOR_SHORT_SIDE = 640


@dataclass(frozen=True)
class Face:
    """One face in the internal frame: ``landmarks`` float32 (5, 2), ``box`` (x1, y1, x2, y2)."""

    landmarks: np.ndarray
    box: tuple[float, float, float, float]


def upsize_factor(height: int, width: int) -> float:
    """Small inputs are enlarged so their short side is 512: small faces detect and align better."""
    short = min(height, width)
    return MIN_INTERNAL_SIDE / short if short < MIN_INTERNAL_SIDE else 1.0


def upsize(image: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return image
    # OpenCV rounds the size to (round(w*f), round(h*f)); 640x480 becomes 683x512.
    return cv2.resize(image, (0, 0), fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)


def detector_scale(height: int, width: int) -> float:
    return DETECTOR_SHORT_SIDE / min(height, width)


def detector_input(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The internal image resized so its short side is 640, and the scale used."""
    height, width = image.shape[:2]
    scale = detector_scale(height, width)
    size = (int(width * scale), int(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interpolation), scale


def faces_from_detections(detections: np.ndarray, scale: float) -> list[Face]:
    """Rows ``[x1, y1, x2, y2, score, 10 landmark coords]`` in the detector frame -> internal frame.

    The float32 division by a Python float keeps float32, as in the reference; the landmarks
    that reach alignment must carry exactly that rounding.
    """
    rows = np.asarray(detections, dtype=np.float32) / scale
    return [Face(landmarks=row[5:15].reshape(5, 2).copy(), box=tuple(float(v) for v in row[:4])) for row in rows]


def faces_from_landmarks(landmarks_input: object, factor: float, scale: float) -> list[Face]:
    """Injected landmarks (input-image pixels) -> internal frame, through the detector's float32
    round trip so they align exactly as detected landmarks at the same place would."""
    points = np.asarray(landmarks_input, dtype=np.float64).reshape(-1, 5, 2)
    internal = points * factor
    detector_frame = (internal * scale).astype(np.float32)
    faces = []
    for face_points in detector_frame:
        aligned_input = face_points / scale
        low, high = aligned_input.min(axis=0), aligned_input.max(axis=0)
        faces.append(Face(landmarks=aligned_input, box=(float(low[0]), float(low[1]), float(high[0]), float(high[1]))))
    return faces


def eye_distance(face: Face) -> float:
    return float(np.linalg.norm(face.landmarks[0] - face.landmarks[1]))


def center_face(faces: list[Face], height: int, width: int) -> Face:
    """The face whose box centre is nearest the image centre (the reference's rule)."""
    center = np.array([width / 2, height / 2])

    def distance(face: Face) -> float:
        x1, y1, x2, y2 = face.box
        return float(np.linalg.norm(np.array([(x1 + x2) / 2, (y1 + y2) / 2]) - center))

    return min(faces, key=distance)


def estimate_alignment(landmarks: np.ndarray) -> np.ndarray | None:
    """Similarity transform (2x3, float64) taking the landmarks onto the 512 template.

    LMEDS, not least squares: the reference uses it, and Umeyama moves results by 17 dB.
    Returns None for degenerate landmarks (all points on one spot).
    """
    matrix, _ = cv2.estimateAffinePartial2D(landmarks, FACE_TEMPLATE, method=cv2.LMEDS)
    return matrix


def warp_face(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(
        image,
        matrix,
        (FACE_SIZE, FACE_SIZE),
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=CROP_BORDER_VALUE,
    )


def paste_matrix(matrix: np.ndarray, upscale: int, *, face_upsampled: bool) -> np.ndarray:
    """Inverse affine from the restored face to the upscaled output, as the reference builds it.

    The operations (multiply, then divide back for an upsampled face) are kept in the reference's
    order so the float64 matrix is bit-identical. The 0.5*upscale shift centres the pixel grid of
    the upscaled output on the input's; the reference omits it for upsampled faces.
    """
    inverse = cv2.invertAffineTransform(matrix)
    inverse *= upscale
    if face_upsampled:
        inverse /= upscale
        inverse[:, 2] *= upscale
    elif upscale > 1:
        inverse[:, 2] += 0.5 * upscale
    return inverse
