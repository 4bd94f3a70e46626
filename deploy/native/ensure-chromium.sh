#!/usr/bin/env bash
# Installs Debian's chromium if it is missing: the reporting dashboard's and the quote PDF's tests render them in a
# real headless browser and keep a screenshot (the PDF through pdf.js: make pdfjs). Idempotent; a no-op when chromium is already there.
set -euo pipefail
# The CJK fonts too: the dashboard's labels are bilingual and would render as empty boxes without them.
# The fonts' readiness as ensure-fonts.sh judges it (installed, files on disk — not `dpkg -s`, see there).
if command -v chromium >/dev/null 2>&1 && bash "$(dirname "$0")/ensure-fonts.sh" --check; then
  exit 0
fi
run_as_root() { if ((EUID == 0)); then "$@"; else sudo -n -- "$@"; fi; }
echo "[browser] installing Debian's chromium and fonts-noto-cjk" >&2
export DEBIAN_FRONTEND=noninteractive
run_as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
run_as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-noto-cjk >&2
command -v chromium >/dev/null 2>&1 || { echo "[browser] chromium still missing after install" >&2; exit 1; }
