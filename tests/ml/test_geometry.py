"""Alignment and paste-back geometry, with injected landmarks (random detector weights find no
face). No network runs here: these are the numpy/OpenCV parts of the face helper."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ml.face import geometry
from ml.face.color import gray_face_like, is_gray
from ml.face.paste import parse_mask, paste_face

SKIN = 1  # a ParseNet class that counts as face in the blend mask


@pytest.fixture(scope="module")
def two_faces(shared_dir):
    folder = shared_dir / "parity" / "cases" / "whole_two_faces"
    params = json.loads((folder / "params.json").read_text())
    image = cv2.imread(str(folder / "input.png"), cv2.IMREAD_COLOR)
    return folder, params, image


@pytest.fixture(scope="module")
def face_0143(shared_dir):
    return cv2.imread(str(shared_dir / "testdata" / "cropped_faces" / "0143.png"), cv2.IMREAD_COLOR)


def place_face(face: np.ndarray, canvas_size=(640, 480), angle=20.0, scale=0.4, center=(300, 260)):
    """Warp an aligned face into a grey canvas; returns the canvas, the face mask and the
    landmarks (the template points mapped the same way), like the parity fixture's canvases."""
    matrix = cv2.getRotationMatrix2D((256, 256), angle, scale)
    matrix[:, 2] += np.array(center) - 256
    canvas = np.full((canvas_size[1], canvas_size[0], 3), (90, 110, 130), np.uint8)
    warped = cv2.warpAffine(face, matrix, canvas_size)
    mask = cv2.warpAffine(np.full(face.shape[:2], 255, np.uint8), matrix, canvas_size) > 0
    canvas[mask] = warped[mask]
    landmarks = cv2.transform(geometry.FACE_TEMPLATE[None], matrix)[0]
    return canvas, mask, landmarks


def test_injected_landmarks_take_the_detectors_float32_round_trip(two_faces):
    _, params, image = two_faces
    frames = params["landmarks"]
    factor = geometry.upsize_factor(*image.shape[:2])
    internal = geometry.upsize(image, factor)
    scale = geometry.detector_scale(*internal.shape[:2])

    faces = geometry.faces_from_landmarks(frames["input_frame"], factor, scale)

    assert factor == frames["upsize_factor_f"]
    assert internal.shape[1::-1] == tuple(frames["internal_size_wh"])
    assert scale == frames["detector_scale_s"]
    expected = np.array(frames["alignment_input_float32"], dtype=np.float32)
    assert all(face.landmarks.dtype == np.float32 for face in faces)
    assert np.array_equal(np.stack([face.landmarks for face in faces]), expected)


def test_the_detector_input_has_a_short_side_of_640(two_faces):
    _, params, image = two_faces
    internal = geometry.upsize(image, geometry.upsize_factor(*image.shape[:2]))

    resized, scale = geometry.detector_input(internal)

    assert resized.shape[1::-1] == tuple(params["landmarks"]["detector_size_wh"])
    assert scale == params["landmarks"]["detector_scale_s"]


def test_detections_map_back_to_the_internal_frame_in_float32():
    row = np.arange(15, dtype=np.float32)[None] * 10 + 1

    (face,) = geometry.faces_from_detections(row, 1.25)

    assert face.landmarks.dtype == np.float32
    assert np.array_equal(face.landmarks.reshape(-1), row[0, 5:15] / np.float32(1.25))
    assert face.box == tuple(float(v) for v in row[0, :4] / np.float32(1.25))


def test_alignment_and_crops_match_the_reference(two_faces):
    folder, params, image = two_faces
    frames = params["landmarks"]
    reference = params["reference_intermediates"]
    factor = geometry.upsize_factor(*image.shape[:2])
    internal = geometry.upsize(image, factor)
    faces = geometry.faces_from_landmarks(frames["input_frame"], factor, geometry.detector_scale(*internal.shape[:2]))

    for index, face in enumerate(faces):
        matrix = geometry.estimate_alignment(face.landmarks)
        crop = geometry.warp_face(internal, matrix)
        inverse = geometry.paste_matrix(matrix, 2, face_upsampled=False)

        np.testing.assert_allclose(matrix, reference["affine_matrices"][index], rtol=0, atol=1e-9)
        np.testing.assert_allclose(inverse, reference["inverse_affine_as_used_in_paste"][index], rtol=0, atol=1e-9)
        assert np.array_equal(crop, cv2.imread(str(folder / f"stages/cropped_0{index}.png"), cv2.IMREAD_COLOR))


def test_a_warped_out_face_is_the_face_that_was_placed(face_0143):
    canvas, _, landmarks = place_face(face_0143)

    matrix = geometry.estimate_alignment(landmarks.astype(np.float32))
    crop = geometry.warp_face(canvas, matrix)

    # The crop went through two resamplings at 0.4x, so compare blurred central regions.
    core = slice(128, 384)
    blur = (9, 9)
    diff = cv2.GaussianBlur(crop, blur, 0)[core, core].astype(float) - cv2.GaussianBlur(face_0143, blur, 0)[core, core]
    assert np.abs(diff).mean() < 6


