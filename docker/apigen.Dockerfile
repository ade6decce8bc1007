# An image that runs apigen. Build from the repository root:
#   docker build -f docker/apigen.Dockerfile -t apigen .
#   docker run --rm -v "$PWD:/work" -w /work apigen build gateway/policy.yaml -o build/gateway
# gixy-ng lives in a virtualenv of its own (it conflicts with crossplane), found via APIGEN_GIXY.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx libnginx-mod-http-js git \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/gixy && /opt/gixy/bin/pip install --no-cache-dir gixy-ng
ENV APIGEN_GIXY=/opt/gixy

COPY pyproject.toml README.md /src/
COPY apigen /src/apigen
COPY templates /src/templates
COPY schemas /src/schemas
RUN pip install --no-cache-dir /src && rm -rf /src

ENTRYPOINT ["apigen"]
CMD ["--help"]
