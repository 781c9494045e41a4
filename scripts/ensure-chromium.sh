#!/usr/bin/env bash
# Make sure Chromium is installed for the dashboard's browser tests (Playwright drives the system's
# Chromium; it never downloads a browser). Installs Debian's package when missing, as root with
# apt-get; otherwise fails loudly, saying what to install. CHROMIUM names another binary.
set -euo pipefail
chromium="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$chromium" ]] && exit 0
if [[ "$chromium" == /usr/bin/chromium ]] && command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
  echo "installing chromium (apt-get) for the dashboard's browser tests" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; }
  [[ -x "$chromium" ]] && exit 0
fi
echo "error: Chromium is missing at $chromium; the dashboard's browser tests need it:" >&2
echo "       apt-get install -y chromium (as root), or set CHROMIUM to a Chromium binary" >&2
exit 1
