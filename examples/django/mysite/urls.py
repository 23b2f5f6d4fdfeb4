"""URL routes of the example app."""
from django.urls import path

from . import views

urlpatterns = [path("", views.index)]
