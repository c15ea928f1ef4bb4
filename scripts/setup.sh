#!/usr/bin/env bash
# Sets up everything galvasr needs on a fresh Debian/Ubuntu machine:
# system packages (ffmpeg, espeak-ng, flite, festival and two voices, bible-kjv,
# and chromium, in which the report's tests load its pages), and a virtual
# environment in .venv with galvasr and its test tools.
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
APT_PACKAGES=(ffmpeg espeak-ng flite festival festvox-kdlpc16k festvox-us-slt-hts bible-kjv chromium)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }
warn() { printf '\033[1;33m[setup] warning:\033[0m %s\n' "$*" >&2; }

# --- Python
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1))."

# --- Java 17+ for Spark 4
java_bin=java
[ -n "${JAVA_HOME:-}" ] && java_bin="$JAVA_HOME/bin/java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
  die "Java is missing. Spark 4 needs Java 17 or 21: on Debian/Ubuntu 'apt-get install openjdk-17-jre-headless', then run this again."
fi
java_major=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
  die "Java ${java_major:-of unknown version} found at $(command -v "$java_bin"); Spark 4 needs Java 17 or 21. Install openjdk-17 and set JAVA_HOME."
fi

# --- system packages
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    die "apt-get not found; install these yourself: ${missing[*]}"
  fi
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python environment
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -d .venv ] || "$PYTHON" -m venv .venv
  say "installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi

# --- the local JVM's class data sharing archive (galvasr/jvm_cds.py): Spark's
# classes pre-parsed, in .venv/share/galvasr, named for this Java and Spark.
# Without it runs work as before, slower to start: a failure only warns.
cds_state=0
.venv/bin/python -m galvasr.jvm_cds path >/dev/null 2>&1 || cds_state=$?
if [ "$cds_state" -eq 1 ]; then
  say "building the local JVM's class data sharing archive (once; a minute or two)"
  .venv/bin/python -m galvasr.jvm_cds build >&2 \
    || warn "could not build the JVM's class data sharing archive; galvasr runs without it"
fi
say "ready (Java $java_major, $(.venv/bin/python --version))"
