//! The CLI's standard output when its reader goes away (`| head`, `| grep -q`).
//!
//! Rust ignores SIGPIPE, so `println!` on a closed pipe panics. That is the reader's
//! choice, not a failure of the command: the command ends quietly with 128 + SIGPIPE, as
//! a C tool the signal ends would. Owns nothing else; not installed for the daemon, whose
//! output goes to the journal.

/// 128 + SIGPIPE.
pub const CLOSED_OUTPUT: i32 = 141;

/// Whether a panic's message is `println!` failing on a closed pipe (EPIPE). Pure.
fn is_closed_stdout(message: &str) -> bool {
    message.starts_with("failed printing to stdout") && message.contains("os error 32")
}

/// Ends the process with [`CLOSED_OUTPUT`], printing nothing, when it panics for a
/// closed standard output; any other panic is reported as before.
pub fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_closed_stdout(message) {
            std::process::exit(CLOSED_OUTPUT);
        }
        report(info)
    }));
}

#[cfg(test)]
mod tests {
    use super::is_closed_stdout;

    #[test]
    fn only_a_closed_pipe_is_quiet() {
        assert!(is_closed_stdout(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_stdout(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_closed_stdout("index out of bounds: os error 32"));
        assert!(!is_closed_stdout(""));
    }
}
