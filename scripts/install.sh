#!/usr/bin/env bash
# Install everything the project needs to build, run and test, idempotently.
#
#   scripts/install.sh                 everything: venv + Python deps, apt services,
#                                      FerretDB (Go build, cached), web-client build,
#                                      load tests' Node packages (npm ci, cached)
#   scripts/install.sh --python-only   venv + `pip install -e .` + web-client build
#                                      (what scripts/demo.sh needs; no apt, no Go)
#
# Every step is skipped when its result is already there, so a warm run takes
# well under a second. Remove .cache/ (and .venv/) to force a full reinstall.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODE=all
for arg in "$@"; do
  case "$arg" in
    --python-only) MODE=python ;;
    -h | --help)
      sed -n '2,11p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "install.sh: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

CACHE="$ROOT/.cache"
VENV="$ROOT/.venv"
APT_PACKAGES=(redis-server dovecot-imapd nginx chromium)
FERRETDB_VERSION="v1.24.2"
FERRETDB_BIN="$CACHE/bin/ferretdb"
MACHINE_CACHE="${HOME:-/root}/.cache/conversations"
# Python packages installed on top of the pyproject extras (not yet listed there).
PIP_EXTRA=(playwright)

START_SECONDS=$SECONDS
log() { printf '[install] %s\n' "$*"; }
die() {
  printf '[install] ERROR: %s\n' "$*" >&2
  exit 1
}

mkdir -p "$CACHE"

# --------------------------------------------------------------------------- python
find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.11 python3.12 python3.13; do
    [[ -n "$candidate" ]] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

install_python() {
  local fresh=0
  if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    local py
    py="$(find_python)" || die "no python3 >= 3.11 found (set PYTHON=/path/to/python3.11)"
    log "creating .venv with $py ($("$py" --version 2>&1))"
    rm -rf "$VENV"
    "$py" -m venv "$VENV"
    fresh=1
  fi

  local spec stamp
  if [[ "$MODE" == all ]]; then
    spec=".[test,load]"
    stamp="$CACHE/pip-full.stamp"
  else
    spec="."
    stamp="$CACHE/pip-base.stamp"
  fi
  # The stamp records what was installed into which interpreter; any change re-runs pip.
  local want
  want="$(
    {
      sha256sum pyproject.toml
      echo "$spec ${PIP_EXTRA[*]}"
      readlink -f "$VENV/bin/python"
    } | sha256sum | cut -d' ' -f1
  )"
  if [[ "$fresh" == 0 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "python deps up to date (.venv, $spec)"
    return 0
  fi
  # A full install also satisfies the base (demo) install.
  if [[ "$fresh" == 0 && "$MODE" == python && -f "$CACHE/pip-full.stamp" ]]; then
    local want_full
    want_full="$(
      {
        sha256sum pyproject.toml
        echo ".[test,load] ${PIP_EXTRA[*]}"
        readlink -f "$VENV/bin/python"
      } | sha256sum | cut -d' ' -f1
    )"
    if [[ "$(cat "$CACHE/pip-full.stamp")" == "$want_full" ]]; then
      log "python deps up to date (.venv, full install)"
      return 0
    fi
  fi

  local pkgs=(-e "$spec")
  [[ "$MODE" == all ]] && pkgs+=("${PIP_EXTRA[@]}")
  log "pip install ${pkgs[*]}"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${pkgs[@]}"
  rm -f "$CACHE"/pip-*.stamp
  echo "$want" >"$stamp"
}

# --------------------------------------------------------------------------- apt
apt_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

install_apt() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    apt_installed "$pkg" || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "apt packages present (${APT_PACKAGES[*]})"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    "${missing[@]}" >/dev/null
  for pkg in "${missing[@]}"; do
    apt_installed "$pkg" || die "apt package $pkg still not installed"
  done
}

