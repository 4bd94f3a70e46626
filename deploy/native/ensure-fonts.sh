#!/usr/bin/env bash
# Installs Debian's fonts-noto-cjk if it is missing: the orders service prints quotes as PDF in Chinese with Noto
# Sans CJK SC (ORDERS_QUOTE_PDF_FONT) and refuses to start without it. Idempotent; a no-op when it is there.
set -euo pipefail
if dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
  exit 0
fi
run_as_root() { if ((EUID == 0)); then "$@"; else sudo -n -- "$@"; fi; }
echo "[fonts] installing Debian's fonts-noto-cjk (the printed quote's PDF font)" >&2
export DEBIAN_FRONTEND=noninteractive
run_as_root apt-get update -qq
run_as_root apt-get install -y -qq --no-install-recommends fonts-noto-cjk >&2
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || { echo "[fonts] fonts-noto-cjk still missing after install" >&2; exit 1; }
