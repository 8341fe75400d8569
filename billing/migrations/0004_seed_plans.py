"""The plans a fresh deployment sells, each with its price table. Editable in the admin later;
``seed`` only creates what is missing, so re-running it never overwrites an operator's edits."""

from django.db import migrations

# code, name, description, rpm, in flight, monthly images, retention hours, monthly price,
# included credit, public, default, position
PLANS = [
    (
        "free",
        "Free trial",
        "Try the API: a small monthly quota, results kept a day.",
        10,
        2,
        50,
        24,
        0,
        0,
        True,
        False,
        0,
    ),
    ("standard", "Pay as you go", "Prepaid credit, no monthly fee.", 120, 20, 0, 24, 0, 0, True, True, 1),
    (
        "pro",
        "Pro",
        "Higher limits, a week of retention, lower prices, monthly credit included.",
        600,
        100,
        0,
        168,
        4900,
        5000,
        True,
        False,
        2,
    ),
]

# Each plan's own price table (minor units); absent codes use the list prices (PriceItem).
PLAN_PRICES = {
    "free": {"restore_base": 10, "background_enhance": 5, "face_upsample": 3, "upscale_step": 2, "output_megapixel": 0},
    # "standard" sells at the list prices (PriceItem): editing those re-prices it.
    "standard": {},
    "pro": {"restore_base": 7, "background_enhance": 3, "face_upsample": 2, "upscale_step": 1, "output_megapixel": 0},
}

LIST_PRICES = [("output_megapixel", "Each started megapixel of output", 0)]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    PlanPrice = apps.get_model("billing", "PlanPrice")
    PriceItem = apps.get_model("billing", "PriceItem")
    for code, description, amount in LIST_PRICES:
        PriceItem.objects.get_or_create(code=code, defaults={"description": description, "amount": amount})
    has_default = Plan.objects.filter(is_default=True).exists()
    for code, name, text, rpm, in_flight, quota, retention, price, credit, public, default, position in PLANS:
        plan, created = Plan.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "requests_per_minute": rpm,
                "max_jobs_in_flight": in_flight,
                "is_default": default and not has_default,
            },
        )
        if created or not plan.description:
            # The pre-existing "standard" plan gains the new columns' values once.
            plan.description = text
            plan.monthly_image_quota = quota
            plan.file_retention_hours = retention
            plan.monthly_price = price
            plan.included_credit = credit
            plan.is_public = public
            plan.position = position
            plan.save()
        for price_code, amount in PLAN_PRICES[code].items():
            PlanPrice.objects.get_or_create(plan=plan, code=price_code, defaults={"amount": amount})


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_plans_payments_controls")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
