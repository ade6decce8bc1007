# nginx serving a bundle built by apigen. Build from the repository root:
#   docker build -f docker/nginx.Dockerfile --build-arg POLICY=examples/petstore/policy.yaml -t gateway .
#   docker run --rm -p 8080:8080 gateway
# The first stage compiles (and checks) the bundle; the second is the official nginx image with
# only the bundle added. The bundle is a standalone nginx.conf run with `-p /etc/apigen/`.
FROM python:3.11-slim-bookworm AS build
ARG POLICY=examples/petstore/policy.yaml
COPY pyproject.toml README.md /src/
COPY apigen /src/apigen
COPY templates /src/templates
COPY schemas /src/schemas
RUN pip install --no-cache-dir /src
COPY . /work
WORKDIR /work
RUN apigen build "$POLICY" -o /bundle

FROM nginx:1.27-bookworm
COPY --from=build /bundle /etc/apigen
RUN mkdir -p /etc/apigen/logs /etc/apigen/temp \
 && ln -sf /dev/stdout /etc/apigen/logs/access.log \
 && ln -sf /dev/stderr /etc/apigen/logs/error.log \
 && nginx -t -p /etc/apigen/ -c /etc/apigen/nginx.conf
EXPOSE 8080
CMD ["nginx", "-p", "/etc/apigen/", "-c", "/etc/apigen/nginx.conf", "-g", "daemon off;"]
