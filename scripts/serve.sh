#!/bin/sh
# The container's entrypoint.
#   (nothing)      the whole embedded service, `audioconv serve`: API, worker and
#                  notifier, data in AUDIOCONV_DATA_DIR (/data), migrated on start
#   AUDIOCONV_FUNCTION=api|convert|notify  (or that as the first argument)
#                  one function under functions-framework, against the cloud
#                  settings; its database must be migrated (`migrate` below)
#   AUDIOCONV_FUNCTION=convert-pull
#                  the cloud worker as a Pub/Sub streaming-pull process, health
#                  checks answered on PORT (what worker.yaml runs on App Engine
#                  flexible); same cloud settings
#   migrate [ARGS] `python -m audioconv.migrate ARGS` against the configured database
#                  (the migrate Cloud Run job of scripts/deploy.sh)
#   sweep          `python -m audioconv.cli sweep`: republish what is still due, then
#                  exit (the sweep Cloud Run job, started by Cloud Scheduler)
# PORT (default 8080); WORKERS / THREADS tune functions-framework's gunicorn.
# The function mapping is the App Engine yaml entrypoints' (tests/infra checks both).
set -eu

fn="${1:-${AUDIOCONV_FUNCTION:-}}"
[ $# -gt 0 ] && shift
case "$fn" in
  ""|serve)
    exec python3 -m audioconv.cli serve ;;
  migrate)
    exec python3 -m audioconv.migrate "$@" ;;
  sweep)
    exec python3 -m audioconv.cli sweep "$@" ;;
  api|convert|notify|convert-pull) ;;
  *)
    echo "serve.sh: AUDIOCONV_FUNCTION is api, convert, notify, convert-pull or unset (the whole service); got '${fn}'" >&2
    exit 64 ;;
esac

# One function alone shares its state with the others through the cloud: a private
# SQLite file would be a half service whose tasks never convert.
if [ -z "${AUDIOCONV_CLOUD_SQL_INSTANCE:-}${AUDIOCONV_DATABASE_URL:-}" ]; then
  echo "serve.sh: AUDIOCONV_FUNCTION=$fn runs one function against the cloud settings:" \
       "set AUDIOCONV_CLOUD_SQL_INSTANCE (or AUDIOCONV_DATABASE_URL) and the rest" \
       "(docs/deploy.md), or leave AUDIOCONV_FUNCTION unset for the whole service" >&2
  exit 64
fi

case "$fn" in
  convert-pull)
    exec python3 -m audioconv.entrypoints.pull_worker ;;
  api)
    set -- --source=functions/upload_api/main.py --target=api --signature-type=http ;;
  convert)
    set -- --source=functions/convert_worker/main.py --target=convert --signature-type=cloudevent ;;
  notify)
    set -- --source=functions/notify/main.py --target=notify --signature-type=cloudevent ;;
esac
exec functions-framework "$@" --port="${PORT:-8080}"
