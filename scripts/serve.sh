#!/bin/sh
# Start one audioconv function under functions-framework (container entrypoint).
#   AUDIOCONV_FUNCTION=api|convert|notify  (or the first argument)
#   PORT (default 8080); WORKERS / THREADS tune functions-framework's gunicorn.
# The same mapping is in the App Engine yaml entrypoints (tests/infra checks both).
set -eu

fn="${1:-${AUDIOCONV_FUNCTION:-}}"
case "$fn" in
  api)
    set -- --source=functions/upload_api/main.py --target=api --signature-type=http ;;
  convert)
    set -- --source=functions/convert_worker/main.py --target=convert --signature-type=cloudevent ;;
  notify)
    set -- --source=functions/notify/main.py --target=notify --signature-type=cloudevent ;;
  *)
    echo "serve.sh: set AUDIOCONV_FUNCTION to api, convert or notify (got '${fn}')" >&2
    exit 64 ;;
esac

exec functions-framework "$@" --port="${PORT:-8080}"
