"""The WSGI entry point for `gunicorn -c deploy/gunicorn.conf.py wsgi:app` (imported in each worker:
`preload_app` is off). `fieldproof run` serves the same app through api/serve.py."""
from api.app import create_app

app = create_app()
