"""gunicorn for FieldProof API nodes: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Threaded workers suit this app: requests are short, uploads go straight to S3 with presigned URLs
(or stream to disk), and long work (packets, verification) runs on Celery workers. The API pool
runs 4 threads per worker (FIELDPROOF_WEB_THREADS): its requests are a database round trip or two
and a few milliseconds of Python, so a few threads keep the cores busy while one waits on
PostgreSQL, and more only take turns on the GIL (measured: docs/deploy.md, "Measured here").
Idle keep-alive connections wait in the poller, not on a thread. The ingest pool
(fieldproof-ingest.service: uploads and `complete`, routed by nginx) runs this same file with
`--threads 16` (its threads mostly wait on S3 or a sealing slot), and `FIELDPROOF_SEALING_SLOTS`
bounds how many threads seal at once (api/admission.py). The database pools (core/db.py) have room
for 16 threads.
"""
import multiprocessing
import os

bind = os.environ.get("FIELDPROOF_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FIELDPROOF_WEB_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("FIELDPROOF_WEB_THREADS", "4"))
timeout = 120          # large evidence uploads on slow links
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (bounded memory over weeks). Not every few thousand requests: a
# worker busy with the mobile sync answers ~400 a second, and each recycle is a new process that
# imports the app and opens its pools while the other workers carry its share.
max_requests = 200_000
max_requests_jitter = 20_000
limit_request_line = 8190
accesslog = None       # FieldProof writes its own scrubbed JSON access log
errorlog = "-"
# gunicorn's own lines in FieldProof's format (JSON in production, FIELDPROOF_LOG_FORMAT to choose).
logger_class = "api.serve.FieldProofGunicornLogger"
forwarded_allow_ips = os.environ.get("FIELDPROOF_TRUSTED_PROXIES", "127.0.0.1")
preload_app = False    # each worker builds its own connections
# gunicorn >= 27 opens a control socket in ~/.gunicorn by default: one path for every instance of the
# user, so two API nodes on one machine (or a node and a benchmark) would take it from each other.
# Off unless FIELDPROOF_GUNICORN_CONTROL_SOCKET names a path of this node's own.
control_socket_disable = not os.environ.get("FIELDPROOF_GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["FIELDPROOF_GUNICORN_CONTROL_SOCKET"]


def post_worker_init(worker):
    """Pools filled and the token listener up before the first request (api/warmup.py)."""
    if "fieldproof" not in getattr(worker.wsgi, "extensions", {}):
        return  # another app on these settings (the load bench's hello world)
    from api.warmup import warm_up

    warm_up(worker.wsgi, worker.cfg.threads)
