# The modelguard operator image.
#   docker build -t modelguard:0.1.0 .
#   kind load docker-image modelguard:0.1.0 --name modelguard    # see kind-config.yaml
# The base is a build argument for places that cannot pull it (build one from Debian
# packages and pass --build-arg BASE_IMAGE=...); it needs Python 3.11, which the lock is for.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric UID, so that runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 modelguard \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin modelguard

WORKDIR /src
# Dependencies first, from the lock (exact versions and hashes; hack/lock.sh writes it):
# the same bytes on every build, and this layer is cached until the lock changes.
COPY deploy/requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
# Then the project alone: --no-deps so nothing outside the lock is resolved, and no build
# isolation so the build backend is the locked setuptools rather than a fresh download.
COPY pyproject.toml README.md LICENSE ./
COPY operator/ ./operator/
RUN pip install --no-deps --no-build-isolation . && rm -rf /src

WORKDIR /
USER 10001:10001
# 8080: kopf liveness (/healthz); 9102: the operator's own Prometheus metrics.
EXPOSE 8080 9102
ENTRYPOINT ["kopf", "run", "--standalone", "--all-namespaces", "--log-format=json", \
            "--liveness=http://0.0.0.0:8080/healthz", "-m", "modelguard.runtime.handlers"]
