//! Standard output for what a command prints. When its reader has gone (`pull-agent render … |
//! head`, `hub-index clusters | head`), the process ends at once, quietly and with 0, as a
//! program ended by SIGPIPE does without a word: nothing it would print can reach anyone.
//!
//! One file for both binaries: `pull-agent`'s `main.rs` and `hub-index`'s include it as a
//! module (`#[path]`), since they share no crate that may do IO.

pub struct Stdout(std::io::StdoutLock<'static>);

impl Stdout {
    pub fn lock() -> Stdout {
        Stdout(std::io::stdout().lock())
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        end_if_closed(self.0.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        end_if_closed(self.0.flush())
    }
}

fn end_if_closed<T>(result: std::io::Result<T>) -> std::io::Result<T> {
    if result.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
        std::process::exit(0);
    }
    result
}
