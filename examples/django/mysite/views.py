"""Views of the example app."""
from django.http import HttpResponse


def index(request):
    return HttpResponse("Hello from a strata-built image!\n")
