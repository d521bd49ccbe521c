# syntax=docker/dockerfile:1
# Image for every service of the AI cost optimizer: `optimizer migrate | up | serve <service>`.
#
#   docker build -t ai-cost-optimizer:0.1.0 .
#   docker run --rm -p 8000:8000 ai-cost-optimizer:0.1.0 up
#
# Bump the base image here (and only here): both stages must use the same one, because the
# virtual environment built in the first stage is copied as is into the second.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- builder: resolve dependencies and build the project's wheel into /opt/venv -------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build

# Dependencies first, from pyproject.toml alone: this layer is reused until they change.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The project itself, as a wheel: migrations/*.sql and shared/routing/catalog.toml ship as
# package data; replay/ is the offline evaluator behind `optimizer replay`.
COPY services ./services
COPY shared ./shared
COPY schemas ./schemas
COPY replay ./replay
COPY migrations ./migrations
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install --no-deps /wheels/*.whl \
    && python -c "from importlib import resources; assert any(p.name.endswith('.sql') for p in resources.files('migrations').iterdir()), 'no migrations in the wheel'"

# --- runtime: the same interpreter, the venv, no build tools, not root -----------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="ai-cost-optimizer" \
      org.opencontainers.image.description="Routes each LLM prompt to the cheapest model that is good enough" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A numeric UID so that Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 optimizer \
    && useradd --system --uid 10001 --gid optimizer --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin optimizer

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001

# 8000: ingress HTTP (INGRESS_PORT). 9000: worker probes and metrics (PROBE_PORT, off unless set).
EXPOSE 8000 9000

# No HEALTHCHECK here: one image runs several roles (ingress on /health, workers on /readyz,
# a one-shot migrate), so docker-compose.yml and the Kubernetes probes define it per service.
ENTRYPOINT ["optimizer"]
CMD ["up"]