@pytest.mark.parametrize("upscale", [1, 2, 3])
def test_a_face_pasted_back_lands_where_it_came_from(face_0143, upscale):
    canvas, placed, landmarks = place_face(face_0143)
    matrix = geometry.estimate_alignment(landmarks.astype(np.float32))
    crop = geometry.warp_face(canvas, matrix)
    size = (canvas.shape[1] * upscale, canvas.shape[0] * upscale)
    background = cv2.resize(canvas, size, interpolation=cv2.INTER_LINEAR)
    everything_is_face = parse_mask(np.full((512, 512), SKIN))
    inverse = geometry.paste_matrix(matrix, upscale, face_upsampled=False)

    # Paste the unchanged crop onto a black canvas: where it lands must be the placed face.
    pasted = paste_face(np.zeros_like(background), crop, everything_is_face, inverse, upscale)
    weight = pasted.sum(axis=2) > 0
    placed_up = cv2.resize(placed.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0

    assert weight.sum() > 0.5 * placed_up.sum()
    assert (weight & ~placed_up).sum() < 0.01 * weight.sum()
    ys, xs = np.nonzero(weight)
    ys_placed, xs_placed = np.nonzero(placed_up)
    assert abs(xs.mean() - xs_placed.mean()) < 0.02 * size[0]
    assert abs(ys.mean() - ys_placed.mean()) < 0.02 * size[1]
    # And with the real background, the fully blended core reproduces the resized canvas.
    blended = paste_face(background, crop, everything_is_face, inverse, upscale)
    core = cv2.erode(placed_up.astype(np.uint8), np.ones((40 * upscale, 40 * upscale), np.uint8)) > 0
    assert np.abs(blended[core] - background[core]).mean() < 4


def test_the_blend_mask_is_the_smaller_of_the_square_and_parse_masks(face_0143):
    labels = np.zeros((512, 512), np.int64)
    labels[150:400, 150:400] = SKIN
    mask = parse_mask(labels)
    canvas = np.zeros((512, 512, 3), np.uint8)
    white = np.full((512, 512, 3), 255, np.uint8)
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])

    blended = paste_face(canvas, white, mask, identity, 1)[:, :, 0] / 255

    assert blended.max() <= 1.0 + 1e-9
    assert np.all(blended <= mask + 1e-9)
    assert blended[275, 275] > 0.99  # inside the face region, the face replaces the canvas
    assert blended[:10].max() == 0 and blended[:, -10:].max() == 0  # the rim never blends
    assert blended[50, 50] < 0.01  # background class stays background


def test_parse_mask_keeps_the_face_and_drops_hair_neck_and_background():
    labels = np.zeros((512, 512), np.int64)
    labels[:, 256:] = 17  # hair
    labels[200:312, 60:200] = SKIN

    mask = parse_mask(labels)

    assert mask.dtype == np.float64
    assert mask[256, 130] > 0.9
    assert mask[256, 400] < 0.01
    assert mask.min() >= 0 and mask.max() <= 1


def test_only_the_face_nearest_the_centre_is_kept():
    def face(x, y):
        return geometry.Face(landmarks=np.zeros((5, 2), np.float32), box=(x - 10, y - 10, x + 10, y + 10))

    faces = [face(20, 20), face(310, 250), face(600, 400)]

    assert geometry.center_face(faces, 480, 640) is faces[1]


def test_a_grey_restored_face_takes_the_crops_tint():
    rng = np.random.default_rng(0)
    colourful = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    crop = np.dstack([rng.normal(100, 20, (64, 64))] * 3).clip(0, 255).astype(np.uint8)

    gray = gray_face_like(colourful, crop)

    assert not is_gray(colourful)
    assert is_gray(np.clip(gray, 0, 255).astype(np.uint8))
    np.testing.assert_allclose(gray.reshape(-1, 3).mean(axis=0), crop.reshape(-1, 3).mean(axis=0), atol=1e-6)


def test_the_upsized_frame_follows_opencvs_rounding():
    image = np.zeros((480, 640, 3), np.uint8)

    assert geometry.upsize(image, geometry.upsize_factor(480, 640)).shape[:2] == (512, 683)
    assert geometry.upsize_factor(512, 900) == 1.0
    assert geometry.upsize(image, 1.0) is image


def test_a_face_cut_by_the_image_border_pastes_only_inside_it(face_0143):
    canvas, placed, landmarks = place_face(face_0143, canvas_size=(320, 240), center=(20, 230))
    matrix = geometry.estimate_alignment(landmarks.astype(np.float32))
    crop = geometry.warp_face(canvas, matrix)
    inverse = geometry.paste_matrix(matrix, 2, face_upsampled=False)
    background = np.zeros((480, 640, 3), np.uint8)

    pasted = paste_face(background, np.full_like(crop, 255), parse_mask(np.full((512, 512), SKIN)), inverse, 2)

    touched = pasted.sum(axis=2) > 0
    placed_up = cv2.resize(placed.astype(np.uint8), (640, 480), interpolation=cv2.INTER_NEAREST) > 0
    assert touched.any() and not (touched & ~placed_up).any()
