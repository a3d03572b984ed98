#!/usr/bin/env bash
# The whole suite: once on SQLite, once on a throwaway PostgreSQL cluster, both with the
# RADOS Gateway S3 endpoint started here; then the production shape (gunicorn, Celery, Redis)
# on both. Every service is stopped again, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=$(mktemp -d /tmp/fieldproof-test.XXXXXX)
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cleanup() {
  PG_BASE=$WORK/pg scripts/pg-stop.sh || true
  if [ -x scripts/rgw-stop.sh ] && [ -d "$WORK/rgw" ]; then RGW_BASE=$WORK/rgw scripts/rgw-stop.sh >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export PG_BASE=$WORK/pg
PG_URL=$(PG_PORT=$(free_port) scripts/pg-start.sh | tail -n 1)
echo "PostgreSQL: $PG_URL"

if [ -x scripts/rgw-start.sh ]; then
  RGW_PORT=$(free_port)
  RGW_BASE=$WORK/rgw RGW_PORT=$RGW_PORT RGW_MON_PORT=$(free_port) scripts/rgw-start.sh > "$WORK/rgw.env"
  # shellcheck disable=SC1090
  source "$WORK/rgw.env"
  export FIELDPROOF_TEST_S3_ENDPOINT=$AWS_ENDPOINT_URL
  echo "RADOS Gateway: $FIELDPROOF_TEST_S3_ENDPOINT"
fi

# Two pytest-xdist workers (one per core), a whole test file per worker so that module-scoped
# servers start once; on PostgreSQL each worker has its own database (tests/conftest.py).
PARALLEL=(-n "${FIELDPROOF_TEST_WORKERS:-2}" --dist loadfile)
status=0
echo "== ruff"
.venv/bin/ruff check --quiet . || status=$?
echo "== SQLite: the whole suite"
$PY -m pytest -q -p no:cacheprovider "${PARALLEL[@]}" tests || status=$?
echo "== PostgreSQL: everything that touches the database"
FIELDPROOF_TEST_DATABASE_URL=$PG_URL $PY -m pytest -q -p no:cacheprovider "${PARALLEL[@]}" tests/api tests/integration \
  tests/hardening --ignore=tests/integration/storage || status=$?
echo "== Production shape: gunicorn + Celery worker + Redis over PostgreSQL and S3"
FIELDPROOF_TEST_DATABASE_URL=$PG_URL FIELDPROOF_TEST_S3_ENDPOINT=${FIELDPROOF_TEST_S3_ENDPOINT:?the production shape needs the RADOS Gateway} \
  $PY -m pytest -q -p no:cacheprovider tests/e2e/test_production_shape.py || status=$?
exit $status
