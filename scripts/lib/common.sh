# Shared shell helpers for netvm's scripts. Source it; do not run it.

# Messages go to stderr so that a script's stdout stays machine-readable
# (build-guest prints only its output directory there).
say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# The repository root, whichever directory the script is called from.
repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }

# Where expensive artifacts (the guest kernel, toolchains) are cached: outside
# the clone, so a fresh clone in CI reuses them; keyed by their inputs.
cache_root() {
  local dir=${NETVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netvm}
  mkdir -p "$dir" || die "cannot create cache directory $dir"
  printf '%s\n' "$dir"
}

# Installs the Debian packages named in the given deps files (one per line,
# '#' comments allowed) that are not installed yet. Runs apt-get update at most
# once per call, and only when something is missing.
apt_install_from() {
  local missing=() pkg f
  for f in "$@"; do
    [ -f "$f" ] || die "package list $f does not exist"
    while read -r pkg; do
      pkg=${pkg%%#*}; pkg=${pkg//[[:space:]]/}
      [ -n "$pkg" ] || continue
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done < "$f"
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install failed for: ${missing[*]}"
}

# Fails with a clear message when a command the script needs is missing.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found${2:+: $2}"
}
