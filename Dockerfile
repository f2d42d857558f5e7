# The netvm browser demo as a container image: a thin wrapper over the same
# scripts CI runs (no Docker engine runs on our CI machines, so the scripts,
# not this file, are what is tested).
#   docker build -t netvm .
#   docker run --rm -p 8088:8088 netvm      # then open http://localhost:8088
FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates sudo \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Installs its toolchain (Debian rustc-web, emscripten, npm packages), builds
# netvm for the browser and the guest image (scripts/build-guest, which
# installs its own packages), and writes the site to target/web/site.
RUN bash scripts/build-wasm

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/web/site /srv/netvm
COPY --from=build /src/scripts/web/serve.py /usr/local/lib/netvm/serve.py
EXPOSE 8088
CMD ["python3", "/usr/local/lib/netvm/serve.py", "--dir", "/srv/netvm", "--port", "8088", "--host", "0.0.0.0"]
