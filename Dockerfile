# syntax=docker/dockerfile:1
# Stage 1: build wheels of the locked runtime dependencies (durable-rules compiles its C
# engine here, where gcc is) and of the service, whose wheel carries the rule pack.
FROM python:3.12-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements/runtime.lock requirements/
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements/runtime.lock
COPY pyproject.toml setup.py README.md LICENSE ./
COPY cds ./cds
COPY rules ./rules
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2: slim runtime with only those wheels; no compiler.
FROM python:3.12-slim AS runtime
RUN useradd --system --create-home --uid 10001 cds
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --no-deps /wheels/*.whl \
    && pip check \
    && rm -rf /wheels
WORKDIR /app
RUN mkdir -p /app/data && chown cds:cds /app/data
USER cds
# The bundled rule pack is served; mount another and set CDS_RULES_DIR to serve that instead.
ENV CDS_HOST=0.0.0.0 \
    CDS_PORT=8080 \
    CDS_DATABASE_URL=sqlite:////app/data/cds.sqlite3 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
# Authentication stays on: configure CDS_TRUSTED_ISSUERS (see README) when running.
CMD ["cds", "serve", "--host", "0.0.0.0"]
