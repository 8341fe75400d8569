"""The photos the benchmark runs, each with the 5-point landmarks injected in place of detection.

Random detector weights find no face, so every whole-image photo carries landmarks (input-image
pixels, template order). The two-face parity case has exact ones (its params.json); the 512
cropped faces are already aligned, so the template itself is their landmark set; for the
whole-image test photos the eye centres were placed by hand and the other three points follow
the template by the similarity that maps the template eyes onto them. Approximate landmarks are
enough for timing: every stage costs the same wherever the face is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

# The 512x512 FFHQ template (facexlib / CodeFormer), template order.
TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ]
)

# Hand-placed eye centres (left eye, right eye) per face, in input pixels.
WHOLE_IMAGE_EYES: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = {
    "whole_imgs/00.jpg": [
        ((67.5, 102.5), (92.5, 102.5)),
        ((185.0, 95.0), (205.0, 95.0)),
        ((292.5, 99.0), (310.0, 99.0)),
        ((402.5, 80.0), (424.0, 80.0)),
    ],
    "whole_imgs/02.png": [
        ((185.0, 105.0), (250.0, 105.0)),
        ((440.0, 150.0), (500.0, 150.0)),
        ((660.0, 150.0), (722.0, 150.0)),
        ((905.0, 170.0), (965.0, 165.0)),
    ],
    "whole_imgs/03.jpg": [((141.0, 91.0), (184.0, 88.0))],
    "whole_imgs/04.jpg": [((102.5, 77.5), (126.0, 76.5))],
    "whole_imgs/06.png": [((165.0, 268.0), (280.0, 268.0)), ((432.0, 220.0), (520.0, 210.0))],
}
CROPPED_FACES = (
    "cropped_faces/0143.png",
    "cropped_faces/0240.png",
    "cropped_faces/0342.png",
    "cropped_faces/Solvay_conference_1927_0018.png",
    "gray_faces/Hepburn01.png",
)
MAIN_CASE = "whole_two_faces"

Landmarks = list[list[list[float]]]  # faces x 5 x [x, y]


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes  # the encoded file, as a client would upload it
    suffix: str
    width: int
    height: int
    landmarks: Landmarks
    options: dict = field(default_factory=dict)  # RestoreOptions keyword overrides

    @property
    def png_bytes(self) -> bytes:
        if self.suffix == ".png":
            return self.data
        return encode_png(decode(self.data))


def shared_dir() -> Path:
    override = os.environ.get("SHARED_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared"


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def encode_png(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buffer.tobytes()


def landmarks_from_eyes(left_eye, right_eye) -> list[list[float]]:
    """Map the template by the similarity that sends its eye centres onto the given ones."""
    src = TEMPLATE_512[1] - TEMPLATE_512[0]
    dst = np.subtract(right_eye, left_eye)
    src_c, dst_c = complex(*src), complex(*dst)
    rotation_scale = dst_c / src_c
    points = [complex(*p) for p in TEMPLATE_512 - TEMPLATE_512[0]]
    mapped = [rotation_scale * p + complex(*left_eye) for p in points]
    return [[z.real, z.imag] for z in mapped]


def load_photo(path: Path, name: str, landmarks: Landmarks, options: dict | None = None) -> Photo:
    data = path.read_bytes()
    image = decode(data)
    height, width = image.shape[:2]
    return Photo(name, data, path.suffix.lower(), width, height, landmarks, options or {})


def main_case() -> Photo:
    """The two-face parity photo (640x480) with its exact landmarks and official options."""
    case_dir = shared_dir() / "parity" / "cases" / MAIN_CASE
    params = json.loads((case_dir / "params.json").read_text())
    options = {"fidelity": params["options"]["w"], "upscale": params["options"]["upscale"]}
    landmarks = params["landmarks"]["input_frame"]
    return load_photo(case_dir / "input.png", MAIN_CASE, landmarks, options)


def test_photos() -> list[Photo]:
    """The testdata photos, each run as a whole image (detect -> align -> restore -> paste)."""
    root = shared_dir() / "testdata"
    photos = [
        load_photo(root / rel, Path(rel).stem, [TEMPLATE_512.tolist()], {"fidelity": 0.5}) for rel in CROPPED_FACES
    ]
    for rel, eyes in WHOLE_IMAGE_EYES.items():
        landmarks = [landmarks_from_eyes(left, right) for left, right in eyes]
        photos.append(load_photo(root / rel, Path(rel).stem, landmarks, {"fidelity": 0.5}))
    return photos


def resized(photo: Photo, width: int, height: int) -> Photo:
    """The photo resized to width x height, landmarks scaled with it, stored as PNG."""
    interpolation = cv2.INTER_AREA if width < photo.width else cv2.INTER_LINEAR
    image = cv2.resize(decode(photo.data), (width, height), interpolation=interpolation)
    sx, sy = width / photo.width, height / photo.height
    landmarks = [[[x * sx, y * sy] for x, y in face] for face in photo.landmarks]
    name = f"{photo.name}@{width}x{height}"
    return Photo(name, encode_png(image), ".png", width, height, landmarks, dict(photo.options))
