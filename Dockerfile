# syntax=docker/dockerfile:1
# One image for the four services: `docker run IMAGE <service> [serve|migrate]`, for example
# `escrow-suite:0.1.0 payments` or `escrow-suite:0.1.0 payments migrate`. Built by `make image`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtual environment with the locked dependencies and the five workspace packages
FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# the same uv as the Makefile
RUN pip install "uv==0.13.9"
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY shared ./shared
COPY services ./services
# The services' locked third-party dependencies, with hashes. Exporting the four service packages
# (not the workspace root) leaves out the `devstack` extra (embedded PostgreSQL and broker) and
# the dev group: production talks to a real PostgreSQL and Kafka.
RUN uv export --frozen --no-dev --no-emit-workspace \
        --package escrow-service --package payments-service \
        --package disputes-service --package notifications-service \
        --output-file /tmp/requirements.txt \
 && uv venv --python /usr/local/bin/python /opt/venv \
 && uv pip install --python /opt/venv/bin/python --no-deps --require-hashes \
        -r /tmp/requirements.txt \
 && uv pip install --python /opt/venv/bin/python --no-deps \
        ./shared ./services/escrow ./services/payments ./services/disputes ./services/notifications

# --- runtime: slim, no compiler, no uv, non-root
FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install --yes --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY deploy/image/wait_for_migrations.py /app/bin/wait_for_migrations.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HTTP_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001
EXPOSE 8001 8002 8003 8004
# Exec form: tini is PID 1, forwards SIGTERM to Python (which drains: stop fetching, finish
# in-flight work, flush the outbox) and reaps children. The argument is the service to run.
ENTRYPOINT ["/usr/bin/tini", "--", "python", "-m"]
CMD ["escrow"]
