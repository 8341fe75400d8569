"""RetinaFace ResNet50 face detector (facexlib's network, the detector CodeFormer's demos use)."""

from __future__ import annotations

import numpy as np
import torch

DETECTION_THRESHOLD = 0.8  # CodeFormer's helper; facexlib's own helper uses 0.97


class FaceDetector:
    """Faces and 5 landmarks in one image.

    Tensor contract of ``detect``: ``image`` numpy HxWx3 BGR, uint8 or float on the 0..255
    scale; returns float32 numpy (N, 15): ``[x1, y1, x2, y2, score, x_le, y_le, x_re, y_re,
    x_n, y_n, x_lm, y_lm, x_rm, y_rm]`` in the image's pixels, score > 0.8, after NMS (0.4),
    best first. Internally facexlib subtracts the BGR means (104, 117, 123) and runs the
    network on the image at its own size (fp16 on CUDA).
    """

    def __init__(self, module: torch.nn.Module, device: str) -> None:
        if device == "cuda":
            module.half_inference = True  # facexlib's switch: it casts the input itself
            module = module.half()
        self.module = module
        self.device = device

    def detect(self, image: np.ndarray, threshold: float = DETECTION_THRESHOLD) -> np.ndarray:
        with torch.inference_mode():
            rows = self.module.detect_faces(image, conf_threshold=threshold)
        return np.asarray(rows, dtype=np.float32).reshape(-1, 15)
