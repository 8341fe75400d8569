"""The checkpoints the engine uses: what they are, whether they are installed, and fetching them.

Nothing here runs at import or inference time: weights arrive only through ``fetch_weights``
(``python manage.py fetch_weights`` or ``python -m ml.weights fetch``). Inference calls
``resolve_checkpoint``, which only looks at the disk. No torch import, so the web process can
report ``weights_status`` for its health endpoint.

Checksums: the upstream releases publish none. The values below come from independent public
copies that agree with each other and with the published byte sizes (see /work/shared/weights.md);
a file whose digest is unknown has ``sha256=None`` and verifies as "unverified", never "installed".
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import requests
from tqdm import tqdm

from ml.errors import WeightsError

FETCH_HINT = "run `python manage.py fetch_weights`"


@dataclass(frozen=True)
class Checkpoint:
    name: str
    filename: str
    url: str
    sha256: str | None
    size: int
    licence: str
    licence_url: str
    commercial_use: bool
    layout: str


_S_LAB = "https://github.com/sczhou/CodeFormer/blob/master/LICENSE"
_FACEXLIB = "https://github.com/xinntao/facexlib/blob/master/LICENSE"
_REAL_ESRGAN = "https://github.com/xinntao/Real-ESRGAN/blob/master/LICENSE"
_GFPGAN = "https://github.com/TencentARC/GFPGAN/blob/master/LICENSE"

MANIFEST: dict[str, Checkpoint] = {
    c.name: c
    for c in (
        Checkpoint(
            name="codeformer",
            filename="codeformer.pth",
            url="https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
            sha256="1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7",
            size=376_637_898,
            licence="S-Lab License 1.0",
            licence_url=_S_LAB,
            commercial_use=False,
            layout="{'params_ema': state_dict}",
        ),
        Checkpoint(
            name="retinaface_resnet50",
            filename="detection_Resnet50_Final.pth",
            url="https://github.com/xinntao/facexlib/releases/download/v0.1.0/detection_Resnet50_Final.pth",
            sha256="6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d",
            size=109_497_761,
            licence="MIT",
            licence_url=_FACEXLIB,
            commercial_use=True,
            layout="state_dict",
        ),
        Checkpoint(
            name="parsenet",
            filename="parsing_parsenet.pth",
            url="https://github.com/xinntao/facexlib/releases/download/v0.2.2/parsing_parsenet.pth",
            sha256="3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2",
            size=85_331_193,
            licence="MIT",
            licence_url=_FACEXLIB,
            commercial_use=True,
            layout="state_dict",
        ),
        Checkpoint(
            name="realesrgan_x2plus",
            filename="RealESRGAN_x2plus.pth",
            url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
            sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
            size=67_061_725,
            licence="BSD-3-Clause",
            licence_url=_REAL_ESRGAN,
            commercial_use=True,
            layout="{'params_ema': state_dict}",
        ),
        Checkpoint(
            name="realesr_general_x4v3",
            filename="realesr-general-x4v3.pth",
            url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.5.0/realesr-general-x4v3.pth",
            sha256="8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
            size=4_885_111,
            licence="BSD-3-Clause",
            licence_url=_REAL_ESRGAN,
            commercial_use=True,
            layout="{'params': state_dict}",
        ),
        Checkpoint(
            name="gfpgan_v1.4",
            filename="GFPGANv1.4.pth",
            url="https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
            sha256="e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
            size=348_632_874,
            licence="Apache-2.0",
            licence_url=_GFPGAN,
            commercial_use=True,
            # GFPGANer reads 'params_ema' and falls back to 'params'; not yet checked on the file.
            layout="{'params_ema': state_dict}",
        ),
        Checkpoint(
            name="restoreformer",
            filename="RestoreFormer.pth",
            url="https://github.com/TencentARC/GFPGAN/releases/download/v1.3.4/RestoreFormer.pth",
            sha256="07404d446d62ca3d5ed38b1de09a947a1e77d46dbccec961a74d713a8f24ace0",
            size=290_785_322,
            licence="Apache-2.0",
            licence_url=_GFPGAN,
            commercial_use=True,
            layout="{'params_ema': state_dict}",  # as for GFPGAN; not yet checked on the file
        ),
    )
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    checkpoints: tuple[str, ...]
    licence: str
    commercial_use: bool
    takes_fidelity: bool


# Every restorer shares the face detector, the face parser (for pasting back) and the x2
# background upsampler; only the restoring network differs.
_SHARED = ("retinaface_resnet50", "parsenet", "realesrgan_x2plus")

MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec("codeformer", "CodeFormer", ("codeformer", *_SHARED), "S-Lab License 1.0", False, True),
        ModelSpec("gfpgan", "GFPGAN v1.4", ("gfpgan_v1.4", *_SHARED), "Apache-2.0", True, False),
        ModelSpec("restoreformer", "RestoreFormer", ("restoreformer", *_SHARED), "Apache-2.0", True, False),
    )
}

Status = Literal["installed", "missing", "corrupt", "unverified"]


@dataclass(frozen=True)
class CheckpointStatus:
    """``unverified``: right size, but the manifest has no sha256 to check it against.
    ``checked_sha256`` says whether the digest was computed (``full=True``)."""

    name: str
    path: Path
    status: Status
    expected_size: int
    actual_size: int | None
    checked_sha256: bool
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in ("installed", "unverified")


# --- looking at the disk ---------------------------------------------------------------------


def checkpoints_for_models(models: Iterable[str]) -> list[str]:
    """The checkpoint names the given models need, each once, in manifest order."""
    wanted = {c for model in models for c in _model(model).checkpoints}
    return [name for name in MANIFEST if name in wanted]


def resolve_checkpoint(name: str, weights_dir: Path, *, manifest: Mapping[str, Checkpoint] = MANIFEST) -> Path:
    """The checkpoint's path, after a cheap size check; raises WeightsError when it is unusable."""
    state = verify_checkpoint(name, weights_dir, full=False, manifest=manifest)
    if not state.ok:
        raise WeightsError(f"{state.detail}; {FETCH_HINT}")
    return state.path


