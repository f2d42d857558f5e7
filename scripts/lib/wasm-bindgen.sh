# Helpers for crates built for wasm32-unknown-unknown and bound to JS with
# wasm-bindgen (netvm-stack and its test client). Source after common.sh.
# Toolchain: Debian's rustc-web with build-std (shared/TOOLCHAIN.md,
# scripts/deps/apt-proxy.txt); target dir shared with 22-net-proxy-wasm and
# 51-proxy-wasm-build, so the proxy's dependencies are built once.

# Installs the toolchain packages and a wasm-bindgen CLI of exactly the
# version of the wasm-bindgen crate in Cargo.lock (the CLI refuses others).
wasm_bindgen_setup() {
  local root=$1 version
  apt_install_from "$root/scripts/deps/apt-proxy.txt"
  for cmd in /usr/bin/rustc /usr/bin/cargo wasm-ld-19 clang-19 llvm-ar-19; do
    need_cmd "$cmd" "see scripts/deps/apt-proxy.txt"
  done
  [ -d /usr/lib/rustlib/src/rust/library ] || die "rust-web-src is missing (no std source for build-std)"
  version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")
  [ -n "$version" ] || die "no wasm-bindgen in Cargo.lock"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $version\$"; then
    need_cmd cargo "install Rust (rustup) first: wasm-bindgen-cli is installed with cargo install"
    say "installing wasm-bindgen-cli $version"
    cargo install --quiet wasm-bindgen-cli --version "$version" >&2
  fi
  WASM_BINDGEN=$(command -v wasm-bindgen)
}

# Builds PACKAGE (a cdylib) for wasm32-unknown-unknown and writes its
# wasm-bindgen output for ES module imports (--target web) to OUT_DIR.
wasm_bindgen_build() {
  local root=$1 package=$2 out_dir=$3 lib=${2//-/_}
  local target_dir="$root/target/wasm32-proxy"
  # -u RUSTFLAGS: build-wasm's emscripten flags (atomics, -sPROXY_TO_PTHREAD)
  # must not leak into this target when build-site calls build-stack.
  env -u RUSTFLAGS PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/bin/wasm-ld-19 \
    CC_wasm32_unknown_unknown=clang-19 AR_wasm32_unknown_unknown=llvm-ar-19 \
    CARGO_TARGET_DIR="$target_dir" \
    /usr/bin/cargo build --locked --release -p "$package" --lib \
      --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort >&2
  local wasm="$target_dir/wasm32-unknown-unknown/release/$lib.wasm"
  [ -s "$wasm" ] || die "no $wasm after the build"
  mkdir -p "$out_dir"
  "$WASM_BINDGEN" --target web --no-typescript --out-dir "$out_dir" "$wasm"
}

# npm packages for building and testing (scripts/web/package.json) in
# target/web/node_modules, installed again only when the list changed.
web_node_modules() {
  local root=$1 web="$1/target/web"
  need_cmd npm "see scripts/deps/apt-wasm.txt"
  mkdir -p "$web"
  cp "$root/scripts/web/package.json" "$web/package.json"
  if [ ! -f "$web/node_modules/.netvm-stamp" ] || ! cmp -s "$web/package.json" "$web/node_modules/.netvm-stamp"; then
    say "npm install into target/web"
    (cd "$web" && npm install --no-audit --no-fund --loglevel=error >&2)
    cp "$web/package.json" "$web/node_modules/.netvm-stamp"
  fi
  printf '%s\n' "$web/node_modules"
}
