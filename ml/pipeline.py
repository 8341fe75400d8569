"""The restoration stages, in order: decode, detect, align, restore, background, paste, encode.

This follows CodeFormer's own ``inference_codeformer.py`` and its ``facelib`` face helper (not
facexlib's helper, which differs in threshold, masks and interpolation), so that with the same
weights it computes the same image; shared/parity/README.md pins down every step. Where the
product needs more than the reference (exact output size, alpha, 16-bit, an output cap, failing
loudly instead of returning an unrestored face) the additions sit around those steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml import loading
from ml.batching import FaceBatcher
from ml.cancel import NEVER, CancelToken
from ml.device import configure_threads, keep_freed_memory, resolve_device
from ml.errors import InvalidImage, MLError, ModelNotEnabled, RestorationFailed
from ml.face import geometry
from ml.face.color import gray_face_like, is_gray
from ml.face.paste import parse_mask, paste_faces
from ml.models import DETECTOR_CHECKPOINT, PARSER_CHECKPOINT, RESTORERS, UPSAMPLER_CHECKPOINT
from ml.models.parsenet import FaceParser
from ml.models.realesrgan import BackgroundUpsampler
from ml.models.restorer import FaceRestorer
from ml.models.retinaface import FaceDetector
from ml.models.tensors import crops_to_tensor, faces_to_parser_tensor, tensor_to_faces
from ml.options import RestoreOptions
from ml.parallel import ModelPool
from ml.weights import Checkpoint

TIMING_KEYS = ("decode", "load", "detect", "align", "restore", "background", "paste", "encode", "forward")
MIN_EYE_DISTANCE = 5.0  # pixels in the internal frame; smaller faces are too small to restore


@dataclass
class RestoreResult:
    """One restored image. ``image`` (BGR HxWx3 or gray HxW, uint8/uint16) and ``alpha`` are
    what ``png`` encodes; ``internal_image`` is the image before the final resize to
    ``upscale`` times the input (the reference's own output, compared by the parity tests);
    ``upscale`` is the factor applied (lower than asked only when the output cap bites).
    ``cropped_faces``/``restored_faces`` are the aligned 512x512 crops and the restored faces
    (BGR, in ``faces`` order), as the reference script saves them."""

    png: bytes
    width: int
    height: int
    faces: int
    timings: dict[str, float]
    warnings: list[str]
    image: np.ndarray | None = None
    internal_image: np.ndarray | None = None
    alpha: np.ndarray | None = None
    upscale: int = 1
    cropped_faces: list[np.ndarray] = field(default_factory=list)
    restored_faces: list[np.ndarray] = field(default_factory=list)


@dataclass
class _Input:
    """The image as the stages see it: BGR, uint8 for 8-bit input, float32 on the 0..255 scale
    for 16-bit input (so 16-bit precision survives the resizes and the blend)."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    single_channel: bool
    gray: bool


@dataclass
class _Job:
    on_progress: Callable[[str], None] | None
    cancel: CancelToken = NEVER
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIMING_KEYS, 0.0))
    warnings: list[str] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.cancel.check()
        if self.on_progress is not None:
            self.on_progress(name)
        with self.timed(name), _failures_as_restoration_failed(name):
            yield

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[key] += time.perf_counter() - start


@contextmanager
def _failures_as_restoration_failed(stage: str) -> Iterator[None]:
    try:
        yield
    except MLError:
        raise
    except Exception as exc:  # a bug or an out-of-memory on good input: the job is an ERROR
        raise RestorationFailed(f"the {stage} stage failed: {exc.__class__.__name__}: {exc}") from exc


@dataclass(frozen=True)
class _Plan:
    upscale: int  # applied factor (the requested one unless the output cap lowers it)
    factor: float  # internal enlargement of small inputs (1.0: none)
    out_size: tuple[int, int]  # (w, h) the caller gets


