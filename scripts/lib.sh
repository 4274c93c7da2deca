# Shared helpers for the project's scripts. Source it; do not run it.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LEARNBRIDGE_VENV:-$ROOT/.venv}"
LOCAL_DIR="$ROOT/.local"
mkdir -p "$LOCAL_DIR"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# Creates .venv and installs scripts/requirements.txt into it, once per change of that file.
ensure_venv() {
  local stamp="$VENV/.requirements.sha"
  local want
  want="$(sha256sum "$ROOT/scripts/requirements.txt" | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  log "installing Python tools into $VENV (moto[server], cfn-lint, cargo-lambda, checkov)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.txt" >&2
  echo "$want" > "$stamp"
}

# The console's browser tests drive headless Chromium through chromedriver (WebDriver).
# Installs Debian's packages when they are missing (as root, or through sudo); a machine
# where that is impossible fails here, saying what to install, rather than skipping them.
ensure_browser() {
  if command -v chromedriver >/dev/null 2>&1 && [[ -x "${CHROME_BIN:-/usr/bin/chromium}" ]]; then
    return 0
  fi
  log "installing chromium and chromium-driver (the console's browser tests)"
  local sudo=()
  [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
  if ! { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium chromium-driver; } >&2; then
    echo "error: the console's browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver" >&2
    return 1
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts moto server on a free loopback port unless AWS_ENDPOINT_URL already points at one.
# Exports AWS_ENDPOINT_URL and dummy credentials; stops moto when the calling script exits.
start_moto() {
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_DEFAULT_REGION="$AWS_REGION"
  if [[ -n "${AWS_ENDPOINT_URL:-}" ]] && curl -fsS -o /dev/null "$AWS_ENDPOINT_URL/moto-api/data.json" 2>/dev/null; then
    log "using the moto server already at $AWS_ENDPOINT_URL"
    return 0
  fi
  local port
  port="$(free_port)"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > "$LOCAL_DIR/moto.log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
  wait_for_moto "http://127.0.0.1:$port" "$LOCAL_DIR/moto.log"
}

# Starts a moto server of its own that enforces IAM (scripts/moto_iam_server.py): every
# request must be signed by an IAM user's key and allowed by its policies. Exports
# AWS_ENDPOINT_URL and the key of the administrator user it creates; the tests run each
# function with a user holding only that function's role policy. Never reuses a server.
start_moto_iam() {
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_DEFAULT_REGION="$AWS_REGION"
  local port
  port="$(free_port)"
  MOTO_DIR="$(mktemp -d "$LOCAL_DIR/moto-iam.XXXXXX")"
  "$VENV/bin/python" "$ROOT/scripts/moto_iam_server.py" --admin-env "$MOTO_DIR/admin.env" \
    -H 127.0.0.1 -p "$port" > "$MOTO_DIR/moto.log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null || true; rm -rf "$MOTO_DIR"' EXIT
  wait_for_moto "http://127.0.0.1:$port" "$MOTO_DIR/moto.log"
  # shellcheck disable=SC1091
  source "$MOTO_DIR/admin.env"
}

wait_for_moto() {
  export AWS_ENDPOINT_URL="$1"
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$AWS_ENDPOINT_URL/moto-api/data.json" 2>/dev/null; then
      log "moto server up at $AWS_ENDPOINT_URL (log: ${2#"$ROOT"/})"
      return 0
    fi
    sleep 0.1
  done
  echo "moto server did not start; see $2" >&2
  exit 1
}
