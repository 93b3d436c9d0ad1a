//! The configuration loader on arbitrary files: the input is split at NUL bytes into the
//! main file and up to three `conf.d/*.toml` files. `load_with` must answer Ok or Err,
//! never panic; a refusal names at least one error, and every problem has a reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sharebridge::config::{LoadOptions, Severity, load_with};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let Some(main_text) = parts.next() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("sharebridge.toml");
    std::fs::write(&main, main_text).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "s3cret").unwrap();
    let conf_d = dir.path().join("conf.d");
    for (i, part) in parts.take(3).enumerate() {
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join(format!("{i:02}.toml")), part).unwrap();
    }
    match load_with(&main, &LoadOptions::default()) {
        Ok(loaded) => {
            assert!(!loaded.config.accounts.is_empty());
            for w in &loaded.warnings {
                assert_eq!(w.severity, Severity::Warning);
                assert!(!w.reason.trim().is_empty(), "{w:?}");
            }
        }
        Err(e) => {
            assert!(
                e.problems.iter().any(|p| p.severity == Severity::Error),
                "refused without an error: {:?}",
                e.problems
            );
            for p in &e.problems {
                assert!(!p.reason.trim().is_empty(), "{p:?}");
            }
            let _ = e.to_string();
        }
    }
});
