#!/usr/bin/env bash
# Builds the benchmark images, reproducibly, with umoci and skopeo.
#
#   bench/generate.sh [OUTDIR]                         (default: bench/images, gitignored)
#   BENCH_IMAGES="realistic manylayers" bench/generate.sh    only some images
#
# Each image NAME is written as
#   OUTDIR/NAME.oci/        an OCI image layout (one image, ref name "latest"), gzip layers as umoci writes them
#   OUTDIR/NAME.oci.tar     the same layout as a tar (oci-archive; sorted, fixed mtimes, numeric owners)
#   OUTDIR/NAME.docker.tar  `docker save` format (skopeo copy oci:… docker-archive:…; layers uncompressed)
#   OUTDIR/NAME.info.json   what was built: layers, sizes, file counts, digests, how (written last: an image whose
#                           info.json exists is complete and is skipped on the next run)
#
# Images:
#   realistic   Debian bookworm (debootstrap --variant=minbase) as the base layer, then as a Dockerfile would:
#               apt-get install of python3, pip, curl, locales, file… (leaving apt lists and .debs behind), a build
#               cache, a cleanup layer that deletes all three (whiteouts), the app (this repo's production
#               node_modules), and
#               /usr/share/doc replaced by its copyright files only (an opaque whiteout). ~400 MB unpacked.
#               Without a reachable mirror, the rootfs is synthesised from this machine's /usr instead (stated in
#               the output and in info.json).
#   smallfiles  one layer of 200,000 small files (0 B - 8 KiB; 90 % text, 10 % random)
#   biglayer    one layer of ~1 GB in three large files: random, log-like text, mixed 64 KiB blocks
#   manylayers  100 layers: 90 of ~30 small files each, and every 10th a whiteout of a directory 5 layers back
#   millionfiles  1,004,000 tar entries in 3 layers: 640,000 empty files; 300,000 small text files (1-512 B, one in
#               five a duplicate); a churn layer that deletes 5 % of the empty files (whiteouts) and rewrites another
#               5 %. Also OUTDIR/millionfiles-changed.oci: the same image with a different churn layer (for `diff`)
#
# Layers are made with `umoci unpack`/`umoci repack` (realistic) or GNU tar + `umoci raw add-layer` (the rest).
# Reproducible: every mtime is SOURCE_DATE_EPOCH (default 2024-01-01T00:00:00Z), history times are derived from
# it, synthetic bytes come from seeded generators (lib/synth.mjs), tar entries are sorted. Two builds give
# byte-identical tarballs (checked on this machine; NAME.info.json records their sha256). The synthetic images
# depend only on the umoci, skopeo and GNU tar versions; "realistic" also on the mirror's state (set MIRROR to a
# snapshot.debian.org URL to pin it) and on package-lock.json.
#
# Environment: MIRROR (default http://deb.debian.org/debian), SUITE (bookworm), SOURCE_DATE_EPOCH,
# SMALLFILES_COUNT (200000), BIGLAYER_MIB (1000), MANYLAYERS_COUNT (100), MILLIONFILES_COUNT (1000000). Needs root (debootstrap, chroot, umoci
# unpack of a rootfs owned by many users); installs debootstrap/umoci/skopeo/pigz with apt-get when missing.
set -euo pipefail
umask 022
export LC_ALL=C TZ=UTC DEBIAN_FRONTEND=noninteractive

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH")
OUT=${1:-$BENCH/images}
IMAGES=${BENCH_IMAGES:-realistic smallfiles biglayer manylayers millionfiles}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
SMALLFILES_COUNT=${SMALLFILES_COUNT:-200000}
BIGLAYER_MIB=${BIGLAYER_MIB:-1000}
MANYLAYERS_COUNT=${MANYLAYERS_COUNT:-100}
MILLIONFILES_COUNT=${MILLIONFILES_COUNT:-1000000}
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)

