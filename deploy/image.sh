#!/usr/bin/env bash
# The production image: `image.sh build` builds the Dockerfile; `image.sh check` builds it and smoke-tests it
# (start, /readyz, a registration, stop) against a fresh database on DATABASE_URL's server.
#
# Docker is used when its daemon answers, else Podman (Debian's; installed when neither is there). Where no
# registry can be reached and the Dockerfile's base image is not stored locally, a stand-in is built from
# Debian's own packages with debootstrap (Debian 12's Python is 3.11, as the base's is) and tagged with the
# base's name. Where containers cannot be started (a sandbox that refuses setrlimit), the check runs the built
# image's own file system with chroot, as the image's USER, with its ENV, WORKDIR and CMD.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${IMAGE_TAG:-virtual-hotel:latest}
BASE=$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile)
WORK=${IMAGE_WORK_DIR:-var/image}
PYTHON=${PYTHON:-.venv/bin/python}
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

say() { echo "image: $*" >&2; }

engine() {
    if command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; then
        echo docker
        return
    fi
    if ! command -v podman >/dev/null; then
        say "no Docker daemon and no Podman: installing Debian's podman"
        if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman >/dev/null
    fi
    echo podman
}

debian_mirror() {
    # The machine's own Debian mirror (deb822 or one-line sources), else Debian's default.
    local uri
    uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list \
          | grep -v security | head -n1 | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }')
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_base() {
    local engine=$1
    if $engine image inspect "$BASE" >/dev/null 2>&1; then
        say "base image $BASE is stored locally"
        return
    fi
    if timeout 60 $engine pull -q "$BASE" >/dev/null 2>&1; then
        say "base image $BASE pulled"
        return
    fi
    say "base image $BASE cannot be pulled: building a stand-in from Debian 12's packages with debootstrap"
    command -v debootstrap >/dev/null || {
        if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
    }
    local rootfs=$WORK/base-rootfs
    rm -rf "$rootfs"
    mkdir -p "$WORK"
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
        bookworm "$rootfs" "$(debian_mirror)" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    # What the official image declares too: a UTF-8 locale and python as the default command.
    tar -C "$rootfs" -c . | $engine import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE" >/dev/null
    rm -rf "$rootfs"
    say "stand-in base image $BASE built from Debian bookworm ($(debian_mirror))"
}

build() {
    local engine=$1
    ensure_base "$engine"
    if [ "$engine" = docker ]; then
        docker build -t "$TAG" .
    else
        # pip inside the build trusts the CAs this host trusts (a TLS-inspecting network has its own):
        # the host's bundle and a pip.conf naming it are mounted for the build only, not kept in the image.
        mkdir -p "$WORK"
        printf '[global]\ncert = %s\n' "$HOST_CA_BUNDLE" >"$WORK/pip.conf"
        # Docker's image format: the OCI one has no HEALTHCHECK.
        podman build --isolation=chroot --pull=never --format docker \
            -v "$HOST_CA_BUNDLE:$HOST_CA_BUNDLE:ro" -v "$PWD/$WORK/pip.conf:/etc/pip.conf:ro" \
            -t "$TAG" .
    fi
    say "built $TAG with $engine"
}

case "${1:-}" in
    build) build "$(engine)" ;;
    check)
        [ -n "${DATABASE_URL:-}" ] || { echo "image-check: set DATABASE_URL to a PostgreSQL server" >&2; exit 2; }
        engine=$(engine)
        build "$engine"
        exec "$PYTHON" deploy/image_check.py --engine "$engine" --tag "$TAG" ;;
    *) echo "usage: $0 build|check" >&2; exit 2 ;;
esac
