//! The demo's own output channel. The runtime runs the program in this process, and natively
//! its `msg!` lines go to standard output; the demo moves fd 1 to /dev/null while it runs and
//! writes its tables to a duplicate of the real standard output.
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Mutex;

static OUT: Mutex<Option<File>> = Mutex::new(None);

/// Writes one line to the demo's output (standard output when not redirected).
pub fn say(line: &str) {
    let mut out = OUT.lock().unwrap_or_else(|e| e.into_inner());
    match out.as_mut() {
        Some(file) => {
            let _ = writeln!(file, "{line}");
        }
        None => println!("{line}"),
    }
}

#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::console::say(&format!($($arg)*)) };
}

/// While alive, the program's log lines are discarded and `say` reaches the terminal.
pub struct Quiet {
    saved: i32,
}

impl Quiet {
    pub fn start() -> Option<Self> {
        let _ = std::io::stdout().flush();
        let null = File::options().write(true).open("/dev/null").ok()?;
        // SAFETY: plain descriptor duplication; `saved` is owned by the File below.
        let saved = unsafe { libc::dup(1) };
        if saved < 0 {
            return None;
        }
        // SAFETY: `saved` is a fresh descriptor we own.
        let real = unsafe { File::from_raw_fd(libc::dup(saved)) };
        // SAFETY: redirects fd 1; restored in `drop`.
        if unsafe { libc::dup2(null.as_raw_fd(), 1) } < 0 {
            return None;
        }
        *OUT.lock().unwrap_or_else(|e| e.into_inner()) = Some(real);
        Some(Self { saved })
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        *OUT.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // SAFETY: puts the original standard output back and closes our copy.
        unsafe {
            libc::dup2(self.saved, 1);
            libc::close(self.saved);
        }
    }
}
