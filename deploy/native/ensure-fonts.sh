#!/usr/bin/env bash
# Installs Debian's fonts-noto-cjk if it is missing: the orders service prints quotes as PDF in Chinese with Noto
# Sans CJK SC (ORDERS_QUOTE_PDF_FONT) and refuses to start without it. Idempotent; a no-op when it is there.
# `ensure-fonts.sh --check` only answers (exit 0: ready, 1: not) and installs nothing; ensure-chromium.sh uses it.
#
# Ready means the package is *installed* and the two faces the orders service opens are on disk. Not `dpkg -s`: it
# exits 0 for every state dpkg knows the package in — half-installed and unpacked too, the seconds (7 s on this
# machine) while another worktree's apt-get unpacks it and the files are not under their names yet. A `make unit` in
# that window skipped the install and ran the quote-PDF tests without their font: exactly the five tests that open
# the Noto files fail (2 failed + 3 errors in tests/unit/orders/test_orders_quote_print.py, the "flake" of
# 2026-12-04). And apt-get waits for the dpkg lock instead of failing when another install holds it.
# SALESFLOW_DPKG_ADMINDIR and SALESFLOW_NOTO_DIR exist for the test (tests/unit/deploy/test_ensure_fonts.py).
set -euo pipefail
NOTO_DIR=${SALESFLOW_NOTO_DIR:-/usr/share/fonts/opentype/noto}
fonts_ready() {
  local status
  status=$(dpkg-query ${SALESFLOW_DPKG_ADMINDIR:+--admindir="$SALESFLOW_DPKG_ADMINDIR"} -W -f='${db:Status-Status}' \
    fonts-noto-cjk 2>/dev/null) || return 1
  [[ $status == installed && -s $NOTO_DIR/NotoSansCJK-Regular.ttc && -s $NOTO_DIR/NotoSansCJK-Bold.ttc ]]
}
if [[ ${1:-} == --check ]]; then
  fonts_ready
  exit
fi
if fonts_ready; then
  exit 0
fi
run_as_root() { if ((EUID == 0)); then "$@"; else sudo -n -- "$@"; fi; }
echo "[fonts] installing Debian's fonts-noto-cjk (the printed quote's PDF font)" >&2
export DEBIAN_FRONTEND=noninteractive
run_as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
run_as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends fonts-noto-cjk >&2
fonts_ready || { echo "[fonts] fonts-noto-cjk still missing after install" >&2; exit 1; }
