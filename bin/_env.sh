# Sourced by every bin/ command: finds the checkout and makes sure .venv is current.
# Installs only when .venv is missing or pyproject.toml changed since the last install.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

_extras_cover() {  # HAVE WANTED: is every extra of WANTED in HAVE?
    local want
    for want in ${2//,/ }; do
        case ",$1," in *",$want,"*) ;; *) return 1 ;; esac
    done
}

_extras_union() {  # A B: the extras of both, comma-separated
    local out="$1" want
    for want in ${2//,/ }; do
        _extras_cover "$out" "$want" || out="${out:+$out,}$want"
    done
    echo "$out"
}

ensure_venv() {
    local extras="${1:-}" stamp="$VENV/.installed" hash have_hash="" have_extras=""
    hash="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    if [ -x "$PY" ] && [ -f "$stamp" ]; then
        read -r have_hash have_extras < "$stamp" || true
        # An install with more extras also serves a run that needs fewer (extras are comma-separated).
        if [ "$have_hash" = "$hash" ] && _extras_cover "$have_extras" "$extras"; then
            return 0
        fi
        # Keep what is installed: bin/bench after bin/test must not take the test extras away.
        [ "$have_hash" = "$hash" ] && extras="$(_extras_union "$have_extras" "$extras")"
    fi
    if [ -e "$VENV" ] && [ ! -w "$VENV" ]; then
        # Under the systemd units the checkout is read-only: the installer refreshes .venv instead.
        echo "$VENV is out of date with pyproject.toml and not writable here; after an upgrade run bin/install-systemd again" >&2
        exit 1
    fi
    echo "setting up $VENV (first run, or pyproject.toml changed)..." >&2
    if [ ! -x "$PY" ]; then
        python3 -m venv "$VENV" || { echo "python3 -m venv failed: Python >= 3.11 with venv is needed" >&2; exit 1; }
    fi
    "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT${extras:+[$extras]}" >&2 || exit 1
    echo "$hash $extras" > "$stamp"
}
