#!/usr/bin/env bash
# Install the system tools the test suite uses as real parts and independent oracles, when absent:
# skopeo and umoci (image oracles), pigz/xz/zstd (compression), GNU time (peak memory), and later
# docker-registry, podman, docker.io and containerd (a real registry and engines), chromium (the HTML report's browser test), zsh and groff
# (the completion script and the man page). Needs root or sudo; prints what it does.
set -euo pipefail
declare -A package_for=(
  [skopeo]=skopeo [umoci]=umoci [pigz]=pigz [xz]=xz-utils [zstd]=zstd [sha256sum]=coreutils
  [/usr/bin/time]=time [docker-registry]=docker-registry [podman]=podman [openssl]=openssl [busybox]=busybox-static
  [chromium]=chromium [diff]=diffutils [htpasswd]=apache2-utils [dockerd]=docker.io [ctr]=containerd [curl]=curl
  [zsh]=zsh [groff]=groff-base [bash]=bash
)
missing=()
for tool in "${!package_for[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_for[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure-tools: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq "${missing[@]}" >&2
