"""``manage.py fetch_weights [names...] [--dir DIR]``: install checkpoints into WEIGHTS_DIR.

A thin wrapper over ``ml.weights.fetch_weights``. Names may be checkpoints or models (a model
stands for every checkpoint it needs); with none, the enabled models' checkpoints are fetched
(``--all`` for every model's).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ml import weights
from ml.errors import WeightsError


class Command(BaseCommand):
    help = "Download and verify model checkpoints into WEIGHTS_DIR (or --dir)."

    def add_arguments(self, parser):
        parser.add_argument(
            "names",
            nargs="*",
            help=f"Checkpoints ({', '.join(weights.MANIFEST)}) or models ({', '.join(weights.MODELS)}).",
        )
        parser.add_argument("--dir", type=Path, default=None, help="Target folder (default: settings.WEIGHTS_DIR).")
        parser.add_argument(
            "--all", action="store_true", help="Every model's checkpoints, not only the enabled models'."
        )
        parser.add_argument("--quiet", action="store_true", help="No progress bars.")
        parser.add_argument(
            "--if-possible",
            action="store_true",
            help="Report a failure (no internet, say) in one line and exit 0, so the caller goes on (make run).",
        )

    def handle(self, *args, **options):
        names = checkpoint_names(options["names"], everything=options["all"])
        target = options["dir"] or Path(settings.WEIGHTS_DIR)
        try:
            paths = weights.fetch_weights(target, names, progress=not options["quiet"])
        except WeightsError as exc:
            if not options["if_possible"]:
                raise CommandError(str(exc)) from exc
            self.stderr.write(
                f"Model weights could not be fetched into {target} ({_first_reason(exc)}). The service starts "
                "anyway; restorations cannot run, and the dashboard says so, until `manage.py fetch_weights` succeeds."
            )
            return
        for path in paths:
            self.stdout.write(f"ok  {path}")


def checkpoint_names(names: list[str], *, everything: bool = False) -> list[str]:
    if not names:
        models = weights.MODELS if everything else [m for m in settings.ENABLED_MODELS if m in weights.MODELS]
        return weights.checkpoints_for_models(models)
    unknown = [n for n in names if n not in weights.MANIFEST and n not in weights.MODELS]
    if unknown:
        raise CommandError(
            f"Unknown checkpoint or model: {', '.join(unknown)}. Checkpoints: {', '.join(weights.MANIFEST)}; models: {', '.join(weights.MODELS)}."
        )
    expanded: list[str] = []
    for name in names:
        expanded.extend(weights.checkpoints_for_models([name]) if name in weights.MODELS else [name])
    return list(dict.fromkeys(expanded))


def _first_reason(exc: Exception) -> str:
    """One failure, shortened: the whole list (one per checkpoint) is for the non-soft run."""
    reason = str(exc).split("; ")[0]
    return reason if len(reason) <= 160 else reason[:157] + "..."