log() { printf '==> [%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'generate.sh: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (debootstrap, chroot and umoci unpack need it)"
missing=()
for tool in umoci skopeo pigz debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
for tool in umoci skopeo node tar sha256sum; do command -v "$tool" >/dev/null || die "$tool not found"; done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORKROOT=$OUT/.work
START=$SECONDS

# ISO time N minutes after SOURCE_DATE_EPOCH (history entries, one minute apart in Dockerfile order).
hist_time() { date -u -d "@$((SOURCE_DATE_EPOCH + 60 * $1))" +%Y-%m-%dT%H:%M:%SZ; }
fix_times() { find "$@" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

# An uncompressed layer tar of everything below DIR (names relative to DIR, no "./"), sorted, fixed mtimes,
# numeric root owners; then `umoci raw add-layer` appends it (umoci gzips it). Not `umoci insert`: umoci <= 0.4.7
# forgets to close its tar writer there, so the layer lacks its last padding and the end-of-archive marker
# (opencontainers/umoci#436, fixed by #534) - GNU tar rejects such a layer, and so does layerlens.
add_layer() { # LAYOUT DIR CREATED_BY HISTORY_MINUTE [OWNER] [TAG]
  local layout=$1 dir=$2 created_by=$3 minute=$4 owner=${5:-0} tag=${6:-latest} tarfile
  tarfile=$(mktemp "$WORKROOT/layer.XXXXXX.tar")
  (cd "$dir" && find . -mindepth 1 -printf '%P\n' | sort >"$tarfile.list")
  tar --mtime="@$SOURCE_DATE_EPOCH" --owner="$owner" --group="$owner" --numeric-owner --format=gnu \
    -C "$dir" -cf "$tarfile" --no-recursion --verbatim-files-from --files-from="$tarfile.list"
  umoci raw add-layer --image "$layout:$tag" --history.created "$(hist_time "$minute")" \
    --history.created_by "$created_by" "$tarfile"
  rm -f "$tarfile" "$tarfile.list"
}

new_image() { # LAYOUT -> creates tag latest with an empty, fixed config
  umoci init --layout "$1"
  umoci new --image "$1:latest"
  umoci config --image "$1:latest" --no-history --os linux --architecture "$ARCH" --created "$(hist_time 0)" \
    --author "layerlens bench"
}

# Writes the three outputs of image NAME from LAYOUT, then NAME.info.json.
emit() {
  local name=$1 layout=$2 how=$3
  log "$name: writing $name.oci, $name.oci.tar, $name.docker.tar"
  umoci gc --layout "$layout"
  rm -rf "$OUT/$name.oci" "$OUT/$name.oci.tar" "$OUT/$name.docker.tar"
  find "$layout" -type d -exec chmod 0755 {} +
  find "$layout" -type f -exec chmod 0644 {} +
  fix_times "$layout"
  mv "$layout" "$OUT/$name.oci"
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$OUT/$name.oci" -cf "$OUT/$name.oci.tar.tmp" .
  mv "$OUT/$name.oci.tar.tmp" "$OUT/$name.oci.tar"
  skopeo --insecure-policy copy --quiet "oci:$OUT/$name.oci:latest" \
    "docker-archive:$OUT/$name.docker.tar.tmp:bench/$name:1"
  mv "$OUT/$name.docker.tar.tmp" "$OUT/$name.docker.tar"
  log "$name: counting layers, bytes and files"
  node "$BENCH/lib/describe.mjs" "$OUT" "$name" "$how" >"$OUT/$name.info.json.tmp"
  mv "$OUT/$name.info.json.tmp" "$OUT/$name.info.json"
  node -e '
    const i = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const mb = (n) => (n / 1e6).toFixed(1) + " MB";
    console.error(`    ${i.name}: ${i.layers} layers, ${mb(i.compressedSize)} gzip, ${mb(i.uncompressedSize)} unpacked, ` +
      `${i.entries} tar entries (${i.filesInRootfs} paths in the final rootfs); ${i.how}`);' "$OUT/$name.info.json"
}

# --------------------------------------------------------------------------------------------------------------
# realistic
# --------------------------------------------------------------------------------------------------------------
PACKAGES=(python3 python3-pip curl wget ca-certificates openssl locales file procps xz-utils unzip jq)

chroot_run() { # ROOTFS CMD... with /dev nodes and /proc for maintainer scripts; removed again afterwards
  local rootfs=$1; shift
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  mknod -m 666 "$rootfs/dev/null" c 1 3 2>/dev/null || true
  mknod -m 666 "$rootfs/dev/zero" c 1 5 2>/dev/null || true
  mknod -m 666 "$rootfs/dev/urandom" c 1 9 2>/dev/null || true
  mknod -m 666 "$rootfs/dev/random" c 1 8 2>/dev/null || true
  local mounted=0
  mount -t proc proc "$rootfs/proc" 2>/dev/null && mounted=1
  local rc=0
  chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@" || rc=$?
  ((mounted)) && umount "$rootfs/proc"
  rm -f "$rootfs"/dev/{null,zero,urandom,random}
  printf 'nameserver 127.0.0.1\n' >"$rootfs/etc/resolv.conf"   # as an image builder leaves it: not the host's
  return $rc
}

# Files whose content is a log or a timestamp of the build, not of the packages: gone, as in reproducible images.
scrub() {
  local r=$1
  rm -f "$r"/var/log/dpkg.log "$r"/var/log/alternatives.log "$r"/var/log/apt/*.log "$r"/var/log/bootstrap.log \
    "$r"/var/cache/ldconfig/aux-cache "$r"/var/lib/dpkg/*-old "$r"/var/cache/debconf/*-old \
    "$r"/var/lib/apt/extended_states.* "$r"/etc/machine-id "$r"/var/lib/dbus/machine-id
  rm -f "$r"/var/cache/apt/*.bin
  rm -rf "$r"/tmp/* "$r"/var/tmp/*
}

build_realistic() {
  local work=$WORKROOT/realistic layout=$WORKROOT/realistic/layout bundle=$WORKROOT/realistic/bundle
  local img="$layout:latest" rootfs how_base how_pkg
  rm -rf "$work"; mkdir -p "$work"
  new_image "$layout"
  umoci unpack --image "$img" "$bundle" >/dev/null
  rootfs=$bundle/rootfs

  # Layer 0: FROM debian:bookworm ---------------------------------------------------------------------------
  log "realistic: debootstrap --variant=minbase $SUITE $MIRROR"
  if debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
    how_base="debootstrap --variant=minbase $SUITE $MIRROR"
    # What the official debian image removes: the downloaded .debs, apt lists, logs, device nodes.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/dev/*
    mkdir -p "$rootfs/var/lib/apt/lists/partial"
    scrub "$rootfs"
  else
    log "realistic: debootstrap FAILED (see $work/debootstrap.log): synthesising the rootfs from this machine's /usr"
    how_base="FALLBACK: rootfs synthesised from this machine's /usr (debootstrap failed)"
    rm -rf "$rootfs"; mkdir -p "$rootfs"
    mkdir -p "$rootfs"/{etc,root,tmp,var/lib,var/cache,var/log,proc,sys,dev,home,usr/lib,usr/share}
    cp -a /usr/bin /usr/sbin "$rootfs/usr/"
    cp -a /usr/lib/locale /usr/lib/os-release /usr/lib/dpkg "$rootfs/usr/lib/" 2>/dev/null || true
    mkdir -p "$rootfs/usr/lib/$(uname -m)-linux-gnu"
    cp -a /usr/lib/"$(uname -m)"-linux-gnu/lib{c,m,pthread,dl,rt,z,lzma,bz2,zstd,selinux,pcre2-8,acl,attr,crypt,tinfo,ncursesw,ssl,crypto,ffi,sqlite3,expat,uuid}[.-]* \
      "$rootfs/usr/lib/$(uname -m)-linux-gnu/" 2>/dev/null || true
    cp -a /usr/share/perl /usr/share/common-licenses /usr/share/zoneinfo "$rootfs/usr/share/" 2>/dev/null || true
    cp -a /etc/passwd /etc/group /etc/os-release /etc/debian_version "$rootfs/etc/" 2>/dev/null || true
    ln -s usr/bin "$rootfs/bin"; ln -s usr/sbin "$rootfs/sbin"; ln -s usr/lib "$rootfs/lib"
    ln -s usr/lib64 "$rootfs/lib64" 2>/dev/null || true
    chmod 1777 "$rootfs/tmp"
  fi
  fix_times "$rootfs"
  umoci repack --refresh-bundle --image "$img" --history.created "$(hist_time 1)" \
    --history.created_by "/bin/sh -c #(nop) ADD file:rootfs.tar.xz in / " --history.comment "$how_base" "$bundle"

  # Layer 1: RUN apt-get update && apt-get install ... (lists and .debs left behind, as a careless RUN does) -----
  log "realistic: apt-get install ${PACKAGES[*]} (in a chroot)"
  how_pkg="apt-get install --no-install-recommends ${PACKAGES[*]}"
  if [[ $how_base == debootstrap* ]] && chroot_run "$rootfs" sh -c \
      "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${PACKAGES[*]}" >"$work/apt.log" 2>&1; then
    :
  else
    log "realistic: apt-get in the chroot failed or was skipped: copying this machine's python3 and docs instead"
    how_pkg="FALLBACK: copied /usr/lib/python3*, /usr/share/doc of this machine"
    mkdir -p "$rootfs/usr/lib" "$rootfs/usr/share"
    cp -a /usr/lib/python3* "$rootfs/usr/lib/"
    cp -a /usr/share/doc "$rootfs/usr/share/"
    mkdir -p "$rootfs/var/lib/apt/lists" "$rootfs/var/cache/apt/archives"
    node "$BENCH/lib/synth.mjs" appcache "$rootfs/var/cache/apt/archives" 60
  fi
  scrub "$rootfs"
  fix_times "$rootfs"
  umoci repack --refresh-bundle --image "$img" --history.created "$(hist_time 2)" \
    --history.created_by "RUN apt-get update && apt-get install -y --no-install-recommends ${PACKAGES[*]}" \
    --history.comment "$how_pkg" "$bundle"

  # Layer 2: a build cache -----------------------------------------------------------------------------------
  log "realistic: build cache layer"
  mkdir -p "$rootfs/root/.cache/pip"
  node "$BENCH/lib/synth.mjs" appcache "$rootfs/root/.cache/pip" 5
  mkdir -p "$rootfs/root/.cache/build"
  cp -a "$rootfs"/usr/lib/python3.* "$rootfs/root/.cache/build/" 2>/dev/null || true   # duplicate content
  fix_times "$rootfs"
  umoci repack --refresh-bundle --image "$img" --history.created "$(hist_time 3)" \
    --history.created_by "RUN pip wheel --wheel-dir /root/.cache/pip -r requirements.txt" "$bundle"

  # Layer 3: cleanup (whiteouts for everything deleted) ----------------------------------------------------------
  log "realistic: cleanup layer"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs/root/.cache"
  fix_times "$rootfs"
  umoci repack --refresh-bundle --image "$img" --history.created "$(hist_time 4)" \
    --history.created_by "RUN apt-get clean && rm -rf /var/lib/apt/lists/* /root/.cache" "$bundle"

  # Layer 4: COPY the app --------------------------------------------------------------------------------------
  log "realistic: app layer (production node_modules of $REPO)"
  mkdir -p "$rootfs/app/node_modules"
  cp "$REPO/package.json" "$REPO/package-lock.json" "$rootfs/app/"
  (cd "$REPO" && npm ls --omit=dev --parseable --all 2>/dev/null | tail -n +2 | sed "s|^$REPO/||" | sort) \
    | while read -r dir; do
        mkdir -p "$rootfs/app/$(dirname "$dir")"
        cp -a "$REPO/$dir" "$rootfs/app/$dir"
      done
  find "$rootfs/app" -depth -type d -name node_modules -empty -delete
  chown -R 1000:1000 "$rootfs/app"
  fix_times "$rootfs"
  umoci repack --refresh-bundle --image "$img" --history.created "$(hist_time 5)" \
    --history.created_by "COPY --chown=1000:1000 . /app" "$bundle"

  # Layer 5: /usr/share/doc replaced by its copyright files: an opaque whiteout ----------------------------------
  log "realistic: opaque layer (/usr/share/doc)"
  local docs=$work/docs
  mkdir -p "$docs/usr/share/doc"
  (cd "$rootfs/usr/share/doc" && find . -name copyright -type f | sort | while read -r f; do
     mkdir -p "$docs/usr/share/doc/$(dirname "$f")"; cp -a "$f" "$docs/usr/share/doc/$f"; done)
  : >"$docs/usr/share/doc/.wh..wh..opq"
  fix_times "$docs"
  add_layer "$layout" "$docs" "RUN find /usr/share/doc -type f ! -name copyright -delete" 6

  # Config ------------------------------------------------------------------------------------------------------
  umoci config --image "$img" --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --history.created "$(hist_time 7)" --history.created_by 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  umoci config --image "$img" --config.workingdir /app \
    --history.created "$(hist_time 8)" --history.created_by 'WORKDIR /app'
  umoci config --image "$img" --config.user 1000:1000 \
    --history.created "$(hist_time 9)" --history.created_by 'USER 1000:1000'
  umoci config --image "$img" --config.cmd node --config.cmd bin/layerlens.js \
    --history.created "$(hist_time 10)" --history.created_by 'CMD ["node", "bin/layerlens.js"]' --created "$(hist_time 10)"

  rm -rf "$bundle"
  emit realistic "$layout" "base: $how_base; packages: $how_pkg"
  rm -rf "$work"
}

# --------------------------------------------------------------------------------------------------------------
# synthetic images (GNU tar + umoci raw add-layer: one layer per call)
# --------------------------------------------------------------------------------------------------------------
build_smallfiles() {
  local work=$WORKROOT/smallfiles layout=$WORKROOT/smallfiles/layout
  rm -rf "$work"; mkdir -p "$work"
  new_image "$layout"
  log "smallfiles: writing $SMALLFILES_COUNT files"
  node "$BENCH/lib/synth.mjs" smallfiles "$work/tree" "$SMALLFILES_COUNT"
  log "smallfiles: tar + umoci raw add-layer"
  mkdir -p "$work/root/srv"; mv "$work/tree" "$work/root/srv/data"
  add_layer "$layout" "$work/root" "COPY data /srv/data ($SMALLFILES_COUNT small files)" 1
  emit smallfiles "$layout" "synthetic: lib/synth.mjs smallfiles $SMALLFILES_COUNT"
  rm -rf "$work"
}

build_biglayer() {
  local work=$WORKROOT/biglayer layout=$WORKROOT/biglayer/layout
  rm -rf "$work"; mkdir -p "$work"
  new_image "$layout"
  log "biglayer: writing $BIGLAYER_MIB MiB"
  node "$BENCH/lib/synth.mjs" bigfiles "$work/tree" "$BIGLAYER_MIB"
  log "biglayer: tar + umoci raw add-layer"
  mkdir -p "$work/root"; mv "$work/tree" "$work/root/data"
  add_layer "$layout" "$work/root" "COPY data /data ($BIGLAYER_MIB MiB: random, text, mixed)" 1
  emit biglayer "$layout" "synthetic: lib/synth.mjs bigfiles $BIGLAYER_MIB"
  rm -rf "$work"
}

build_manylayers() {
  local work=$WORKROOT/manylayers layout=$WORKROOT/manylayers/layout i step
  rm -rf "$work"; mkdir -p "$work"
  new_image "$layout"
  log "manylayers: $MANYLAYERS_COUNT layers"
  for ((i = 0; i < MANYLAYERS_COUNT; i++)); do
    step=$(printf '%03d' "$i")
    mkdir -p "$work/l$step/opt/app"
    if ((i > 0 && i % 10 == 0)); then
      # Every 10th layer deletes the directory written 5 layers earlier: a layer holding one whiteout.
      local gone
      gone=step$(printf '%03d' $((i - 5)))
      : >"$work/l$step/opt/app/.wh.$gone"
      add_layer "$layout" "$work/l$step" "RUN rm -rf /opt/app/$gone" $((i + 1))
    else
      node "$BENCH/lib/synth.mjs" layer "$work/l$step" "$i"
      printf 'step=%s\n' "$step" >"$work/l$step/opt/app/CURRENT"   # rewritten by every layer: "modified"
      add_layer "$layout" "$work/l$step" "COPY step$step /opt/app/" $((i + 1))
    fi
    rm -rf "$work/l$step"
  done
  emit manylayers "$layout" "synthetic: lib/synth.mjs layer N for N in 0..$((MANYLAYERS_COUNT - 1)), every 10th layer a whiteout instead"
  rm -rf "$work"
}

build_millionfiles() {
  local work=$WORKROOT/millionfiles layout=$WORKROOT/millionfiles/layout changed=$WORKROOT/millionfiles/changed step
  rm -rf "$work"; mkdir -p "$work"
  new_image "$layout"
  local minute=1
  for step in empty small; do
    log "millionfiles: layer $step"
    node "$BENCH/lib/synth.mjs" millionfiles "$work/$step" "$step" "$MILLIONFILES_COUNT"
    add_layer "$layout" "$work/$step" "COPY $step /srv/$step" "$minute"
    rm -rf "${work:?}/$step"
    minute=$((minute + 1))
  done
  # The copy shares the first two layers' blobs (hardlinks: blobs are immutable) and differs in the third.
  mkdir -p "$changed"
  cp "$layout/index.json" "$layout/oci-layout" "$changed/"
  cp -al "$layout/blobs" "$changed/blobs"
  for step in churn churn-changed; do
    log "millionfiles: layer $step"
    node "$BENCH/lib/synth.mjs" millionfiles "$work/$step" "$step" "$MILLIONFILES_COUNT"
    if [[ $step == churn ]]; then add_layer "$layout" "$work/$step" "RUN churn /srv/empty" "$minute"
    else add_layer "$changed" "$work/$step" "RUN churn /srv/empty" "$minute"; fi
    rm -rf "${work:?}/$step"
  done
  umoci gc --layout "$changed"
  find "$changed" -type d -exec chmod 0755 {} +
  find "$changed" -type f -exec chmod 0644 {} +
  fix_times "$changed"
  rm -rf "$OUT/millionfiles-changed.oci"
  mv "$changed" "$OUT/millionfiles-changed.oci"
  emit millionfiles "$layout" "synthetic: lib/synth.mjs millionfiles empty|small|churn $MILLIONFILES_COUNT"
  rm -rf "$work"
}

for name in $IMAGES; do
  if [[ -f $OUT/$name.info.json && -d $OUT/$name.oci && -f $OUT/$name.oci.tar && -f $OUT/$name.docker.tar ]]; then
    log "$name: already built ($OUT/$name.info.json); skipping (delete it to rebuild)"
    continue
  fi
  t0=$SECONDS
  case $name in
    realistic) build_realistic ;;
    smallfiles) build_smallfiles ;;
    biglayer) build_biglayer ;;
    manylayers) build_manylayers ;;
    millionfiles) build_millionfiles ;;
    *) die "unknown image $name (realistic smallfiles biglayer manylayers millionfiles)" ;;
  esac
  log "$name: built in $((SECONDS - t0)) s"
done
rmdir "$WORKROOT" 2>/dev/null || true

echo
printf '%-11s %6s %12s %14s %9s  %s\n' image layers compressed uncompressed files "sha256 of NAME.oci.tar"
for name in $IMAGES; do
  node -e '
    const i = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const mb = (n) => (n / 1e6).toFixed(1) + " MB";
    console.log(`${i.name.padEnd(11)} ${String(i.layers).padStart(6)} ${mb(i.compressedSize).padStart(12)} ` +
      `${mb(i.uncompressedSize).padStart(14)} ${String(i.filesInRootfs).padStart(9)}  ${i.sha256["oci.tar"].slice(0, 16)}…`);' \
    "$OUT/$name.info.json"
done
log "done in $((SECONDS - START)) s"