class RestorationPipeline:
    """Restores faces in images. Build one per worker process: models load lazily, once, and
    are reused by every later call."""

    def __init__(
        self,
        *,
        weights_dir: Path,
        device: str | None = None,
        enabled_models: Sequence[str] = ("codeformer",),
        bg_tile: int = 400,
        max_output_pixels: int = 64_000_000,
        num_threads: int | None = None,
        manifest: Mapping[str, Checkpoint] | None = None,
        max_faces: int = 32,
        face_batcher: FaceBatcher | None = None,
        parallel: int | None = None,
        keep_freed: bool = True,
    ) -> None:
        """``manifest`` overrides ml.weights' checkpoint manifest (file names and sizes); the
        tests use it for their generated checkpoints. ``max_faces`` bounds the faces restored
        per image (the most confident ones), so a crowd or a misfiring detector cannot turn
        one job into hundreds of forwards. ``face_batcher`` (the GPU worker, several jobs in
        flight on threads sharing this pipeline) restores the faces of concurrent jobs in
        shared forwards; see ml/batching.py. ``parallel``: model calls run side by side on a
        CPU (default: one per torch thread; 1 runs them one after another). ``keep_freed``: on a
        CPU, tune glibc to keep freed tensor memory for the next forward (ml.device.keep_freed_memory)."""
        unknown = sorted(set(enabled_models) - set(RESTORERS))
        if unknown:
            raise ModelNotEnabled(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(RESTORERS))}")
        configure_threads(num_threads)
        self.device = resolve_device(device)
        # On a CPU the faces and tiles of a job run side by side, one torch thread each
        # (ml/parallel.py): the cores stay busy without meeting at a barrier after every op.
        self.pool = ModelPool((parallel or _torch_threads()) if self.device == "cpu" else 1)
        if self.device == "cpu" and keep_freed:
            keep_freed_memory()
        self.weights_dir = Path(weights_dir)
        self.enabled_models = tuple(enabled_models)
        self.bg_tile = bg_tile
        self.max_output_pixels = max_output_pixels
        self.manifest = manifest
        self.max_faces = max_faces
        self.face_batcher = face_batcher
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    # --- public API -----------------------------------------------------------------------------

    def restore(
        self,
        data: bytes,
        options: RestoreOptions,
        *,
        on_progress: Callable[[str], None] | None = None,
        cancel: CancelToken = NEVER,
    ) -> RestoreResult:
        """Image file bytes in, PNG bytes out (plus the arrays). ``cancel`` is checked between
        stages, faces, background tiles and model calls; once it is canceled the call raises
        ``ml.cancel.Cancelled`` after at most one more model call."""
        from ml.imageio import decode_image, encode_png

        self._check_model(options.model)
        job = _Job(on_progress, cancel)
        with job.stage("decode"):
            decoded = decode_image(data, max_pixels=self.max_output_pixels)
            image = _Input(
                pixels=_working_pixels(decoded.pixels),
                alpha=decoded.alpha,
                bit_depth=decoded.bit_depth,
                single_channel=decoded.pixels.ndim == 2,
                gray=bool(decoded.is_gray),
            )
        result = self._run(image, options, job)
        with job.stage("encode"):
            result.png = encode_png(result.image, result.alpha)
        return result

    def restore_array(
        self,
        image: Any,
        options: RestoreOptions,
        *,
        on_progress: Callable[[str], None] | None = None,
        cancel: CancelToken = NEVER,
    ) -> RestoreResult:
        """Like ``restore`` for an already decoded image (``DecodedImage`` or a BGR/BGRA/gray
        uint8/uint16 array); ``png`` is left empty and the result is in ``image``/``alpha``."""
        self._check_model(options.model)
        return self._run(_input_from(image), options, _Job(on_progress, cancel))

    def warmup(self) -> None:
        """Load every model a job on this pipeline can need, so the first job is not slow."""
        job = _Job(None)
        self._detector(job)
        self._parser(job)
        self._upsampler(job)
        for name in self.enabled_models:
            self._restorer(name, job)

    # --- the stages -----------------------------------------------------------------------------

    def _run(self, image: _Input, options: RestoreOptions, job: _Job) -> RestoreResult:
        height, width = image.pixels.shape[:2]
        plan = self._plan(height, width, options, job)
        if options.has_aligned:
            internal, crops, restored = self._restore_aligned(image, options, plan, job)
        else:
            internal, crops, restored = self._restore_whole(image, options, plan, job)
        with job.timed("paste"), _failures_as_restoration_failed("final resize"):
            internal = _to_output_dtype(internal, image.bit_depth)
            final = _resize_to(internal, plan.out_size)
            final = _as_gray(final, image) if image.gray else final
            alpha = None if image.alpha is None else cv2.resize(image.alpha, plan.out_size)
        return RestoreResult(
            png=b"",
            width=plan.out_size[0],
            height=plan.out_size[1],
            faces=len(restored),
            timings=job.timings,
            warnings=job.warnings,
            image=final,
            internal_image=internal,
            alpha=alpha,
            upscale=plan.upscale,
            cropped_faces=crops,
            restored_faces=[_round_to_uint8(face) for face in restored],
        )

    def _plan(self, height: int, width: int, options: RestoreOptions, job: _Job) -> _Plan:
        """Apply the output cap: lower the upscale like the official demo, then drop the
        internal enlargement if the enlarged output alone would break the cap."""
        upscale = int(options.upscale)
        while upscale > 1 and height * width * upscale**2 > self.max_output_pixels:
            upscale -= 1
        if height * width * upscale**2 > self.max_output_pixels:
            raise InvalidImage(f"image has {height * width:,} pixels; the limit is {self.max_output_pixels:,}")
        if upscale != options.upscale:
            job.warnings.append(
                f"upscale lowered from {options.upscale} to {upscale}: the output would exceed "
                f"{self.max_output_pixels:,} pixels"
            )
        factor = 1.0 if options.has_aligned else geometry.upsize_factor(height, width)
        enlarged = round(height * factor) * round(width * factor) * upscale**2
        if enlarged > self.max_output_pixels:
            factor = 1.0
        return _Plan(upscale=upscale, factor=factor, out_size=(width * upscale, height * upscale))

    def _restore_aligned(
        self, image: _Input, options: RestoreOptions, plan: _Plan, job: _Job
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """The input is one face already aligned to the 512 template: no detection, no paste."""
        with job.stage("align"):
            size = (geometry.FACE_SIZE, geometry.FACE_SIZE)
            crop = cv2.resize(image.pixels, size, interpolation=cv2.INTER_LINEAR)
        with job.stage("restore"):
            face = self._restore_faces([crop], options, is_gray(crop), job)[0]
        # A grey face is float here (the colour transfer); the reference writes it out with
        # cv2.imwrite, which rounds (saturating), so this path rounds where the paste truncates.
        result = face if image.bit_depth == 16 else _round_to_uint8(face)
        if options.face_upsample:
            with job.stage("paste"):
                result = self._upsample_faces([face], plan.upscale, job)[0]
        return result, [crop], [face]

    def _restore_whole(
        self, image: _Input, options: RestoreOptions, plan: _Plan, job: _Job
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        internal = geometry.upsize(image.pixels, plan.factor)
        with job.stage("detect"):
            faces = self._find_faces(internal, plan.factor, options, job)
        with job.stage("align"):
            crops, matrices = self._align(internal, faces, job)
        restored: list[np.ndarray] = []
        if crops:
            with job.stage("restore"):
                restored = self._restore_faces(crops, options, is_gray(image.pixels), job)
        with job.stage("background"):
            canvas = self._background(image, internal, options, plan, job)
        with job.stage("paste"):
            canvas = self._paste_faces(canvas, restored, matrices, options, plan, job)
        return canvas, crops, restored

    def _find_faces(
        self, internal: np.ndarray, factor: float, options: RestoreOptions, job: _Job
    ) -> list[geometry.Face]:
        height, width = internal.shape[:2]
        if options.landmarks is not None:
            try:
                faces = geometry.faces_from_landmarks(options.landmarks, factor, geometry.detector_scale(height, width))
            except ValueError as exc:
                raise InvalidImage(f"landmarks must be 5 (x, y) points per face: {exc}") from None
        else:
            detector_image, scale = geometry.detector_input(internal)
            detector = self._detector(job)
            job.cancel.check()
            with job.timed("forward"):
                rows = detector.detect(detector_image)
            # Side and tiny faces (eyes a few pixels apart) cannot be aligned meaningfully.
            faces = [
                f for f in geometry.faces_from_detections(rows, scale) if geometry.eye_distance(f) >= MIN_EYE_DISTANCE
            ]
        if options.only_center_face and faces:
            faces = [geometry.center_face(faces, height, width)]
        if len(faces) > self.max_faces:
            job.warnings.append(f"{len(faces)} faces found; only the {self.max_faces} most confident were restored")
            faces = faces[: self.max_faces]
        return faces

    def _align(
        self, internal: np.ndarray, faces: list[geometry.Face], job: _Job
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        crops, matrices = [], []
        for face in faces:
            matrix = geometry.estimate_alignment(face.landmarks)
            if matrix is None:
                job.warnings.append("a face with degenerate landmarks was skipped")
                continue
            crops.append(geometry.warp_face(internal, matrix))
            matrices.append(matrix)
        return crops, matrices

    def _restore_faces(
        self, crops: list[np.ndarray], options: RestoreOptions, gray: bool, job: _Job
    ) -> list[np.ndarray]:
        """All faces in one batched forward (the restorer splits it if memory is short). Any
        failure raises RestorationFailed: the reference would paste the unrestored crop back."""
        restorer = self._restorer(options.model, job)
        batch = crops_to_tensor(crops, self.device)
        try:
            with job.timed("forward"):
                if self.face_batcher is not None:
                    job.cancel.check()
                    output = self.face_batcher.restore(restorer, batch, options.fidelity)
                else:
                    output = restorer.restore(batch, options.fidelity, job.cancel, pool=self.pool)
        except MLError:
            raise
        except Exception as exc:
            raise RestorationFailed(f"{options.model} failed on {len(crops)} face(s): {exc}") from exc
        faces = tensor_to_faces(output)
        if gray:
            # CodeFormer colourises grey faces; give them back the photo's grey tint.
            faces = [gray_face_like(face, crop) for face, crop in zip(faces, crops, strict=True)]
        return faces

    def _background(
        self, image: _Input, internal: np.ndarray, options: RestoreOptions, plan: _Plan, job: _Job
    ) -> np.ndarray:
        height, width = internal.shape[:2]
        size = (int(width * plan.upscale), int(height * plan.upscale))
        if not options.background_enhance:
            # LINEAR, not LANCZOS4: the reference resizes a plain background this way.
            return cv2.resize(internal, size, interpolation=cv2.INTER_LINEAR)
        upsampler = self._upsampler(job)
        # Real-ESRGAN runs on the original (not the enlarged) image: 2x is the model's own
        # factor, and LANCZOS4 takes it to the output size, as the reference does. It works on
        # integer images (uint16 for 16-bit input, as Real-ESRGAN's own 16-bit path), so the
        # only image-sized buffers are the output's own dtype.
        pixels = _to_output_dtype(image.pixels, image.bit_depth)
        with job.timed("forward"):
            enhanced = upsampler.upscale(pixels, job.cancel, pool=self.pool)
        if (enhanced.shape[1], enhanced.shape[0]) == size:
            return enhanced  # LANCZOS4 to the same size would only copy it
        return cv2.resize(enhanced, size, interpolation=cv2.INTER_LANCZOS4)

    def _paste_faces(
        self,
        canvas: np.ndarray,
        restored: list[np.ndarray],
        matrices: list[np.ndarray],
        options: RestoreOptions,
        plan: _Plan,
        job: _Job,
    ) -> np.ndarray:
        """Blend every face into the canvas in turn; all faces are parsed in one batch."""
        if not restored:
            return canvas
        if options.face_upsample:
            restored = self._upsample_faces(restored, plan.upscale, job)
        parser = self._parser(job)
        size = (geometry.FACE_SIZE, geometry.FACE_SIZE)
        parser_input = [cv2.resize(face, size, interpolation=cv2.INTER_LINEAR) for face in restored]
        with job.timed("forward"):
            labels = parser.parse(faces_to_parser_tensor(parser_input, self.device), job.cancel, pool=self.pool)
        pastes = [
            (
                face,
                parse_mask(face_labels),
                geometry.paste_matrix(matrix, plan.upscale, face_upsampled=options.face_upsample),
            )
            for face, matrix, face_labels in zip(restored, matrices, labels, strict=True)
        ]
        paste_faces(canvas, pastes, plan.upscale)
        return canvas

    def _upsample_faces(self, faces: list[np.ndarray], upscale: int, job: _Job) -> list[np.ndarray]:
        """Real-ESRGAN 2x on the restored faces, then LANCZOS4 to 512*upscale (the reference's
        ``face_upsample``): sharper faces at large output factors. All faces go through in one
        batch of pieces, so on a CPU two faces run side by side (one face is split in halves)."""
        upsampler = self._upsampler(job)
        # A face is not cut into the background's 400-pixel tiles: a 512 face in those computes
        # 592² pixels with the context margins instead of 512² (a third more); tiled and
        # untiled results differ by rounding flips only (tests/ml/test_models.py), and one
        # face's activations are bounded anyway.
        largest = max(max(face.shape[:2]) for face in faces)
        tile = max(self.bg_tile, largest) if self.bg_tile > 0 else 0
        # A grey face comes out of the colour transfer as float64 on the 0..255 scale, slightly
        # outside it. RealESRGANer.enhance takes it as float32 / 255 (no clip) and rounds its
        # clamped output to uint8; the upsampler's float contract is [0, 1], so scale on the
        # way in and round on the way out, as it does. (The reference switches to a 65535
        # range when such a face exceeds 256, which blackens it; dividing by 255 keeps it right.)
        inputs = [face.astype(np.float32) / 255 if face.dtype.kind == "f" else face for face in faces]
        with job.timed("forward"):
            outputs = upsampler.upscale_many(inputs, job.cancel, tile=tile, pool=self.pool)
        side = geometry.FACE_SIZE * upscale
        enhanced = []
        for face, output in zip(faces, outputs, strict=True):
            if face.dtype.kind == "f":
                output = (output * 255.0).round().astype(np.uint8)
            if side != output.shape[0]:
                output = cv2.resize(output, (side, side), interpolation=cv2.INTER_LANCZOS4)
            enhanced.append(output)
        return enhanced

    # --- models ---------------------------------------------------------------------------------

    def _check_model(self, name: str) -> None:
        if name not in self.enabled_models:
            raise ModelNotEnabled(
                f"model {name!r} is not enabled on this deployment; enabled: {', '.join(self.enabled_models)}"
            )

    def _restorer(self, name: str, job: _Job) -> FaceRestorer:
        spec = RESTORERS[name]
        max_batch = self._max_batch(8 if self.device == "cuda" else 4)
        return self._model(
            f"restorer:{name}",
            job,
            lambda: spec.wrap(spec.load(self._path(spec.checkpoint), self.device), self.device, max_batch=max_batch),
        )

    def _max_batch(self, elsewhere: int) -> int:
        """Faces per forward. On CPU one: a batch buys no speed there (CodeFormer takes 15.5 s
        for two faces, 7.3 s for one) but holds every face's activations at once, and those
        set the job's peak memory (about 0.5 GiB a face). The reference also runs one by one."""
        return 1 if self.device == "cpu" else elsewhere

    def _detector(self, job: _Job) -> FaceDetector:
        return self._model(
            "detector",
            job,
            lambda: FaceDetector(loading.load_retinaface(self._path(DETECTOR_CHECKPOINT), self.device), self.device),
        )

    def _parser(self, job: _Job) -> FaceParser:
        return self._model(
            "parser",
            job,
            lambda: FaceParser(
                loading.load_parsenet(self._path(PARSER_CHECKPOINT), self.device),
                self.device,
                max_batch=self._max_batch(4),
            ),
        )

    def _upsampler(self, job: _Job) -> BackgroundUpsampler:
        def build() -> BackgroundUpsampler:
            module = loading.load_realesrgan(self._path(UPSAMPLER_CHECKPOINT), self.device)
            return BackgroundUpsampler(module, self.device, tile=self.bg_tile)

        return self._model("upsampler", job, build)

    def _model(self, key: str, job: _Job, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._models:
                with job.timed("load"):
                    self._models[key] = build()
            return self._models[key]

    def _path(self, checkpoint: str) -> Path:
        return loading.checkpoint_path(checkpoint, self.weights_dir, self.manifest)


# --- image helpers ------------------------------------------------------------------------------


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _input_from(image: Any) -> _Input:
    pixels = getattr(image, "pixels", image)
    if not isinstance(pixels, np.ndarray) or pixels.dtype not in (np.uint8, np.uint16):
        raise InvalidImage("expected a uint8 or uint16 image array")
    alpha = getattr(image, "alpha", None)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels, alpha = pixels[:, :, :3], pixels[:, :, 3]
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)) or min(pixels.shape[:2]) < 1:
        raise InvalidImage("expected an HxW, HxWx3 or HxWx4 image")
    single = pixels.ndim == 2
    gray = single or bool(
        np.array_equal(pixels[:, :, 0], pixels[:, :, 1]) and np.array_equal(pixels[:, :, 1], pixels[:, :, 2])
    )
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    return _Input(_working_pixels(pixels), alpha, bit_depth, single, gray)


def _working_pixels(pixels: np.ndarray) -> np.ndarray:
    bgr = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else np.ascontiguousarray(pixels)
    if bgr.dtype == np.uint16:
        return bgr.astype(np.float32) / 257.0  # 0..65535 -> 0..255, keeping the fraction
    return bgr


def _to_output_dtype(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """The stages' pixels (uint8 or 0..255 float; uint16 only already on the 0..65535 scale)
    as the output's uint8 or uint16."""
    if image.dtype == (np.uint16 if bit_depth == 16 else np.uint8):
        return image
    if bit_depth == 16:
        return np.clip(np.round(image.astype(np.float64) * 257.0), 0, 65535).astype(np.uint16)
    # Truncation, not rounding: the reference converts its float blend with astype(uint8).
    return np.clip(image, 0, 255).astype(np.uint8)


def _round_to_uint8(image: np.ndarray) -> np.ndarray:
    """A face as the reference saves it: cv2.imwrite converts a float image to 8 bits with
    saturate_cast, i.e. rounds half to even, then clips (uint8 input is returned as is)."""
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = image.shape[:2]
    if (width, height) == size:
        return image
    shrinking = size[0] <= width and size[1] <= height
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def _as_gray(image: np.ndarray, source: _Input) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return gray if source.single_channel else cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
