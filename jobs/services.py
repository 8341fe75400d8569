"""Writes on jobs: submission, cancellation, the worker's run, and recovery of stale work.

Every transition that can race (worker vs cancel vs sweep) is one conditional UPDATE on the
status the caller expects, plus ``attempts`` where a re-queued job could meet its old worker;
whoever loses the race changes nothing. Money follows the state in the same transaction:
COMPLETED captures the hold, FAILED/ERROR/CANCELED release it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from dramatiq.middleware.shutdown import Shutdown
from dramatiq.middleware.time_limit import TimeLimitExceeded

from billing.controls import admission_check
from billing.errors import InsufficientBalance, in_debt_error
from billing.hooks import after_spend
from billing.money import format_money
from billing.pricing import price_for
from billing.selectors import wallet_currency, wallet_totals
from billing.services import hold_capture, hold_release, holds_place
from config.errors import BadRequest, Conflict, NotFound
from jobs import failures
from jobs.engine import get_engine
from jobs.errors import OutputTooLarge
from jobs.failures import InputMissing
from jobs.heartbeat import current_worker_id
from jobs.idempotency import check_replay, idempotency_key_clean, job_idempotency_key, jobs_for_key
from jobs.media import delete_stored, input_path, output_path
from jobs.metrics import record_job_finished
from jobs.models import REQUEST_ID_PREFIX, Job, JobLog, WorkerHeartbeat
from jobs.types import ImageInput, JobParams
from jobs.webhooks import webhook_emit, webhook_events_normalize
from lib import logcontext
from lib.breaker import breaker_of
from lib.db import settle_after_interrupt
from lib.inserts import NewRows
from lib.netfetch import check_public_url
from ml.cancel import Cancelled, CancelToken
from ml.errors import InvalidImage, ModelNotEnabled, RestorationFailed, WeightsError
from moderation.screening import image_hash_rows, images_screen, output_hash_record

logger = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class JobAbandoned(Exception):
    """The job was canceled or taken over while the pipeline ran; stop working on it."""


# --- Submission -------------------------------------------------------------------------------


def job_admission_precheck(*, organization, params: JobParams, api_key=None, image_count: int = 1) -> int:
    """The cheap refusals, for views to run before any expensive intake (fetching an image URL,
    decoding a large upload): the price must exist, the billing controls pass (debt, quota,
    spend limits) and the wallet's available balance covers ``image_count`` images (402).
    Returns the price of one image before any per-pixel line (the image is not known yet).

    Plain reads without the wallet lock: ``job_submit`` repeats the checks with the images'
    real prices and its hold stays the guard of the money; this only keeps an organization that
    cannot pay from making the server fetch and decode for nothing (a slow image server ties up
    a web worker for the whole fetch deadline).
    """
    price = price_for(params, plan=organization.plan)
    admission_check(organization=organization, api_key=api_key, count=image_count, total_price=price * image_count)
    balance, held, in_debt = wallet_totals(organization)
    if in_debt or balance < 0:
        raise in_debt_error(balance, wallet_currency(organization))
    if balance - held < price * image_count:
        raise InsufficientBalance()
    return price


def largest_upscale_for(width: int, height: int) -> int:
    """The largest whole upscale whose output stays within ``MAX_OUTPUT_PIXELS`` (0 if none)."""
    limit = settings.MAX_OUTPUT_PIXELS
    upscale = 0
    while width * height * (upscale + 1) ** 2 <= limit:
        upscale += 1
    return upscale


def _check_output_size(params: JobParams, images: list[ImageInput]) -> None:
    """Refuse, before holding anything, a request whose output would exceed the cap, rather than
    lowering the upscale in the worker and charging for the one asked for."""
    for image in images:
        largest = largest_upscale_for(image.width, image.height)
        if params.upscale > largest:
            raise OutputTooLarge(
                width=image.width,
                height=image.height,
                upscale=params.upscale,
                limit=settings.MAX_OUTPUT_PIXELS,
                largest=largest,
            )


def job_submit(
    *,
    organization,
    params: JobParams,
    images: list[ImageInput],
    source: str,
    api_key=None,
    user=None,
    webhook_url: str = "",
    webhook_events: list[str] | None = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    base_url: str = "",
) -> tuple[list[Job], bool]:
    """Create one QUEUED job per image, holding each job's price, all or nothing.

    Returns ``(jobs, created)``; ``created`` is False when ``idempotency_key`` matched an earlier
    request of the organization, whose jobs are returned without holding again. Input files are
    stored before the transaction commits, so every failure path deletes them.

    Not @transaction.atomic itself: the admission is written by ``holds_place`` (one statement on
    PostgreSQL, its own transaction elsewhere), so that after a refusal or a lost race this
    function can still delete the files and re-read the winner of an idempotency-key race.
    """
    if not images:
        raise BadRequest("At least one image is required.")
    key = idempotency_key_clean(idempotency_key) if idempotency_key else None
    if key:
        earlier = jobs_for_key(organization, key)
        if earlier:
            return check_replay(earlier, fingerprint), False
    _check_output_size(params, images)
    webhook_url = (webhook_url or "").strip()
    events = webhook_events_normalize(webhook_events) if webhook_url else []
    if webhook_url:
        check_public_url(webhook_url)
    # Known-bad images are refused before any money is held: here (SQLite), or by the admission
    # statement itself, which then writes nothing (PostgreSQL; the stored inputs are deleted).
    screening = images_screen(organization=organization, images=images, source=source, api_key=api_key, user=user)
    stored: list[str] = []
    try:
        jobs = _create_jobs(
            organization=organization,
            params=params,
            images=images,
            source=source,
            api_key=api_key,
            user=user,
            webhook_url=webhook_url,
            webhook_events=events,
            key=key,
            fingerprint=fingerprint,
            base_url=base_url,
            stored=stored,
            screening=screening,
        )
    except IntegrityError:
        _delete_all(stored)
        # Lost the race for the idempotency key to a concurrent request: answer with its jobs.
        earlier = jobs_for_key(organization, key) if key else []
        if earlier:
            return check_replay(earlier, fingerprint), False
        raise
    except BaseException:
        _delete_all(stored)
        raise
    # From here on this request's log lines carry the id the client got back (one request, one
    # image, for the gateway; the demo API's several jobs log under the first).
    logcontext.bind(request_id=jobs[0].request_id)
    logger.info("request queued: %d job(s), %d held", len(jobs), sum(job.price for job in jobs))
    return jobs, True


def _create_jobs(
    *,
    organization,
    params,
    images,
    source,
    api_key,
    user,
    webhook_url,
    webhook_events,
    key,
    fingerprint,
    base_url,
    stored,
    screening,
) -> list[Job]:
    # Everything but the admission itself happens before it: pricing (from the process's copy of
    # the price table), validation, the input files. The admission is holds_place's conditional
    # UPDATE of the wallet (balance and the cap on jobs in flight) with the new rows.
    plan = organization.plan
    prices = [price_for(params, plan=plan, width=image.width, height=image.height) for image in images]
    admission_check(organization=organization, api_key=api_key, count=len(images), total_price=sum(prices))
    jobs = []
    for index, image in enumerate(images):
        price = prices[index]
        job = Job(
            id=uuid.uuid4(),
            organization=organization,
            api_key=api_key,
            created_by=user,
            source=source,
            model=params.model,
            params=params.as_dict(),
            price=price,
            input_name=(image.name or "")[:255],
            input_url=image.source_url or "",
            input_width=image.width,
            input_height=image.height,
            webhook_url=webhook_url,
            webhook_events=webhook_events,
            idempotency_key=job_idempotency_key(key, index),
            request_fingerprint=fingerprint or "",
            base_url=(base_url or "").rstrip("/")[:300],
        )
        try:
            # Field validation only: the foreign keys were just loaded (checking them would be a
            # query each) and the one unique constraint is enforced by the database below.
            job.full_clean(
                exclude=["organization", "api_key", "created_by"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            raise BadRequest(_validation_message(exc)) from exc
        name = default_storage.save(input_path(job, image.format), ContentFile(image.data))
        stored.append(name)
        job.input_file.name = name
        jobs.append(job)
    logs = [JobLog(job=job, message="Request queued.") for job in jobs]
    # The jobs, their log lines and input hashes are written with the hold, all or nothing: on
    # PostgreSQL one statement in autocommit (the unique idempotency key decides a race between
    # two requests with one key; the wallet row is locked only while that statement runs).
    holds_place(
        jobs=jobs,
        amounts=prices,
        max_in_flight=plan.max_jobs_in_flight,
        with_rows=[
            NewRows(jobs),
            NewRows(logs),
            NewRows(image_hash_rows(jobs=jobs, hashes=screening.hashes), ignore_conflicts=True),
        ],
        veto=screening.veto,
    )
    job_ids = [job.id for job in jobs]
    # At once in autocommit; after the caller's COMMIT when it runs inside a transaction.
    transaction.on_commit(lambda: _enqueue(job_ids))
    # Low-balance and spend alerts, auto-recharge: looked at after the commit, in an actor.
    transaction.on_commit(lambda: after_spend(organization=organization))
    return jobs


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def _delete_all(names: list[str]) -> None:
    for name in names:
        try:
            delete_stored(name)
        except Exception:
            logger.exception("could not delete stored input %s", name)


def _enqueue(job_ids: list) -> int:
    """Send the run messages; returns how many were sent. A broker failure must not fail a
    request whose jobs are committed: the job is marked ``enqueue_failed_at`` and the stale-job
    sweep re-sends it.

    A hung or refused Redis costs one send one socket timeout (``REDIS_SOCKET_TIMEOUT_S``); the
    process then skips the broker for ``REDIS_FAIL_OPEN_S`` (lib.breaker) and marks jobs at once.
    """
    from jobs.actors import process_job

    breaker = breaker_of(process_job.broker, open_for_s=settings.REDIS_FAIL_OPEN_S)
    unsent = []
    for job_id in job_ids:
        if not breaker.allows():
            unsent.append(job_id)
            continue
        try:
            process_job.send(str(job_id))
        except Exception:
            if breaker.record_failure():
                logger.exception("could not enqueue job %s; the sweep will re-send it", job_id)
            unsent.append(job_id)
        else:
            breaker.record_success()
    if unsent:
        logger.warning("%d job message(s) not sent (broker unavailable); left to the sweep", len(unsent))
        Job.objects.filter(id__in=unsent, status=Job.Status.QUEUED).update(enqueue_failed_at=timezone.now())
    return len(job_ids) - len(unsent)


def _log(job: Job, message: str) -> None:
    JobLog.objects.create(job=job, message=message[:500])


# --- Cancellation -----------------------------------------------------------------------------


CANCELED_BY_CLIENT = "Canceled by the client."


@transaction.atomic
def job_cancel(*, organization, job: Job, reason: str = CANCELED_BY_CLIENT) -> Job:
    """Cancel a QUEUED or PROCESSING job and release its hold. A worker still running it finds
    the job no longer PROCESSING and discards its result. ``reason`` becomes the job's ``error``
    (what its status shows): who or what canceled it."""
    if job.organization_id != organization.id:
        raise NotFound("No request with this id.")
    now = timezone.now()
    changed = Job.objects.filter(id=job.id, status__in=Job.IN_FLIGHT).update(
        status=Job.Status.CANCELED, completed_at=now, updated_at=now, error=reason
    )
    job.refresh_from_db()
    if not changed:
        if job.status == Job.Status.CANCELED:
            return job
        raise Conflict(f"The request has already finished with status {job.status}.")
    _log(job, f"Request canceled: {reason}")
    webhook_emit(job=job, event="completed")
    hold_release(job=job, reason="canceled")  # last: it locks the wallet row until COMMIT
    return job


def jobs_wait(
    *, organization, jobs: list[Job], timeout_s: float, cancel_reason: str | None = None
) -> tuple[list[Job], list[Job]]:
    """Wait until every job is terminal; past ``timeout_s`` cancel the rest (not charged), with
    ``cancel_reason`` (default: that they were not finished in time) as their error.

    Returns ``(jobs, canceled)``: the jobs as they ended, in the given order, and those this
    call canceled because the deadline passed. Polls quickly at first (small images finish in
    well under a second on a GPU), then backs off.
    """
    ids = [job.id for job in jobs]
    current = jobs_await(organization=organization, jobs=jobs, timeout_s=timeout_s)
    if all(job.is_terminal for job in current):
        return current, []
    pending = {job.id for job in current if not job.is_terminal}
    reason = cancel_reason or f"Timed out: not finished within {timeout_s:g} seconds; canceled and not charged."
    for job in current:
        if job.id in pending:
            # A job that finished between the read and the cancel answers Conflict; the reload tells.
            with contextlib.suppress(Conflict):
                job_cancel(organization=organization, job=job, reason=reason)
    current = _reload_jobs(organization, ids)
    return current, [job for job in current if job.id in pending and job.status == Job.Status.CANCELED]


def jobs_await(*, organization, jobs: list[Job], timeout_s: float) -> list[Job]:
    """The jobs, re-read, once all are terminal or ``timeout_s`` has passed (nothing is
    canceled). Polls quickly at first, then backs off."""
    ids = [job.id for job in jobs]
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while True:
        current = _reload_jobs(organization, ids)
        if all(job.is_terminal for job in current) or time.monotonic() >= deadline:
            return current
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, _MAX_POLL_S)


_FIRST_POLL_S = 0.05
_MAX_POLL_S = 1.0


def _reload_jobs(organization, ids: list) -> list[Job]:
    by_id = {job.id: job for job in Job.objects.filter(organization=organization, id__in=ids)}
    return [by_id[job_id] for job_id in ids]


# --- The worker's run -------------------------------------------------------------------------


def job_run(*, job_id) -> Job | None:
    """Process one job. Idempotent: a message for a job that is not QUEUED does nothing.

    The engine gets a cancellation token tied to the job's row (``job_cancel_token``), so a
    cancel or a take-over by the sweep stops the computation within one model call. Dramatiq's
    time limit and worker shutdown arrive as exceptions raised asynchronously in this thread
    (``TimeLimitExceeded``; ``Shutdown``, the actor sets ``notify_shutdown``): they can land
    anywhere, even while another outcome is being settled or inside the database driver (the
    handlers first replace a connection left mid-command), so they are handled around the
    whole run. Dramatiq raises each at most once per message, which is what makes that enough.
    """
    with logcontext.log_context(request_id=f"{REQUEST_ID_PREFIX}{job_id}"):
        return _run(job_id)


def _run(job_id) -> Job | None:
    job = _claim(job_id)
    if job is None:
        logger.info("job %s is not queued any more; message ignored", job_id)
        return None
    attempt = job.attempts
    stored: list[str] = []  # the output file, once saved (the handlers below must see it)
    try:
        _run_claimed(job, attempt, stored)
    except TimeLimitExceeded as exc:
        settle_after_interrupt(connection)
        error = failures.time_limit_text(settings.JOB_TIME_LIMIT_S)
        _finish(job, attempt, Job.Status.ERROR, error=error, detail=failures.operator_detail(exc))
    except Shutdown:
        settle_after_interrupt(connection)
        _release_to_queue(job, attempt)
    # Asked of the row, not of a local flag: an interrupt can land between the commit and
    # any assignment after it.
    if stored and not Job.objects.filter(id=job.id, output_file=stored[0]).exists():
        # Canceled, timed out or taken over by the sweep while we ran (or the finish failed):
        # the stored result belongs to nobody.
        delete_stored(stored[0])
        logger.info("job %s attempt %s: result discarded", job.id, attempt)
    job.refresh_from_db()
    return job


def job_cancel_token(job: Job, attempt: int) -> CancelToken:
    """A token the engine checks between its model calls: canceled once this attempt no longer
    owns the job (the client canceled it, or the sweep re-queued it). It reads the row at most
    every ``JOB_CANCEL_POLL_MS``: on a GPU a tile takes milliseconds."""

    def poll() -> str | None:
        if Job.objects.filter(id=job.id, status=Job.Status.PROCESSING, attempts=attempt).exists():
            return None
        return "the job was canceled or taken over"

    return CancelToken(poll, min_interval_s=settings.JOB_CANCEL_POLL_MS / 1000)


def _run_claimed(job: Job, attempt: int, stored: list[str]) -> None:
    """Run the engine and settle the outcome."""
    try:
        options = _restore_options(job)
        engine = get_engine()
        data = _read_input(job)
        result = engine.restore(
            data,
            options,
            on_progress=lambda stage: _progress(job, attempt, stage),
            cancel=job_cancel_token(job, attempt),
        )
        _check_result(result)
        stored.append(default_storage.save(output_path(job), ContentFile(result.png)))
        if _finish(job, attempt, Job.Status.COMPLETED, output_name=stored[0], result=result):
            _hash_output(job, result.png)
    except (JobAbandoned, Cancelled):
        logger.info("job %s attempt %s: stopped, the job is no longer ours", job.id, attempt)
    except InvalidImage as exc:
        error = failures.invalid_image_text(exc)
        _finish(job, attempt, Job.Status.FAILED, error=error, detail=failures.operator_detail(exc))
    except (ModelNotEnabled, WeightsError, RestorationFailed, InputMissing) as exc:
        # The engine's message is for the operator (paths, `manage.py fetch_weights`); the
        # customer reads what happened and what to do.
        logger.warning("job %s: %s: %s", job.id, type(exc).__name__, exc)
        error = failures.customer_text(exc)
        _finish(job, attempt, Job.Status.ERROR, error=error, detail=failures.operator_detail(exc))
    except Exception as exc:
        logger.exception("job %s: unexpected error in the restoration engine", job.id)
        _finish(job, attempt, Job.Status.ERROR, error=failures.UNEXPECTED, detail=failures.operator_detail(exc))


def _release_to_queue(job: Job, attempt: int) -> None:
    """The worker is shutting down mid-job: hand the job back to the queue now (another worker
    takes it) instead of leaving it PROCESSING until the stale sweep. Out of attempts, it is
    an ERROR with its hold released, as the sweep would decide."""
    if attempt >= settings.JOB_MAX_ATTEMPTS:
        message = f"The worker shut down while processing this request ({attempt} attempts)."
        _finish(job, attempt, Job.Status.ERROR, error=message)
        return
    _requeue(job, now=timezone.now(), reason="The worker shut down")


def _hash_output(job: Job, png: bytes) -> None:
    try:
        output_hash_record(job=job, png=png)
    except Exception:
        logger.exception("job %s: could not record the output's perceptual hash", job.id)


def _read_input(job: Job) -> bytes:
    try:
        with job.input_file.open("rb") as handle:
            return handle.read()
    except (FileNotFoundError, ValueError) as exc:
        raise InputMissing("The input image is no longer available.") from exc


def _claim(job_id) -> Job | None:
    now = timezone.now()
    with transaction.atomic():
        claimed = Job.objects.filter(id=job_id, status=Job.Status.QUEUED).update(
            status=Job.Status.PROCESSING,
            started_at=now,
            updated_at=now,
            completed_at=None,
            attempts=F("attempts") + 1,
            worker_id=current_worker_id(),
        )
        if not claimed:
            return None
        job = Job.objects.select_related("organization").get(id=job_id)
        _log(job, f"Processing started (attempt {job.attempts}).")
        webhook_emit(job=job, event="start")
    return job


def _restore_options(job: Job):
    try:
        return JobParams.from_values({"model": job.model, **(job.params or {})}).restore_options()
    except (TypeError, ValueError) as exc:
        raise InvalidImage(f"Invalid parameters: {exc}") from exc


def _progress(job: Job, attempt: int, stage: str) -> None:
    """The pipeline's on_progress: a log line (and a ``logs`` webhook) per stage. Stops the
    pipeline early when the job was canceled or re-queued meanwhile."""
    with transaction.atomic():
        still_ours = Job.objects.filter(id=job.id, status=Job.Status.PROCESSING, attempts=attempt).exists()
        if not still_ours:
            raise JobAbandoned(str(job.id))
        _log(job, _stage_message(stage))
        webhook_emit(job=job, event="logs")


_STAGE_MESSAGES = {
    "decode": "Decoding the image.",
    "load": "Loading the models.",
    "detect": "Detecting faces.",
    "align": "Aligning faces.",
    "restore": "Restoring faces.",
    "background": "Enhancing the background.",
    "paste": "Pasting faces back.",
    "encode": "Encoding the result.",
}


def _stage_message(stage: str) -> str:
    return _STAGE_MESSAGES.get(stage, str(stage))


def _check_result(result) -> None:
    """Refuse to call a job COMPLETED unless the engine handed back a real PNG of the size it
    claims."""
    png = getattr(result, "png", b"") or b""
    if not png.startswith(PNG_SIGNATURE) or len(png) < 33:
        raise RestorationFailed("The engine returned no PNG image.")
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    if width <= 0 or height <= 0 or (width, height) != (result.width, result.height):
        raise RestorationFailed(
            f"The engine's PNG is {width}x{height}, not the {result.width}x{result.height} it reported."
        )


def _face_count(faces) -> int:
    return faces if isinstance(faces, int) else len(faces or [])


def _finish(
    job: Job, attempt: int, status: str, *, error: str = "", detail: str = "", output_name: str = "", result=None
) -> bool:
    """Move PROCESSING (this attempt) to a terminal state and settle the money; False if the job
    was no longer ours (canceled, or re-queued by the sweep). ``error`` is the customer's text,
    ``detail`` the operator's (see jobs.failures)."""
    now = timezone.now()
    fields: dict = {
        "status": status,
        "completed_at": now,
        "updated_at": now,
        "error": error[:2000],
        "error_detail": detail[:4000],
    }
    if result is not None:
        fields.update(
            output_file=output_name,
            output_width=result.width,
            output_height=result.height,
            faces_detected=_face_count(result.faces),
            timings={str(k): round(float(v), 4) for k, v in (result.timings or {}).items()},
        )
    with transaction.atomic():
        changed = Job.objects.filter(id=job.id, status=Job.Status.PROCESSING, attempts=attempt).update(**fields)
        if not changed:
            return False
        job.refresh_from_db()
        charge = None
        if status == Job.Status.COMPLETED:
            # Priced before the events go out, so their status object's cost is the final one.
            charge = _delivered_charge(job, result)
            for warning in getattr(result, "warnings", None) or []:
                _log(job, f"Warning: {warning}")
            _log(job, f"Completed: {result.width}x{result.height}, {job.faces_detected} face(s).")
            webhook_emit(job=job, event="output")
        else:
            _log(job, f"{status.capitalize()}: {error}")
        webhook_emit(job=job, event="completed")
        # Settled last: the settlement locks the organization's wallet row until COMMIT, and
        # every submission of the organization needs that row.
        if status == Job.Status.COMPLETED:
            hold_capture(job=job, amount=charge)
        else:
            hold_release(job=job, reason=status.lower())
        finished = {"status": status, "timings": job.timings, "faces": job.faces_detected or 0}
        transaction.on_commit(lambda: record_job_finished(**finished))
    logger.info("job finished: %s", status)
    return True


