import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")

from opsconsole.runtime import bootstrap  # noqa: E402

bootstrap()
application = get_wsgi_application()
