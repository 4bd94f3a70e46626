#!/usr/bin/env bash
# make image: build salesflow's image (deploy/Dockerfile) with podman, from a Debian base made here.
#   1. Installs Debian's podman, runc and mmdebstrap if missing.
#   2. Base: localhost/salesflow-base:bookworm = Debian 12 minbase + python3 + python3-venv + ca-certificates
#      + fonts-noto-cjk (Sans), made
#      with mmdebstrap (cached as a tarball in the state dir) and `podman import`ed. Skipped when BASE_IMAGE is
#      set to something else (python:3.11-slim where a registry answers).
#   3. podman build --format docker (keeps the HEALTHCHECK) with the host's CA bundle as the `pip_ca` secret.
# Prints the image's size. Environment: IMAGE (default localhost/salesflow:dev), BASE_IMAGE, SALESFLOW_STATE_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-localhost/salesflow:dev}
DEBIAN_BASE=localhost/salesflow-base:bookworm
BASE_IMAGE=${BASE_IMAGE:-$DEBIAN_BASE}
STATE=${SALESFLOW_STATE_DIR:-$HOME/.cache/salesflow}/image
PODMAN=(bash deploy/image/podman.sh)
log() { printf '[image] %s\n' "$*" >&2; }

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
[[ $BASE_IMAGE != "$DEBIAN_BASE" ]] || command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if ((${#missing[@]})); then
  log "installing Debian's ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" uidmap \
    containernetworking-plugins >/dev/null
fi

# Docs, man pages, info and translations are left out of the base (about 50 MB); copyright files are kept.
# fonts-noto-cjk: the printed quote's PDF font (orders, ORDERS_QUOTE_PDF_FONT), its Sans faces only (the Serif
# collections are 53 MB no service uses).
MMDEBSTRAP_ARGS=(--variant=minbase --include=python3,python3-venv,ca-certificates,fonts-noto-cjk
  --dpkgopt='path-exclude=/usr/share/fonts/opentype/noto/NotoSerifCJK-*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
  bookworm)
# The recipe's hash names the cached tarball and labels the base, so changing the recipe rebuilds both.
recipe=$(printf '%s\n' "${MMDEBSTRAP_ARGS[@]}" | sha256sum | cut -c1-12)
if [[ $BASE_IMAGE == "$DEBIAN_BASE" ]] && [[ $("${PODMAN[@]}" image inspect --format \
     '{{index .Labels "salesflow.base.recipe"}}' "$DEBIAN_BASE" 2>/dev/null) != "$recipe" ]]; then
  mkdir -p "$STATE"
  tarball=$STATE/rootfs-bookworm-$recipe.tar
  if [[ ! -s $tarball ]]; then
    log "mmdebstrap: Debian bookworm minbase + python3 (a few minutes)"
    mmdebstrap --quiet --format=tar "${MMDEBSTRAP_ARGS[@]}" "$tarball.part"
    mv "$tarball.part" "$tarball"
  fi
  log "podman import $tarball as $DEBIAN_BASE"
  "${PODMAN[@]}" import --quiet --change "LABEL salesflow.base.recipe=$recipe" "$tarball" "$DEBIAN_BASE" >/dev/null
fi

secret=()
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[[ -s $ca ]] && secret=(--secret "id=pip_ca,src=$ca")
log "podman build $IMAGE from $BASE_IMAGE"
"${PODMAN[@]}" build --quiet --format docker --network host "${secret[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -f deploy/Dockerfile -t "$IMAGE" . >/dev/null
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE: $((size / 1000000)) MB"
