"""Django's users and groups for django.conf.

WSGIPythonHome points Apache's Python at the project's virtualenv and
WSGIPythonPath puts the project directory on sys.path; set the settings
module of your project here."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

import django  # noqa: E402

django.setup()

# Django ships both functions with the mod_wsgi signatures.
from django.contrib.auth.handlers.modwsgi import check_password, groups_for_user  # noqa: E402,F401
