# syntax=docker/dockerfile:1
# Stage 1: build wheels (durable-rules compiles its C engine here, where gcc is).
FROM python:3.12-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds ./cds
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: slim runtime with only the wheels and the rule pack; no compiler.
FROM python:3.12-slim AS runtime
RUN useradd --system --create-home --uid 10001 cds
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels stress-pain-cds \
    && rm -rf /wheels
WORKDIR /app
COPY rules ./rules
RUN mkdir -p /app/data && chown cds:cds /app/data
USER cds
ENV CDS_HOST=0.0.0.0 \
    CDS_PORT=8080 \
    CDS_RULES_DIR=/app/rules \
    CDS_DATABASE_URL=sqlite:////app/data/cds.sqlite3 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
# Authentication stays on: configure CDS_TRUSTED_ISSUERS (see README) when running.
CMD ["cds", "serve", "--host", "0.0.0.0"]
