# tracehouse, built from this repository.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tracehouse

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/tracehouse /usr/local/bin/tracehouse
VOLUME /data
EXPOSE 4317 4318 8080
ENTRYPOINT ["tracehouse"]
CMD ["serve", "--data-dir", "/data"]
