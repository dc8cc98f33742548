//! A command's report on stdout. Writes return `io::Result` instead of panicking like
//! `println!`, so a reader that goes away (`mesa demo | head -1`) ends the command quietly:
//! the broken pipe travels up with `?` (cleaning up on the way) and `main` exits with 0.

/// `println!` that returns the write's `io::Result`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

/// `print!` that returns the write's `io::Result`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)
    }};
}

/// True when `error` comes from writing to a pipe whose reader has gone.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `1 event`, `2 events`: a count with its noun, plural only when it is not one.
pub fn count(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_read_like_english() {
        assert_eq!(super::count(1, "event"), "1 event");
        assert_eq!(super::count(0, "event"), "0 events");
        assert_eq!(super::count(4, "attempt"), "4 attempts");
    }
}