def _delivered_charge(job: Job, result) -> int | None:
    """The price of what was delivered, when it is not the one held (None: the whole hold).
    Submission refuses an upscale whose output would exceed the cap, but the cap can be lowered
    between submission and run; then the engine delivers a smaller upscale and the job pays for
    that one (at most what was held). The job's price becomes it; the capture follows."""
    asked = int((job.params or {}).get("upscale", 2))
    applied = getattr(result, "upscale", None) or asked
    if applied >= asked:
        return None
    delivered = JobParams.from_values({**(job.params or {}), "upscale": applied})
    charge = min(
        price_for(delivered, plan=job.organization.plan, width=job.input_width, height=job.input_height), job.price
    )
    Job.objects.filter(id=job.id).update(price=charge)
    job.price = charge
    _log(
        job,
        f"Upscale {applied} applied instead of {asked} (output cap); charged {format_money(charge)} "
        f"instead of the {asked}x price.",
    )
    return charge


# --- Recovery of stale work -------------------------------------------------------------------


def job_sweep_stale(*, now=None) -> dict[str, int]:
    """Recover jobs a dead worker left behind.

    A PROCESSING job is abandoned when the worker that claimed it has not written its heartbeat
    for ``WORKER_DEAD_AFTER_S`` (or never did, or shut down without it), or, whatever its
    heartbeat says, when it started more than ``JOB_STALE_AFTER_S`` ago (the backstop: a thread
    stuck where the time limit cannot reach it). An abandoned job is re-queued while it has
    attempts left, else ends in ERROR with its hold released. A QUEUED job that old is re-sent
    (its message may have been lost with a broker restart); a duplicate message is harmless, the
    claim is conditional. A QUEUED job whose message could not be sent at all
    (``enqueue_failed_at``) is re-sent on every sweep until a send succeeds.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_STALE_AFTER_S)
    counts = {"requeued": 0, "errored": 0, "resent": 0}
    for job in _abandoned_jobs(now=now, cutoff=cutoff):
        if job.attempts < settings.JOB_MAX_ATTEMPTS:
            counts["requeued"] += _requeue(job, now=now)
        else:
            message = failures.worker_lost_text(job.attempts)
            detail = (
                f"PROCESSING for over JOB_STALE_AFTER_S={settings.JOB_STALE_AFTER_S}s after {job.attempts} attempts"
            )
            counts["errored"] += _finish(
                Job.objects.get(id=job.id), job.attempts, Job.Status.ERROR, error=message, detail=detail
            )
    counts["resent"] += _resend_unsent(now=now)
    waiting = list(Job.objects.filter(status=Job.Status.QUEUED, updated_at__lt=cutoff).values_list("id", flat=True))
    for job_id in waiting:
        # Touch updated_at so a long queue is re-sent once per stale window, not every sweep.
        if Job.objects.filter(id=job_id, status=Job.Status.QUEUED, updated_at__lt=cutoff).update(updated_at=now):
            counts["resent"] += _enqueue([job_id])
    return counts


def _abandoned_jobs(*, now, cutoff) -> list[Job]:
    # started_at past the dead window too: a worker that claimed a job moments after booting
    # may not have written its first beat yet.
    dead_since = now - timedelta(seconds=settings.WORKER_DEAD_AFTER_S)
    live_beat = WorkerHeartbeat.objects.filter(worker_id=OuterRef("worker_id"), seen_at__gte=dead_since)
    orphaned = Q(started_at__lt=dead_since) & ~Q(worker_id="") & ~Exists(live_beat)
    return list(
        Job.objects.filter(status=Job.Status.PROCESSING)
        .filter(Q(started_at__lt=cutoff) | orphaned)
        .only("id", "attempts", "worker_id")
    )


def _resend_unsent(*, now) -> int:
    """Send again the messages that could not be sent (Redis was down or hung), on every sweep
    rather than after the stale window: these jobs were never in the queue at all."""
    unsent = list(
        Job.objects.filter(status=Job.Status.QUEUED, enqueue_failed_at__isnull=False).values_list("id", flat=True)
    )
    sent = 0
    for job_id in unsent:
        # Cleared first: a send that fails again marks the job again, one that succeeds leaves it
        # clear; a concurrent sweep that lost this update sends nothing.
        if Job.objects.filter(id=job_id, status=Job.Status.QUEUED, enqueue_failed_at__isnull=False).update(
            enqueue_failed_at=None, updated_at=now
        ):
            sent += _enqueue([job_id])
    return sent


def _requeue(job: Job, *, now, reason: str = "The worker stopped responding") -> int:
    with transaction.atomic():
        changed = Job.objects.filter(id=job.id, status=Job.Status.PROCESSING, attempts=job.attempts).update(
            status=Job.Status.QUEUED, started_at=None, updated_at=now, worker_id=""
        )
        if changed:
            _log(
                job,
                f"{reason}; re-queued (attempt {job.attempts} of {settings.JOB_MAX_ATTEMPTS} used).",
            )
            transaction.on_commit(lambda: _enqueue([job.id]))
    return changed
