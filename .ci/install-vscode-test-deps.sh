#!/usr/bin/env bash
# Installs what the integration tests need to run a real VS Code without downloads from outside npm/Debian:
# Debian chromium (driven by playwright-core) and code-server 4.100.3 (VS Code 1.100.3 for the web) from npm,
# into the project-local prefix .vscode-test/code-server. Idempotent: a second run takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_SERVER_VERSION=4.100.3
PREFIX="$PWD/.vscode-test/code-server"
CS_PKG="$PREFIX/node_modules/code-server"
VSCODE_DIR="$CS_PKG/lib/vscode"

# --- Debian packages (skip apt entirely when everything is already installed) -------------------------------------
APT_PKGS=(chromium libkrb5-dev ripgrep build-essential pkg-config)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# --- code-server ---------------------------------------------------------------------------------------------------
# "Installed" means the package is there at the right version AND its postinstall produced the pieces the server
# needs at runtime (native modules built, ripgrep binary unpacked, node_modules.asar symlink made).
installed_ok() {
  [ -f "$CS_PKG/package.json" ] &&
    node -e "process.exit(require('$CS_PKG/package.json').version === '$CODE_SERVER_VERSION' ? 0 : 1)" &&
    [ -x "$VSCODE_DIR/node_modules/@vscode/ripgrep/bin/rg" ] &&
    [ -f "$VSCODE_DIR/node_modules/node-pty/build/Release/pty.node" ] &&
    [ -f "$VSCODE_DIR/node_modules/@vscode/spdlog/build/Release/spdlog.node" ] &&
    [ -e "$VSCODE_DIR/node_modules.asar" ] &&
    [ -d "$VSCODE_DIR/extensions/node_modules/typescript" ]
}

if installed_ok; then
  echo "code-server $CODE_SERVER_VERSION already installed in $PREFIX"
  exit 0
fi

start=$(date +%s)
mkdir -p "$PREFIX"
# Keep the whole .vscode-test folder out of git without touching the project's .gitignore.
[ -f "$PWD/.vscode-test/.gitignore" ] || echo '*' > "$PWD/.vscode-test/.gitignore"

# @vscode/ripgrep's postinstall downloads ripgrep from GitHub unless its cache already holds the release archive
# (lib/download.js: os.tmpdir()/vscode-ripgrep-cache-<pkg version>/ripgrep-<VERSION>-<target>.tar.gz, unpacked with
# `tar xvf -C bin`, expecting `rg` at the archive root). Seed it with Debian's rg.
RG_CACHE="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
RG_TGZ="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -s "$RG_TGZ" ]; then
  tmp=$(mktemp -d)
  cp /usr/bin/rg "$tmp/rg"
  mkdir -p "$RG_CACHE"
  tar czf "$RG_TGZ" -C "$tmp" rg
  rm -rf "$tmp"
fi

# The prefix is its own tiny npm project; allowScripts approves the two top-level packages whose install scripts
# code-server needs (postinstall.sh runs `npm install` in lib/vscode and lib/vscode/extensions, which builds the
# native modules; argon2 builds from source because its prebuilt binary is on GitHub).
cat > "$PREFIX/package.json" <<EOF
{
  "name": "saliency-lens-vscode-test",
  "private": true,
  "allowScripts": { "code-server@$CODE_SERVER_VERSION": true, "argon2": true }
}
EOF

# npm >= 11.x warns about dependency install scripts not covered by allowScripts; a user config with
# strict-allow-scripts=true would turn that into a hard error for the nested installs, so force it off here.
# unsafe_perm: code-server's postinstall.sh refuses to run as root without it.
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_strict_allow_scripts=false
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# Native modules compile here (build-essential): never try the prebuilt downloads from GitHub (argon2 would).
export npm_config_build_from_source=true
npm install --prefix "$PREFIX" --foreground-scripts --no-save "code-server@$CODE_SERVER_VERSION"

if ! installed_ok; then
  # Scripts were skipped (e.g. an npm that blocks them, or ignore-scripts=true): run code-server's postinstall
  # ourselves. It needs npm's user agent to pick npm and to pass its Node-version check.
  echo "code-server postinstall did not complete; running it explicitly"
  (cd "$CS_PKG" && npm_config_ignore_scripts=false \
    npm_config_user_agent="npm/$(npm -v) node/$(node -v) linux x64" sh ./postinstall.sh)
fi
installed_ok || { echo "code-server install is incomplete (see output above)" >&2; exit 1; }

# Smoke check: the server starts and answers /healthz.
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
check=$(mktemp -d)
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$port" > "$check/config.yaml"
"$PREFIX/node_modules/.bin/code-server" --config "$check/config.yaml" --user-data-dir "$check/ud" \
  --extensions-dir "$check/ext" --disable-telemetry --disable-update-check --disable-workspace-trust "$check" \
  > "$check/log" 2>&1 &
pid=$!
ok=""
for _ in $(seq 1 150); do
  if curl -sf "http://127.0.0.1:$port/healthz" > /dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ -z "$ok" ]; then cat "$check/log" >&2; rm -rf "$check"; echo "code-server did not start" >&2; exit 1; fi
rm -rf "$check"
echo "code-server $CODE_SERVER_VERSION installed in $PREFIX in $(( $(date +%s) - start ))s; /healthz answered"
