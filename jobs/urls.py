from django.urls import path

from jobs import views

app_name = "jobs"

urlpatterns = [
    path("media/results/<str:token>/<str:filename>", views.media_download, name="media-download"),
    path("metrics", views.metrics, name="metrics"),
]
