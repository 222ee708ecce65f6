#!/usr/bin/env bash
# Installs Debian's slurm-wlm and munge (for test/slurm.test.ts and scripts/slurm/cluster.sh) when
# they are missing; does nothing when they are there. Needs root (or sudo) and the Debian mirror.
# Neither package's service is started: there is no systemd here, and cluster.sh starts its own
# daemons under a temporary directory. Exit status 0 when both are installed afterwards.
set -euo pipefail
say() { echo "slurm-setup: $*"; }

missing=()
for p in slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "slurm-wlm and munge already installed"
  exit 0
fi
sudo_=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_="sudo -n"
  else
    say "need root (or password-less sudo) to apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
say "apt-get install ${missing[*]}"
# policy-rc.d: the packages' postinst must not try to start services (no systemd; cluster.sh
# starts the daemons itself). Only written when absent, removed again afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ] && [ -z "$sudo_" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
if ! $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  $sudo_ apt-get update -qq
  $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for p in slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || { say "$p did not install" >&2; exit 1; }
done
say "installed: $(dpkg-query -W -f='${Package} ${Version}\n' slurm-wlm munge | tr '\n' ' ')"
