#!/usr/bin/env bash
# Makes the base images deploy/Dockerfile starts from, where no registry can supply them:
#   debian:bookworm-slim   debootstrap --variant=minbase bookworm, imported
#   rust:1.95-bookworm     that image plus Debian's C toolchain and this machine's Rust 1.95.0
# An image that is already there is kept, so this returns at once on a warm machine; with a
# registry (`docker pull` works) nothing here is needed. Needs root for debootstrap.
set -euo pipefail

docker="${DOCKER:-docker}"
rust_version="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../rust-toolchain.toml")"
work="$(mktemp -d "${TMPDIR:-/tmp}/ct-base-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

has_image() { "$docker" image inspect "$1" >/dev/null 2>&1; }

if ! has_image debian:bookworm-slim; then
    echo "base-images: debootstrap bookworm (about a minute)"
    debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        exit 1
    }
    rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/*
    tar -C "$work/rootfs" -c . | "$docker" import --change 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
    rm -rf "$work/rootfs"
fi

rust_image="rust:${rust_version%.*}-bookworm"
if ! has_image "$rust_image"; then
    toolchain="$(rustup toolchain list -v | awk -v v="$rust_version" 'index($1, v "-") == 1 { print $NF; exit }')"
    [[ -n "$toolchain" && -x "$toolchain/bin/cargo" ]] || {
        echo "base-images: Rust $rust_version is not installed here (rustup toolchain install $rust_version)" >&2
        exit 1
    }
    echo "base-images: $rust_image from Debian's gcc and $toolchain"
    # Named as rust-toolchain.toml asks, even where this machine links it to another channel.
    host_name="$(basename "$toolchain")"
    name="$rust_version-${host_name#*-}"
    mkdir -p "$work/ctx/rustup/toolchains/$name" "$work/ctx/cargo/bin"
    # The toolchain without its documentation (share/doc is most of its size).
    cp -a "$toolchain"/{bin,lib,libexec,etc} "$work/ctx/rustup/toolchains/$name/"
    printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "$name" >"$work/ctx/rustup/settings.toml"
    cp "$(command -v rustup)" "$work/ctx/cargo/bin/rustup"
    for proxy in cargo rustc rustdoc; do ln -s rustup "$work/ctx/cargo/bin/$proxy"; done
    cat >"$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev make pkg-config git \
 && rm -rf /var/lib/apt/lists/*
COPY rustup /usr/local/rustup
COPY cargo /usr/local/cargo
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
DOCKERFILE
    "$docker" build -q -t "$rust_image" "$work/ctx" >/dev/null
fi
