from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = "Trust and safety"

    def ready(self) -> None:
        from moderation import audit

        audit.register_models()
