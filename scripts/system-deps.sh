#!/usr/bin/env bash
# Debian packages the tests and benchmarks need: Chromium + ChromeDriver (widget browser test), wrk
# (load test), espeak-ng (offline Vietnamese speech synthesis for the hotline). Idempotent: installs only what is missing; needs root (or sudo) when something is.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v wrk >/dev/null || need+=(wrk)
# SIP tests (tests/sip/): sipp, baresip (softphone with aufile/sndfile), kamailio (dispatcher)
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip)
[ -x /usr/sbin/kamailio ] || need+=(kamailio)
command -v espeak-ng >/dev/null || need+=(espeak-ng)  # Vietnamese speech synthesis fallback (voice/)
command -v gdb >/dev/null || need+=(gdb)  # native stacks of a crashed SIP agent in the test report (tests/sip)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "system-deps: installing ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
