from django.db import migrations

DEFAULT_PRICES = [
    ("restore_base", "Face restoration, per image", 10),
    ("background_enhance", "Real-ESRGAN background enhancement", 5),
    ("face_upsample", "Face upsampling", 3),
    ("upscale_step", "Each upscale factor above 2x", 2),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    PriceItem = apps.get_model("billing", "PriceItem")
    Plan.objects.get_or_create(
        code="standard",
        defaults={"name": "Standard", "requests_per_minute": 120, "max_jobs_in_flight": 20, "is_default": True},
    )
    for code, description, amount in DEFAULT_PRICES:
        PriceItem.objects.get_or_create(code=code, defaults={"description": description, "amount": amount})


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
