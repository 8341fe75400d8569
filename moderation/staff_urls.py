from django.urls import path

from moderation import views

app_name = "moderation"

urlpatterns = [
    path("moderation/", views.queue, name="queue"),
    path("moderation/items/<uuid:item_id>/", views.item_detail, name="item"),
    path("moderation/items/<uuid:item_id>/media/<str:kind>", views.item_media, name="item_media"),
    path("moderation/items/<uuid:item_id>/<str:action>/", views.item_action, name="item_action"),
    path("moderation/jobs/<uuid:job_id>/flag/", views.job_flag, name="job_flag"),
    path("moderation/blocklist/", views.blocklist, name="blocklist"),
    path("moderation/blocklist/<int:blocked_id>/remove/", views.blocklist_remove, name="blocklist_remove"),
    path("audit/", views.audit_trail, name="audit"),
]