# --------------------------------------------------------------------------- ferretdb
ferretdb_ok() {
  [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1
}

install_ferretdb() {
  local shared="$MACHINE_CACHE/ferretdb"
  if ferretdb_ok "$FERRETDB_BIN"; then
    log "ferretdb present (.cache/bin/ferretdb)"
    return 0
  fi
  mkdir -p "$CACHE/bin"
  # Machine-wide cache: later fresh clones on this machine skip the Go build.
  if [[ -f "$MACHINE_CACHE/ferretdb.version" ]] &&
    [[ "$(cat "$MACHINE_CACHE/ferretdb.version")" == "$FERRETDB_VERSION" ]] &&
    ferretdb_ok "$shared"; then
    cp "$shared" "$FERRETDB_BIN.tmp" && mv -f "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
    log "ferretdb copied from $shared"
    return 0
  fi
  local go
  go="$(command -v go || true)"
  [[ -n "$go" ]] || go=/usr/local/go/bin/go
  [[ -x "$go" ]] || die "Go toolchain not found (needed to build FerretDB)"
  log "building ferretdb $FERRETDB_VERSION with $("$go" version | cut -d' ' -f3) (a few minutes)"
  local t0=$SECONDS
  # `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` builds a binary that
  # panics at start-up: the module zip lacks the generated build/version/version.txt.
  # So build from a writable copy of the module source with that file written in.
  local moddir src="$CACHE/ferretdb-src"
  moddir="$(cd /tmp && "$go" mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$moddir" && -f "$moddir/go.mod" ]] || die "go mod download of FerretDB failed"
  rm -rf "$src"
  cp -r "$moddir" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  (cd "$src" && "$go" build -buildvcs=false -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb)
  mv -f "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$src"
  log "ferretdb built in $((SECONDS - t0))s"
  if mkdir -p "$MACHINE_CACHE" 2>/dev/null; then
    cp "$FERRETDB_BIN" "$shared.tmp.$$" && mv -f "$shared.tmp.$$" "$shared" &&
      echo "$FERRETDB_VERSION" >"$MACHINE_CACHE/ferretdb.version" &&
      log "ferretdb cached machine-wide at $shared" || true
  fi
}

# --------------------------------------------------------------------------- web client
install_web_client() {
  local dir="$ROOT/web-client"
  if [[ ! -f "$dir/package.json" ]]; then
    log "no web-client/package.json, skipping web client"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm not found (needed for web-client)"
  if [[ -f "$dir/package-lock.json" ]]; then
    if [[ -d "$dir/node_modules" && "$dir/node_modules" -nt "$dir/package-lock.json" ]]; then
      log "web-client node_modules up to date"
    else
      log "npm ci (web-client)"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      touch "$dir/node_modules"
    fi
  else
    if [[ -d "$dir/node_modules" && "$dir/node_modules" -nt "$dir/package.json" ]]; then
      log "web-client node_modules up to date (no lock file)"
    else
      log "npm install (web-client, no package-lock.json)"
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
      touch "$dir/node_modules"
    fi
  fi
  if ! (cd "$dir" && node -e 'process.exit(require("./package.json").scripts?.build ? 0 : 1)'); then
    log "web-client has no build script, skipping build"
    return 0
  fi
  local stamp="$CACHE/web-client-build.stamp"
  if [[ -f "$stamp" ]] && [[ -z "$(find "$dir" \( -name node_modules -o -name dist \) -prune -o \
    -newer "$stamp" -print -quit)" ]]; then
    log "web-client build up to date"
    return 0
  fi
  log "npm run build (web-client)"
  (cd "$dir" && npm run build --silent)
  touch "$stamp"
}

# --------------------------------------------------------------------------- load tests (Node)
# The load tests' Node packages, each pinned by its package-lock.json: the bare socket.io
# baseline server and the socket.io-client agents (load-tests/run.py --client node). Optional:
# skipped without npm (the runner then says so); `npm ci` again only when the lock changed.
install_load_tests_node() {
  local dir name
  for dir in "$ROOT/load-tests/baselines/node" "$ROOT/load-tests/clients/node"; do
    [[ -f "$dir/package-lock.json" ]] || continue
    name="${dir#"$ROOT"/}"
    if ! command -v npm >/dev/null 2>&1; then
      log "npm not found: skipping $name (load tests' Node baseline / client)"
      continue
    fi
    if [[ -d "$dir/node_modules" && "$dir/node_modules" -nt "$dir/package-lock.json" ]]; then
      log "$name node_modules up to date"
      continue
    fi
    log "npm ci ($name)"
    (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules"
  done
}

install_python
if [[ "$MODE" == all ]]; then
  install_apt
  install_ferretdb
fi
install_web_client
if [[ "$MODE" == all ]]; then
  install_load_tests_node
fi
log "done in $((SECONDS - START_SECONDS))s"
