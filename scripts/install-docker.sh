#!/usr/bin/env bash
# Installs what the compose test needs from Debian's packages, where it is missing:
#   docker.io (Engine and a client with BuildKit), docker-compose 1.29, debootstrap (local base images).
# Needs root (or passwordless sudo). Safe to run again: present tools are not touched.
set -euo pipefail

want=()
[[ -x /usr/sbin/dockerd && -x /usr/bin/docker ]] || want+=(docker.io)
command -v docker-compose >/dev/null || want+=(docker-compose)
command -v debootstrap >/dev/null || want+=(debootstrap)
((${#want[@]})) || exit 0

if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install-docker: ${want[*]} missing and neither root nor passwordless sudo; install them with apt-get" >&2
    exit 1
fi
echo "install-docker: apt-get install ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
