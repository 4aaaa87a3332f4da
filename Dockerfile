# ORFEAS service image: `docker build -t orfeas .` then `docker run -p 8000:8000 orfeas`.
# Minimal on purpose: the relief engine runs on the CPU; neural engines need their extras and
# weights (mount them and set the ORFEAS_* settings).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ORFEAS_DATA_DIR=/data \
    ORFEAS_MODELS_DIR=/app/models

RUN useradd --system --create-home --uid 10001 orfeas \
    && mkdir -p /data && chown orfeas /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && python -m orfeas.imaging.models

USER orfeas
VOLUME ["/data"]
EXPOSE 8000
CMD ["orfeas", "serve", "--host", "0.0.0.0", "--port", "8000"]
