import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")

application = get_wsgi_application()

from core.deploys import process_start_record  # noqa: E402  (needs the apps loaded above)

process_start_record(kind="web")
