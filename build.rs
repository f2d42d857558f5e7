//! Build script of the root package.
//!
//! Natively it does nothing. For `wasm32-unknown-emscripten` (feature
//! `browser`, which scripts/build-wasm turns on) it generates Rust bindings
//! for `ffi/netvm_ffi.h` with bindgen against emscripten's system headers,
//! compiles the C shims in `ffi/` with emcc, and links the JS libraries in `js-lib/`.
//! bindgen and cc are optional build-dependencies so native builds, which
//! every test run does, do not compile them.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("emscripten") {
        return;
    }
    #[cfg(feature = "browser")]
    browser::build();
    #[cfg(not(feature = "browser"))]
    panic!("the emscripten build needs `--features browser` (scripts/build-wasm sets it)");
}

#[cfg(feature = "browser")]
mod browser {
    use std::env;
    use std::path::PathBuf;
    use std::process::Command;

    /// Functions of emscripten's API the Rust side calls; everything else in
    /// its headers stays out of the bindings.
    const EMSCRIPTEN_FUNCTIONS: &[&str] = &[
        "emscripten_date_now",
        "emscripten_get_now",
        "emscripten_is_main_browser_thread",
        "emscripten_num_logical_cores",
        "emscripten_run_script_int",
        "emscripten_thread_sleep",
    ];

    pub fn build() {
        let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
        let ffi = root.join("ffi");
        for f in ["netvm_ffi.h", "shims.c", "mod.rs"] {
            println!("cargo:rerun-if-changed={}", ffi.join(f).display());
        }
        let js_libs = [root.join("js-lib/netvm.js"), root.join("js-lib/netvm-tty.js")];
        for lib in &js_libs {
            println!("cargo:rerun-if-changed={}", lib.display());
        }

        // Code built for shared memory (pthreads) must all agree on it.
        let threads = env::var("CARGO_CFG_TARGET_FEATURE").map(|f| f.split(',').any(|x| x == "atomics")).unwrap_or(false);
        let clang_args = emcc_clang_args(threads);

        let bindings = bindgen::Builder::default()
            .header(ffi.join("netvm_ffi.h").to_string_lossy())
            .clang_args(&clang_args)
            .allowlist_function("netvm_ffi_.*")
            .allowlist_function(EMSCRIPTEN_FUNCTIONS.join("|"))
            .generate()
            .unwrap_or_else(|e| panic!("bindgen over ffi/netvm_ffi.h failed ({e}); clang args: {clang_args:?}"));
        let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("netvm_ffi.rs");
        bindings.write_to_file(&out).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));

        let mut shims = cc::Build::new();
        shims.file(ffi.join("shims.c")).include(&ffi).warnings(true).extra_warnings(true);
        if threads {
            shims.flag("-pthread");
        }
        // cc would link the archive into the library target only; the
        // binaries and examples that call the shims need it on their own link
        // line, and an archive there only contributes what is referenced.
        shims.cargo_metadata(false).compile("netvm_ffi");
        let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        println!("cargo:rustc-link-arg={}", out_dir.join("libnetvm_ffi.a").display());

        for lib in &js_libs {
            println!("cargo:rustc-link-arg=--js-library={}", lib.display());
        }
    }

    /// The flags emcc itself gives clang (`emcc --cflags`): target, sysroot
    /// (where Debian's emscripten keeps libc and emscripten.h), defines and
    /// include paths. Backend-only options (`-mllvm ...`) mean nothing to
    /// bindgen's parse and are dropped.
    fn emcc_clang_args(threads: bool) -> Vec<String> {
        let emcc = env::var("EMCC").unwrap_or_else(|_| "emcc".to_string());
        let mut cmd = Command::new(&emcc);
        cmd.arg("--cflags");
        if threads {
            cmd.arg("-pthread");
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run `{emcc} --cflags` (is emscripten installed?): {e}"));
        assert!(out.status.success(), "`{emcc} --cflags` failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).expect("emcc prints ASCII flags");
        let mut args = Vec::new();
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            match w {
                "-target" | "-Xclang" => {
                    if let Some(v) = words.next() {
                        args.push(w.to_string());
                        args.push(v.to_string());
                    }
                }
                "-mllvm" => {
                    words.next();
                }
                // clang's wasm targets default to hidden visibility, and
                // bindgen skips hidden declarations.
                w if w.starts_with("-D")
                    || w.starts_with("--sysroot=")
                    || w.starts_with("-I")
                    || w == "-pthread"
                    || w == "-fvisibility=default" =>
                {
                    args.push(w.to_string())
                }
                _ => {}
            }
        }
        args
    }
}
