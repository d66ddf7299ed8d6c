# previewd: build on Debian, run as a non-root user on Debian slim.
FROM debian:bookworm AS build
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libgit2-dev libsqlite3-dev \
	libcurl4-openssl-dev libyaml-dev libssl-dev zlib1g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY service service
COPY schema schema
COPY deploy/helm-env deploy/helm-env
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF && cmake --build /build -j"$(nproc)"

FROM debian:bookworm-slim
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	libmicrohttpd12 libjansson4 libgit2-1.5 libsqlite3-0 libcurl4 libyaml-0-2 libssl3 zlib1g ca-certificates curl \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --home-dir /var/lib/previewd --create-home --uid 10001 previewd
COPY --from=build /build/previewd /usr/local/bin/previewd
USER previewd
ENV PREVIEWD_LISTEN=0.0.0.0:8080 PREVIEWD_DATA_DIR=/var/lib/previewd
VOLUME /var/lib/previewd
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/previewd"]
