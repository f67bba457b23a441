#!/usr/bin/env bash
# Builds the layerlens sample images from Debian's busybox-static packages.
#
#   bash samples/build.sh        (or: npm run samples)
#
# Outputs, in the directory of this script (old ones are removed first):
#   busybox-oci/        OCI image layout, one multi-platform index tagged "latest"
#                       (linux/amd64 and linux/arm64/v8)
#   busybox.oci.tar     the same layout as a tar (oci-archive)
#   busybox-amd64.tar   docker-archive ("docker save" format), linux/amd64
#   busybox-arm64.tar   docker-archive ("docker save" format), linux/arm64/v8
#
# Each image has three layers, like a small Dockerfile would:
#   0 base     /bin/busybox + applet symlinks, /etc/passwd, /etc/group, /tmp, /root
#   1 app      /app/hello.sh, /app/data/*, /var/cache/sample/dataset.bin (200 KiB of
#              deterministic pseudo-random bytes) and a same-content copy of it in
#              /app/data/copy-of-cache.bin
#   2 cleanup  removes /var/cache/sample (a whiteout) and rewrites /app/hello.sh
#
# The build is reproducible: every timestamp is fixed, so two runs with the same
# busybox-static package give byte-identical files. Needs root to install
# missing tools (umoci, skopeo) and to add the foreign architecture to dpkg.
set -euo pipefail
umask 022
export LC_ALL=C TZ=UTC DEBIAN_FRONTEND=noninteractive

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The package version the committed samples were built from. If the mirror no
# longer has it, the current candidate is used (with a warning): the images
# then differ from the committed ones, but are still reproducible.
BUSYBOX_VERSION=${BUSYBOX_VERSION:-1:1.35.0-4+deb12u1+b1}
ARCHES=(amd64 arm64)
CACHE_BYTES=204800                # size of the "cache" file and of its copy
FILE_TIME=2024-01-01T00:00:00Z    # mtime of every file in every layer
DOCKER_NAME=layerlens-sample/busybox:latest
LABEL_SOURCE=org.opencontainers.image.source=layerlens-samples
APPLETS=(sh ash ls cat echo rm cp mv mkdir rmdir ln chmod chown touch pwd env
         true false test sleep head tail wc grep sed sort uniq cut tr find xargs
         id whoami uname date printf du df ps kill vi tar gzip gunzip)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# History timestamps: one minute apart, in Dockerfile order.
