#!/usr/bin/env bash
# Install Debian's chromium and chromedriver for the browser test (tests/test_app_browser.py), only when missing.
# Idempotent and quiet; as root it uses apt-get directly, otherwise sudo when it can run without a password.
set -euo pipefail

PACKAGES=(chromium chromium-driver)

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "error: chromium and chromedriver are missing and installing them needs root:" >&2
    echo "  sudo apt-get install -y ${PACKAGES[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: no apt-get here; install chromium and its chromedriver with this system's package manager" >&2
    exit 1
fi

echo "installing ${PACKAGES[*]} (apt-get) for the browser test"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