def verify_checkpoint(
    name: str, weights_dir: Path, *, full: bool = True, manifest: Mapping[str, Checkpoint] = MANIFEST
) -> CheckpointStatus:
    """Size check always; sha256 too when ``full`` (reads the whole file)."""
    checkpoint = _checkpoint(name, manifest)
    path = Path(weights_dir) / checkpoint.filename
    size = path.stat().st_size if path.is_file() else None

    def status(value: Status, detail: str, checked: bool = False) -> CheckpointStatus:
        return CheckpointStatus(name, path, value, checkpoint.size, size, checked, detail)

    if size is None:
        return status("missing", f"{path} is missing")
    if size != checkpoint.size:
        return status("corrupt", f"{path} has {size:,} bytes, expected {checkpoint.size:,}")
    if not full:
        return status("installed", f"{path} has the expected size")
    if checkpoint.sha256 is None:
        return status("unverified", f"{path} has the expected size; no published sha256 to check")
    if _sha256_of(path) != checkpoint.sha256:
        return status("corrupt", f"{path} fails its sha256 check", checked=True)
    return status("installed", f"{path} matches its sha256", checked=True)


def weights_status(
    weights_dir: Path, names: Iterable[str] | None = None, *, manifest: Mapping[str, Checkpoint] = MANIFEST
) -> dict[str, CheckpointStatus]:
    """Size-only status of each checkpoint, cheap enough for a health endpoint."""
    return {name: verify_checkpoint(name, weights_dir, full=False, manifest=manifest) for name in names or manifest}


def missing_checkpoints(spec: ModelSpec, statuses: Mapping[str, CheckpointStatus]) -> list[str]:
    """The checkpoints ``spec`` needs that ``statuses`` (from ``weights_status``) does not show
    as usable: the one rule for "this model's weights are installed"."""
    return [name for name in spec.checkpoints if not (name in statuses and statuses[name].ok)]


# --- downloading -----------------------------------------------------------------------------


def download_checkpoint(
    name: str | Checkpoint,
    weights_dir: Path,
    *,
    progress: bool = True,
    session: requests.Session | None = None,
    timeout: float = 30,
    chunk_size: int = 1 << 20,
    manifest: Mapping[str, Checkpoint] = MANIFEST,
) -> Path:
    """Download, resuming a previous ``.partial``, verify size and sha256, then rename into place.

    A file already installed (sha256 verified) is left alone. On a checksum mismatch the partial
    is deleted; on a dropped connection it is kept, so the next run resumes.
    """
    checkpoint = name if isinstance(name, Checkpoint) else _checkpoint(name, manifest)
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / checkpoint.filename
    # Web and worker containers may both run fetch_weights on one shared volume at start-up.
    with _exclusive_lock(target.with_name(target.name + ".lock")):
        if verify_checkpoint(checkpoint.name, weights_dir, manifest={checkpoint.name: checkpoint}).ok:
            return target
        partial = target.with_name(target.name + ".partial")
        with requests.Session() if session is None else nullcontext(session) as http:
            _download_to(partial, checkpoint, http, progress, timeout, chunk_size)
        _check_partial(partial, checkpoint)
        os.replace(partial, target)  # atomic: readers never see a half-written checkpoint
    return target


def fetch_weights(
    weights_dir: Path,
    names: Iterable[str] | None = None,
    *,
    progress: bool = True,
    manifest: Mapping[str, Checkpoint] = MANIFEST,
    session: requests.Session | None = None,
) -> list[Path]:
    """Install every named checkpoint (default: all that some model in MODELS uses).

    Tries each one even when another fails, then raises one WeightsError naming the failures.
    """
    wanted = list(names) if names is not None else checkpoints_for_models(MODELS)
    paths, failures = [], []
    for name in wanted:
        try:
            paths.append(download_checkpoint(name, weights_dir, progress=progress, session=session, manifest=manifest))
        except WeightsError as exc:
            failures.append(str(exc))
    if failures:
        raise WeightsError("; ".join(failures))
    return paths