hist_time() { date -u -d "$FILE_TIME + $1 minutes" +%Y-%m-%dT%H:%M:%SZ; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/layerlens-samples.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------
APT_UPDATED=0
apt_update() {
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
}
apt_install() {
  [[ $(id -u) == 0 ]] || die "need root to install: $*"
  log "installing $*"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt_update; apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

missing=()
for tool in umoci skopeo; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
((${#missing[@]} == 0)) || apt_install "${missing[@]}"
for tool in umoci skopeo dpkg-deb apt-get openssl node tar sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

# --------------------------------------------------------------------------
# Debian packages
# --------------------------------------------------------------------------
native=$(dpkg --print-architecture)
for arch in "${ARCHES[@]}"; do
  if [[ $arch != "$native" ]] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    [[ $(id -u) == 0 ]] || die "need root for: dpkg --add-architecture $arch"
    log "dpkg --add-architecture $arch"
    dpkg --add-architecture "$arch"
    APT_UPDATED=0
    apt_update
  fi
done

DEBS=$WORK/debs
mkdir -p "$DEBS"
# apt drops privileges to _apt for downloads; let it write here.
if id _apt >/dev/null 2>&1; then chown _apt "$DEBS"; fi

download() {
  local pkgs=() a
  for a in "${ARCHES[@]}"; do pkgs+=("busybox-static:$a${1:+=$1}"); done
  (cd "$DEBS" && apt-get download -qq "${pkgs[@]}" >/dev/null 2>&1)
}
log "downloading busybox-static $BUSYBOX_VERSION (${ARCHES[*]})"
if ! download "$BUSYBOX_VERSION"; then
  apt_update
  if ! download "$BUSYBOX_VERSION"; then
    printf 'build.sh: WARNING: busybox-static %s is not available; using the current version.\n' \
      "$BUSYBOX_VERSION" >&2
    printf 'build.sh: WARNING: the samples may differ from the committed ones.\n' >&2
    download "" || die "apt-get download busybox-static failed"
  fi
fi

declare -A BB_DIR BB_VER
for arch in "${ARCHES[@]}"; do
  deb=$(ls "$DEBS"/busybox-static_*_"$arch".deb)
  BB_VER[$arch]=$(dpkg-deb -f "$deb" Version)
  BB_DIR[$arch]=$WORK/deb-$arch
  dpkg-deb -x "$deb" "${BB_DIR[$arch]}"
  [[ -x ${BB_DIR[$arch]}/bin/busybox ]] || die "no bin/busybox in $deb"
  log "busybox-static ${BB_VER[$arch]} $arch: $(sha256sum "$deb" | cut -c1-16)…"
done

# --------------------------------------------------------------------------
# Images (umoci)
# --------------------------------------------------------------------------
fix_times() { find "$1" -exec touch -h -d "$FILE_TIME" {} +; }

LAYOUT=$WORK/layout
umoci init --layout "$LAYOUT"

# Deterministic pseudo-random bytes: AES-256-CTR keystream with a fixed key.
openssl enc -aes-256-ctr -nosalt \
  -K 6c617965726c656e732d73616d706c65732d63616368652d6b65792d30303031 \
  -iv 00000000000000000000000000000000 \
  -in <(head -c "$CACHE_BYTES" /dev/zero) -out "$WORK/dataset.bin"

build_image() {
  local arch=$1 img="$LAYOUT:$1" b rootfs a
  log "building linux/$arch"
  umoci new --image "$img"
  umoci config --image "$img" --no-history --os linux --architecture "$arch" \
    --created "$(hist_time 0)"

  # Layer 0: base --------------------------------------------------------
  b=$WORK/bundle-$arch-0; rootfs=$b/rootfs
  umoci unpack --image "$img" "$b" >/dev/null
  install -d -m 0755 "$rootfs/bin" "$rootfs/etc"
  install -d -m 1777 "$rootfs/tmp"
  install -d -m 0700 "$rootfs/root"
  install -m 0755 "${BB_DIR[$arch]}/bin/busybox" "$rootfs/bin/busybox"
  for a in "${APPLETS[@]}"; do ln -s busybox "$rootfs/bin/$a"; done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
  fix_times "$rootfs"
  umoci repack --image "$img" --history.created "$(hist_time 1)" \
    --history.created_by "ADD busybox-static /" \
    --history.comment "busybox-static ${BB_VER[$arch]} ($arch): /bin/busybox, ${#APPLETS[@]} applet symlinks, /etc/passwd, /etc/group, /tmp, /root" \
    "$b"

  # Layer 1: app ---------------------------------------------------------
  b=$WORK/bundle-$arch-1; rootfs=$b/rootfs
  umoci unpack --image "$img" "$b" >/dev/null
  install -d -m 0755 "$rootfs/app" "$rootfs/app/data" "$rootfs/var" "$rootfs/var/cache" \
    "$rootfs/var/cache/sample"
  cat >"$rootfs/app/hello.sh" <<'EOF'
#!/bin/sh
# layerlens sample application
echo "Hello from the layerlens busybox sample ($(uname -m))"
echo "data files:"
ls -l /app/data
EOF
  chmod 0755 "$rootfs/app/hello.sh"
  cat >"$rootfs/app/data/README.txt" <<'EOF'
Sample data for the layerlens busybox image.

numbers.txt          the numbers 1 to 600, one a line
settings.ini         a small configuration file
copy-of-cache.bin    the same bytes as /var/cache/sample/dataset.bin
                     (which a later layer deletes: the copy is the "waste"
                     that stays behind)
EOF
  seq 1 600 >"$rootfs/app/data/numbers.txt"
  cat >"$rootfs/app/data/settings.ini" <<'EOF'
[server]
listen = 0.0.0.0:8080
workers = 2

[cache]
dir = /var/cache/sample
max_size = 200KiB

[log]
level = info
EOF
  install -m 0644 "$WORK/dataset.bin" "$rootfs/var/cache/sample/dataset.bin"
  install -m 0644 "$WORK/dataset.bin" "$rootfs/app/data/copy-of-cache.bin"
  chmod 0644 "$rootfs"/app/data/*
  fix_times "$rootfs"
  umoci repack --image "$img" --history.created "$(hist_time 2)" \
    --history.created_by "RUN mkdir -p /var/cache/sample && fetch-dataset > /var/cache/sample/dataset.bin && cp -r /src/app /app && cp /var/cache/sample/dataset.bin /app/data/copy-of-cache.bin" \
    --history.comment "dataset.bin: $((CACHE_BYTES / 1024)) KiB of deterministic pseudo-random bytes (AES-256-CTR, fixed key)" \
    "$b"

  # Layer 2: cleanup -----------------------------------------------------
  b=$WORK/bundle-$arch-2; rootfs=$b/rootfs
  umoci unpack --image "$img" "$b" >/dev/null
  rm -rf "$rootfs/var/cache/sample"
  sed -i 's/Hello from/Hello again from/' "$rootfs/app/hello.sh"
  fix_times "$rootfs"
  umoci repack --image "$img" --history.created "$(hist_time 3)" \
    --history.created_by "RUN rm -rf /var/cache/sample && sed -i 's/Hello from/Hello again from/' /app/hello.sh" \
    "$b"

  # Config (no layers; history entries marked empty_layer) ------------------
  umoci config --image "$img" --config.env PATH=/bin \
    --history.created "$(hist_time 4)" --history.created_by "ENV PATH=/bin"
  umoci config --image "$img" --config.workingdir /app \
    --history.created "$(hist_time 5)" --history.created_by "WORKDIR /app"
  umoci config --image "$img" --config.label "$LABEL_SOURCE" \
    --history.created "$(hist_time 6)" --history.created_by "LABEL $LABEL_SOURCE"
  umoci config --image "$img" --config.cmd /app/hello.sh \
    --history.created "$(hist_time 7)" --history.created_by 'CMD ["/app/hello.sh"]' \
    --created "$(hist_time 7)"
}

for arch in "${ARCHES[@]}"; do build_image "$arch"; done
umoci gc --layout "$LAYOUT"

platform_spec() { # tag=os/arch[/variant]
  case $1 in
    arm64) echo "arm64=linux/arm64/v8" ;;
    arm) echo "arm=linux/arm/v7" ;;
    *) echo "$1=linux/$1" ;;
  esac
}
specs=()
for arch in "${ARCHES[@]}"; do specs+=("$(platform_spec "$arch")"); done
node "$OUT/make-index.mjs" "$LAYOUT" latest "${specs[@]}"

# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------
log "writing outputs to $OUT"
rm -rf "$OUT/busybox-oci" "$OUT/busybox.oci.tar"
for arch in "${ARCHES[@]}"; do rm -f "$OUT/busybox-$arch.tar"; done

mkdir -p "$OUT/busybox-oci/blobs/sha256"
cp "$LAYOUT/oci-layout" "$LAYOUT/index.json" "$OUT/busybox-oci/"
cp "$LAYOUT"/blobs/sha256/* "$OUT/busybox-oci/blobs/sha256/"
find "$OUT/busybox-oci" -type d -exec chmod 0755 {} +
find "$OUT/busybox-oci" -type f -exec chmod 0644 {} +
fix_times "$OUT/busybox-oci"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$OUT/busybox-oci" -cf "$OUT/busybox.oci.tar" .

for arch in "${ARCHES[@]}"; do
  variant=()
  [[ $arch == arm64 ]] && variant=(--override-variant v8)
  skopeo --insecure-policy --override-os linux --override-arch "$arch" "${variant[@]}" \
    copy --quiet "oci:$OUT/busybox-oci:latest" "docker-archive:$OUT/busybox-$arch.tar:$DOCKER_NAME"
done

# --------------------------------------------------------------------------
# Self-check: read the outputs back with skopeo and umoci
# --------------------------------------------------------------------------
log "checking the outputs"
sha() { sha256sum | cut -d' ' -f1; }
for arch in "${ARCHES[@]}"; do
  plat=(--override-os linux --override-arch "$arch")
  [[ $arch == arm64 ]] && plat+=(--override-variant v8)
  # umoci cannot unpack from a multi-platform index ("tag is ambiguous"), so
  # copy one platform out first.
  skopeo --insecure-policy "${plat[@]}" copy --quiet \
    "oci:$OUT/busybox-oci:latest" "oci:$WORK/verify:$arch"
  r=$WORK/check-$arch/rootfs
  umoci unpack --image "$WORK/verify:$arch" "$WORK/check-$arch" >/dev/null
  cmp -s "$r/bin/busybox" "${BB_DIR[$arch]}/bin/busybox" || die "$arch: /bin/busybox differs"
  [[ -L $r/bin/sh && $(readlink "$r/bin/sh") == busybox ]] || die "$arch: /bin/sh is not a symlink"
  [[ $(stat -c %a "$r/tmp") == 1777 ]] || die "$arch: /tmp is not 1777"
  [[ ! -e $r/var/cache/sample ]] || die "$arch: /var/cache/sample was not deleted"
  cmp -s "$r/app/data/copy-of-cache.bin" "$WORK/dataset.bin" || die "$arch: copy-of-cache.bin differs"
  grep -q 'Hello again' "$r/app/hello.sh" || die "$arch: hello.sh was not modified"
  # The docker-archive must carry the very same config blob.
  oci_config=$(skopeo "${plat[@]}" inspect --raw --config "oci:$OUT/busybox-oci:latest" | sha)
  tar_config=$(skopeo inspect --raw --config "docker-archive:$OUT/busybox-$arch.tar" | sha)
  [[ $oci_config == "$tar_config" ]] || die "$arch: docker-archive config differs from the OCI one"
done
[[ $(skopeo inspect --raw "oci-archive:$OUT/busybox.oci.tar:latest" | sha) == \
   $(skopeo inspect --raw "oci:$OUT/busybox-oci:latest" | sha) ]] \
  || die "busybox.oci.tar does not hold the same index as busybox-oci/"

# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------
index_digest=$(node -e 'const i=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(i.manifests[0].digest)' \
  "$OUT/busybox-oci/index.json")
echo
echo "layerlens samples (busybox-static ${BB_VER[${ARCHES[0]}]})"
printf '  %-20s %9s bytes  index %s\n' "busybox-oci/" \
  "$(du -sb "$OUT/busybox-oci" | cut -f1)" "$index_digest"
skopeo inspect --raw "oci:$OUT/busybox-oci:latest" \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const m of JSON.parse(s).manifests){const p=m.platform;console.log(`    ${(p.os+"/"+p.architecture+(p.variant?"/"+p.variant:"")).padEnd(17)} manifest ${m.digest}`)}})'
archives=(busybox.oci.tar)
for arch in "${ARCHES[@]}"; do archives+=("busybox-$arch.tar"); done
for f in "${archives[@]}"; do
  printf '  %-20s %9s bytes  sha256:%s\n' "$f" "$(stat -c %s "$OUT/$f")" \
    "$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
done
printf '  %-20s %9s bytes\n' "total" \
  "$(du -cb "$OUT/busybox-oci" "$OUT/busybox.oci.tar" "$OUT"/busybox-*.tar | tail -1 | cut -f1)"
