//! A bounded cargo-fuzz run of `fuzz/` (the YAML edit + k3s merge target) as part of the
//! test suite — only where cargo-fuzz and a nightly toolchain are installed; CI does not
//! install them, and this test then says so and passes. `AIO_PREP_FUZZ_SECS` sets the
//! time (default 60; 0 skips). Longer runs by hand:
//! `cd fuzz && cargo +nightly fuzz run edit_merge corpus/edit_merge seeds/edit_merge -- -max_total_time=3600`.

use std::process::Command;

#[test]
fn edit_merge_fuzz_target_bounded_run() {
    let secs: u64 = std::env::var("AIO_PREP_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    if secs == 0 {
        eprintln!("fuzz: skipped (AIO_PREP_FUZZ_SECS=0)");
        return;
    }
    let fuzz_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");
    let cargo = || {
        let mut c = Command::new("cargo");
        c.current_dir(fuzz_dir);
        // What `cargo test` sets for this test (the stable cargo in `CARGO`, the toolchain,
        // the library path) must not leak into the nightly build, or it rebuilds every time.
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO")
                || k.starts_with("RUSTUP_TOOLCHAIN")
                || matches!(
                    k.as_str(),
                    "RUSTFLAGS" | "RUSTC" | "RUST_RECURSION_COUNT" | "LD_LIBRARY_PATH"
                )
            {
                c.env_remove(k);
            }
        }
        c.env("RUSTUP_AUTO_INSTALL", "0");
        c
    };
    // Look before running anything that could make rustup download a toolchain.
    let cargo_fuzz_on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("cargo-fuzz").is_file()));
    let nightly = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        });
    if !(cargo_fuzz_on_path && nightly) {
        eprintln!("fuzz: skipped (cargo-fuzz or the nightly toolchain is not installed)");
        return;
    }
    std::fs::create_dir_all(format!("{fuzz_dir}/corpus/edit_merge")).expect("corpus dir");
    let out = cargo()
        .args([
            "+nightly",
            "fuzz",
            "run",
            "edit_merge",
            "corpus/edit_merge",
            "seeds/edit_merge",
            "--",
            &format!("-max_total_time={secs}"),
            "-print_final_stats=1",
        ])
        .output()
        .expect("cargo fuzz run");
    let log = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = log
        .lines()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if let Some(line) = log
        .lines()
        .find(|l| l.starts_with("stat::number_of_executed_units"))
    {
        eprintln!("fuzz: {line} in {secs} s");
    }
    assert!(
        out.status.success(),
        "cargo fuzz found a failure (artifact in fuzz/artifacts/edit_merge):\n{}",
        tail.join("\n")
    );
}
