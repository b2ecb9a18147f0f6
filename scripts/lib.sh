# Shared setup for Caucus scripts (sourced, not run). Installs what a fresh Debian machine lacks.

# Swift lives in /opt/swift on our machines; make sure it is on PATH.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

# ensure_packages PKG...: installs the Debian packages that are missing (apt-get update once).
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The system libraries every Caucus build needs.
ensure_build_dependencies() {
    ensure_packages libsodium-dev libsqlite3-dev pkg-config
    command -v swift >/dev/null 2>&1 || { echo "error: swift not found (expected in /opt/swift)" >&2; exit 1; }
}
