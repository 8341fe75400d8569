"""Wallet.in_flight: the jobs QUEUED or PROCESSING, counted on the wallet row so that admission
is one conditional UPDATE; initialised from the jobs there are. A job is settled at most once."""

from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

IN_FLIGHT = ["QUEUED", "PROCESSING"]


def count_jobs_in_flight(apps, schema_editor):
    Wallet = apps.get_model("billing", "Wallet")
    Job = apps.get_model("jobs", "Job")
    counts = (
        Job.objects.filter(organization_id=OuterRef("organization_id"), status__in=IN_FLIGHT)
        .order_by()
        .values("organization_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    Wallet.objects.update(in_flight=Coalesce(Subquery(counts), Value(0)))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_plan_trial_credit"),
        ("jobs", "0002_job_base_url"),
    ]

    operations = [
        migrations.AddField(
            model_name="wallet",
            name="in_flight",
            field=models.IntegerField(default=0),
        ),
        migrations.RunPython(count_jobs_in_flight, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind__in", ["capture", "release"])),
                fields=("job",),
                name="one_settlement_per_job",
            ),
        ),
        migrations.AddConstraint(
            model_name="wallet",
            constraint=models.CheckConstraint(
                condition=models.Q(("in_flight__gte", 0)), name="wallet_in_flight_not_negative"
            ),
        ),
    ]
