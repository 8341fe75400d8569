from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.models import PlanPrice, PriceItem
        from billing.pricing import price_table_forget

        # Cache invalidation only (no business logic): an edited price applies to the next
        # submission priced by this process.
        for model in (PriceItem, PlanPrice):
            post_save.connect(
                price_table_forget, sender=model, dispatch_uid=f"price_table_forget_save_{model.__name__}"
            )
            post_delete.connect(
                price_table_forget, sender=model, dispatch_uid=f"price_table_forget_delete_{model.__name__}"
            )
