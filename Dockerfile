# The modelguard operator image.
#   docker build -t modelguard:0.1.0 .
#   kind load docker-image modelguard:0.1.0 --name modelguard    # see kind-config.yaml
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric UID, so that runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 modelguard \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin modelguard

WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
RUN pip install . && rm -rf /src

WORKDIR /
USER 10001:10001
# 8080: kopf liveness (/healthz); 9102: the operator's own Prometheus metrics.
EXPOSE 8080 9102
ENTRYPOINT ["kopf", "run", "--standalone", "--all-namespaces", "--log-format=json", \
            "--liveness=http://0.0.0.0:8080/healthz", "-m", "modelguard.runtime.handlers"]