def _download_to(
    partial: Path, checkpoint: Checkpoint, session: requests.Session, progress: bool, timeout: float, chunk_size: int
) -> None:
    offset = partial.stat().st_size if partial.exists() else 0
    if offset >= checkpoint.size:
        if offset == checkpoint.size:
            return  # complete from an earlier run; only the check and rename are left
        partial.unlink()  # longer than the real file: it cannot be a prefix of it
        offset = 0
    # identity encoding: byte offsets must count file bytes, not gzip-decoded ones.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        with session.get(checkpoint.url, headers=headers, stream=True, timeout=timeout) as response:
            offset = _resume_offset(response, offset, checkpoint, partial)
            _write_body(response, partial, offset, checkpoint, progress, chunk_size)
    except requests.RequestException as exc:
        raise WeightsError(
            f"download of {checkpoint.filename} was interrupted ({exc}); run it again to resume"
        ) from exc


def _resume_offset(response: requests.Response, offset: int, checkpoint: Checkpoint, partial: Path) -> int:
    """Where the response body starts in the file: 206 resumes, 200 restarts from zero."""
    if response.status_code == 416:  # our Range is past the end: the partial is not a prefix
        partial.unlink()
        raise WeightsError(f"the partial download of {checkpoint.filename} was invalid and is deleted; run again")
    if response.status_code == 206:
        start = _content_range_start(response.headers.get("Content-Range", ""))
        if start != offset:
            raise WeightsError(f"server resumed {checkpoint.filename} at byte {start}, not {offset}")
        return offset
    if response.status_code == 200:
        return 0  # the server ignored Range and sent the whole file
    raise WeightsError(f"download of {checkpoint.filename} failed: HTTP {response.status_code} from {checkpoint.url}")


def _content_range_start(value: str) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _write_body(
    response: requests.Response, partial: Path, offset: int, checkpoint: Checkpoint, progress: bool, chunk_size: int
) -> None:
    mode = "r+b" if offset else "wb"
    with (
        open(partial, mode) as out,
        tqdm(
            total=checkpoint.size,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=checkpoint.filename,
            disable=not progress,
        ) as bar,
    ):
        out.seek(offset)
        out.truncate()
        for chunk in response.iter_content(chunk_size):
            out.write(chunk)
            bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())  # the rename must not land before the bytes do


def _check_partial(partial: Path, checkpoint: Checkpoint) -> None:
    size = partial.stat().st_size
    if size < checkpoint.size:
        raise WeightsError(
            f"download of {checkpoint.filename} stopped at {size:,} of {checkpoint.size:,} bytes; run it again to resume"
        )
    if size > checkpoint.size:
        partial.unlink()
        raise WeightsError(f"{checkpoint.filename} has {size:,} bytes, expected {checkpoint.size:,}; deleted")
    if checkpoint.sha256 is not None and _sha256_of(partial) != checkpoint.sha256:
        partial.unlink()
        raise WeightsError(f"{checkpoint.filename} failed its sha256 check and was deleted; run it again")


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released on close, and by the kernel if we die
        yield


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _checkpoint(name: str, manifest: Mapping[str, Checkpoint]) -> Checkpoint:
    try:
        return manifest[name]
    except KeyError:
        raise WeightsError(f"unknown checkpoint {name!r}; known: {', '.join(manifest)}") from None


def _model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise WeightsError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


# --- command line ----------------------------------------------------------------------------


def _default_dir() -> Path:
    return Path(os.environ.get("WEIGHTS_DIR", "weights"))


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.weights", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="weights folder (default: $WEIGHTS_DIR or ./weights)")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="download and verify checkpoints")
    fetch.add_argument("names", nargs="*", help=f"checkpoints (default: all models'); any of {', '.join(MANIFEST)}")
    fetch.add_argument("--model", action="append", default=[], choices=list(MODELS), help="fetch what a model needs")
    fetch.add_argument("--quiet", action="store_true", help="no progress bars")
    status = commands.add_parser("status", help="show which checkpoints are installed")
    status.add_argument("names", nargs="*", help="checkpoints (default: all models')")
    status.add_argument("--model", action="append", default=[], choices=list(MODELS), help="check what a model needs")
    status.add_argument("--full", action="store_true", help="also verify sha256 (reads every file)")
    for sub in (fetch, status):
        # Accepted after the command too; SUPPRESS keeps an absent one from erasing the first.
        sub.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    weights_dir = args.dir or _default_dir()
    names = list(dict.fromkeys(args.names + checkpoints_for_models(args.model))) or checkpoints_for_models(MODELS)
    try:
        if args.command == "fetch":
            return _cli_fetch(weights_dir, names, quiet=args.quiet)
        return _cli_status(weights_dir, names, full=args.full)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _cli_fetch(weights_dir: Path, names: list[str], *, quiet: bool) -> int:
    try:
        paths = fetch_weights(weights_dir, names, progress=not quiet)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"ok  {path}")
    return 0


def _cli_status(weights_dir: Path, names: list[str], *, full: bool) -> int:
    states = [verify_checkpoint(name, weights_dir, full=full) for name in names]
    for state in states:
        print(f"{state.status:<10}  {state.name:<22}  {state.detail}")
    return 0 if all(state.ok for state in states) else 1


if __name__ == "__main__":
    sys.exit(_cli())
