# Multi-stage build: compile with cgo (libvpx for VP8, libopus for decoding
# remote audio, libavcodec for the views' H.264 decoder; the Opus encoder and
# OpenH264 are bundled static libraries; X11 for screen capture), run on a
# slim Debian with only those shared libraries. The nogui build tag leaves
# out the window view and SDL2: a container shows remote video with
# `join --view terminal` only.
FROM golang:1.26-bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libvpx-dev libopus-dev libavcodec-dev pkg-config libx11-dev libxext-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -tags nogui -trimpath -ldflags="-s -w" -o /out/videochat ./cmd/videochat

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libvpx7 libopus0 libavcodec59 libx11-6 libxext6 ca-certificates \
	&& rm -rf /var/lib/apt/lists/* && useradd --system --no-create-home videochat
COPY --from=build /out/videochat /usr/local/bin/videochat
USER videochat
EXPOSE 8080 3478/udp 3478/tcp
ENV VIDEOCHAT_ADDR=0.0.0.0:8080
ENTRYPOINT ["videochat"]
CMD ["serve"]
