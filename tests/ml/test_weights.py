import hashlib
import os
import re
import subprocess
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ml.errors import WeightsError
from ml.weights import (
    MANIFEST,
    MODELS,
    Checkpoint,
    _cli,
    checkpoints_for_models,
    download_checkpoint,
    fetch_weights,
    resolve_checkpoint,
    verify_checkpoint,
    weights_status,
)

REPO = Path(__file__).resolve().parents[2]
BODY = os.urandom(300_000)


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` by path, with Range support that a test can switch off, and can cut the
    connection after ``cut_after`` bytes while announcing the full length (a dropped download)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files: dict[str, bytes] = {}
        self.honour_range = True
        self.cut_after: int | None = None
        self.requests: list[dict[str, str]] = []
        self.bytes_sent = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class RangeHandler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:
        self.server.requests.append(dict(self.headers))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = self._range_start()
        if start >= len(body) and start > 0:
            self.send_error(416)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.server.cut_after is not None:
            payload = payload[: self.server.cut_after]
        # Counted before the write: the client can finish reading (and the test look at the
        # count) before this thread gets to run again after it.
        self.server.bytes_sent += len(payload)
        self.wfile.write(payload)

    def _range_start(self) -> int:
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        return int(match.group(1)) if match and self.server.honour_range else 0

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = FileServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def checkpoint_for(server: FileServer, body: bytes = BODY, **changes) -> Checkpoint:
    server.files["/test.pth"] = body
    fields = {
        "name": "test",
        "filename": "test.pth",
        "url": server.url("/test.pth"),
        "sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body),
        "licence": "MIT",
        "licence_url": "https://example.invalid/licence",
        "commercial_use": True,
        "layout": "state_dict",
    }
    return Checkpoint(**{**fields, **changes})


def download(checkpoint: Checkpoint, folder: Path) -> Path:
    return download_checkpoint(checkpoint, folder, progress=False, chunk_size=16_384, timeout=10)


# --- downloading -----------------------------------------------------------------------------


def test_it_downloads_verifies_and_installs_a_checkpoint(server, tmp_path):
    checkpoint = checkpoint_for(server)

    path = download(checkpoint, tmp_path / "weights")

    assert path == tmp_path / "weights" / "test.pth"
    assert path.read_bytes() == BODY
    assert not (tmp_path / "weights" / "test.pth.partial").exists()
    assert server.requests[0]["Accept-Encoding"] == "identity"
    state = verify_checkpoint("test", tmp_path / "weights", manifest={"test": checkpoint})
    assert (state.status, state.checked_sha256) == ("installed", True)


def test_it_resumes_an_interrupted_download_with_a_range_request(server, tmp_path):
    checkpoint = checkpoint_for(server)
    server.cut_after = 100_000

    with pytest.raises(WeightsError, match="run it again to resume"):
        download(checkpoint, tmp_path)
    # The kept prefix is whole chunks: the read that hit the cut raised before returning its bytes.
    kept = (tmp_path / "test.pth.partial").stat().st_size
    assert 0 < kept <= 100_000
    assert not (tmp_path / "test.pth").exists()

    server.cut_after = None
    server.bytes_sent = 0
    path = download(checkpoint, tmp_path)

    assert server.requests[-1]["Range"] == f"bytes={kept}-"
    assert server.bytes_sent == len(BODY) - kept
    assert path.read_bytes() == BODY
    assert not (tmp_path / "test.pth.partial").exists()


def test_it_starts_over_when_the_server_ignores_the_range(server, tmp_path):
    checkpoint = checkpoint_for(server)
    (tmp_path / "test.pth.partial").write_bytes(b"x" * 5_000)  # not even a prefix of the file
    server.honour_range = False

    path = download(checkpoint, tmp_path)

    assert server.requests[0]["Range"] == "bytes=5000-"
    assert path.read_bytes() == BODY


def test_a_checksum_mismatch_deletes_the_partial_and_raises(server, tmp_path):
    checkpoint = checkpoint_for(server, sha256=hashlib.sha256(b"another file").hexdigest())

    with pytest.raises(WeightsError, match=r"test\.pth failed its sha256 check"):
        download(checkpoint, tmp_path)

    assert not (tmp_path / "test.pth.partial").exists()
    assert not (tmp_path / "test.pth").exists()


def test_a_resumed_partial_with_wrong_bytes_is_caught_by_the_checksum(server, tmp_path):
    checkpoint = checkpoint_for(server)
    (tmp_path / "test.pth.partial").write_bytes(b"\0" * 1_000)

    with pytest.raises(WeightsError, match="sha256"):
        download(checkpoint, tmp_path)

    assert not (tmp_path / "test.pth.partial").exists()
    assert not (tmp_path / "test.pth").exists()


def test_a_body_longer_than_the_manifest_size_is_rejected(server, tmp_path):
    checkpoint = checkpoint_for(server, size=len(BODY) - 1)

    with pytest.raises(WeightsError, match="expected 299,999"):
        download(checkpoint, tmp_path)

    assert not (tmp_path / "test.pth.partial").exists()


def test_it_skips_a_checkpoint_that_is_already_installed(server, tmp_path):
    checkpoint = checkpoint_for(server)
    (tmp_path / "test.pth").write_bytes(BODY)

    assert download(checkpoint, tmp_path) == tmp_path / "test.pth"
    assert server.requests == []


def test_it_replaces_an_installed_file_that_fails_its_checksum(server, tmp_path):
    checkpoint = checkpoint_for(server)
    (tmp_path / "test.pth").write_bytes(b"\0" * len(BODY))

    download(checkpoint, tmp_path)

    assert (tmp_path / "test.pth").read_bytes() == BODY


def test_an_http_error_raises_weights_error(server, tmp_path):
    checkpoint = checkpoint_for(server, url=server.url("/gone.pth"))

    with pytest.raises(WeightsError, match="HTTP 404"):
        download(checkpoint, tmp_path)

    assert not (tmp_path / "test.pth").exists()


def test_it_shows_a_progress_bar(server, tmp_path, capsys):
    download_checkpoint(checkpoint_for(server), tmp_path, progress=True)

    assert "test.pth" in capsys.readouterr().err


def test_fetch_weights_installs_what_it_can_and_names_what_failed(server, tmp_path):
    good = checkpoint_for(server)
    server.files["/small.pth"] = b"small"
    small = replace(good, name="small", filename="small.pth", url=server.url("/small.pth"), size=5, sha256=None)
    missing = replace(good, name="missing", filename="missing.pth", url=server.url("/missing.pth"))
    manifest = {c.name: c for c in (good, missing, small)}

    with pytest.raises(WeightsError, match=r"missing\.pth failed: HTTP 404") as error:
        fetch_weights(tmp_path, ["test", "missing", "small"], progress=False, manifest=manifest)

    assert "test.pth" not in str(error.value)
    assert (tmp_path / "test.pth").read_bytes() == BODY
    assert (tmp_path / "small.pth").read_bytes() == b"small"
    assert fetch_weights(tmp_path, ["test", "small"], progress=False, manifest=manifest) == [
        tmp_path / "test.pth",
        tmp_path / "small.pth",
    ]


# --- checking the disk -----------------------------------------------------------------------


def test_resolve_checkpoint_names_the_missing_file_and_the_fix(tmp_path):
    with pytest.raises(WeightsError, match=r"codeformer\.pth is missing; run `python manage\.py fetch_weights`"):
        resolve_checkpoint("codeformer", tmp_path)


def test_resolve_checkpoint_rejects_a_file_of_the_wrong_size(tmp_path):
    (tmp_path / "parsing_parsenet.pth").write_bytes(b"truncated")

    with pytest.raises(WeightsError, match=r"parsing_parsenet\.pth has 9 bytes, expected 85,331,193; run"):
        resolve_checkpoint("parsenet", tmp_path)


def test_resolve_checkpoint_checks_only_the_size(tmp_path):
    checkpoint = replace(MANIFEST["codeformer"], size=4)
    (tmp_path / "codeformer.pth").write_bytes(b"abcd")

    assert (
        resolve_checkpoint("codeformer", tmp_path, manifest={"codeformer": checkpoint}) == tmp_path / "codeformer.pth"
    )


def test_resolve_checkpoint_refuses_an_unknown_name(tmp_path):
    with pytest.raises(WeightsError, match="unknown checkpoint 'nope'"):
        resolve_checkpoint("nope", tmp_path)


@pytest.mark.parametrize(
    ("content", "sha256", "full", "expected"),
    [
        (None, "right", True, "missing"),
        (b"abc", "right", True, "corrupt"),  # wrong size
        (b"abcd", "wrong", True, "corrupt"),
        (b"abcd", "wrong", False, "installed"),  # the cheap check does not hash
        (b"abcd", "right", True, "installed"),
        (b"abcd", None, True, "unverified"),
    ],
)
def test_verify_checkpoint_reports_each_state(tmp_path, content, sha256, full, expected):
    digest = {"right": hashlib.sha256(b"abcd").hexdigest(), "wrong": "0" * 64, None: None}[sha256]
    checkpoint = replace(MANIFEST["codeformer"], size=4, sha256=digest)
    if content is not None:
        (tmp_path / "codeformer.pth").write_bytes(content)

    state = verify_checkpoint("codeformer", tmp_path, full=full, manifest={"codeformer": checkpoint})

    assert state.status == expected
    assert state.ok == (expected in ("installed", "unverified"))


def test_weights_status_reports_each_named_checkpoint_by_size(tmp_path):
    (tmp_path / "RealESRGAN_x2plus.pth").write_bytes(b"short")

    states = weights_status(tmp_path, ["codeformer", "realesrgan_x2plus"])

    assert {name: s.status for name, s in states.items()} == {"codeformer": "missing", "realesrgan_x2plus": "corrupt"}
    assert weights_status(tmp_path).keys() == MANIFEST.keys()


# --- manifest and models ---------------------------------------------------------------------


def test_the_manifest_lists_the_official_files():
    filenames = {name: c.filename for name, c in MANIFEST.items()}

    assert filenames == {
        "codeformer": "codeformer.pth",
        "retinaface_resnet50": "detection_Resnet50_Final.pth",
        "parsenet": "parsing_parsenet.pth",
        "realesrgan_x2plus": "RealESRGAN_x2plus.pth",
        "realesr_general_x4v3": "realesr-general-x4v3.pth",
        "gfpgan_v1.4": "GFPGANv1.4.pth",
        "restoreformer": "RestoreFormer.pth",
    }
    for checkpoint in MANIFEST.values():
        assert checkpoint.url.startswith("https://github.com/") and checkpoint.url.endswith("/" + checkpoint.filename)
        assert checkpoint.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", checkpoint.sha256)
        assert checkpoint.size > 1_000_000


def test_a_model_is_commercial_only_if_all_its_checkpoints_are():
    for model in MODELS.values():
        assert set(model.checkpoints) <= MANIFEST.keys()
        assert model.commercial_use == all(MANIFEST[c].commercial_use for c in model.checkpoints)
    assert MODELS["codeformer"].commercial_use is False
    assert [m.name for m in MODELS.values() if m.takes_fidelity] == ["codeformer"]


def test_checkpoints_for_models_lists_each_file_once():
    assert checkpoints_for_models(["codeformer", "gfpgan"]) == [
        "codeformer",
        "retinaface_resnet50",
        "parsenet",
        "realesrgan_x2plus",
        "gfpgan_v1.4",
    ]


def test_importing_the_engine_helpers_loads_neither_torch_nor_django():
    code = "import sys, ml.weights, ml.imageio; print(sorted({'torch', 'django', 'cv2'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


# --- command line ----------------------------------------------------------------------------


def test_the_status_command_lists_missing_files_and_fails(tmp_path, capsys):
    assert _cli(["status", "--dir", str(tmp_path), "--model", "codeformer"]) == 1

    out = capsys.readouterr().out
    assert re.search(r"missing\s+codeformer\s", out)
    assert "gfpgan" not in out


def test_the_status_command_passes_when_files_are_in_place(tmp_path, capsys):
    (tmp_path / "realesr-general-x4v3.pth").write_bytes(b"\0" * MANIFEST["realesr_general_x4v3"].size)

    assert _cli(["--dir", str(tmp_path), "status", "realesr_general_x4v3"]) == 0
    assert re.search(r"installed\s+realesr_general_x4v3", capsys.readouterr().out)


def test_the_fetch_command_reports_an_unknown_name(tmp_path, capsys):
    assert _cli(["fetch", "--dir", str(tmp_path), "--quiet", "nope"]) == 1
    assert "unknown checkpoint 'nope'" in capsys.readouterr().err
