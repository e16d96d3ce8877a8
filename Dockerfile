# Cobranza worker and web console image (docker-compose.yml: services worker and web).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Fixed ids so volume permissions are predictable; no login shell.
RUN groupadd --system --gid 10001 cobranza \
    && useradd --system --uid 10001 --gid cobranza --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin cobranza

WORKDIR /app

COPY pyproject.toml README.md ./
COPY cobranza ./cobranza
COPY workflows ./workflows
COPY activities ./activities
COPY worker.py starter.py ./

# tzdata: zoneinfo's fallback for America/Bogota if the base image ever drops system tz data.
RUN pip install . tzdata

USER cobranza:cobranza

CMD ["python", "worker.py"]
