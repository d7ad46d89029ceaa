//! `cargo run -p xmargin-idl [-- --check]`: builds the program's IDL with Anchor's own builder
//! (the program compiled with `idl-build`, its `__anchor_private_print_idl` tests printing the
//! pieces) and writes it to `app/sdk/src/idl/xmargin.json`, or with `--check` exits non-zero when
//! the committed file differs from what the program now produces.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anchor_lang_idl::build::IdlBuilder;

const IDL_PATH: &str = "app/sdk/src/idl/xmargin.json";

/// The workspace the tool runs in (`scripts/idl.sh` runs it from the root), not the one it was
/// compiled in: clones sharing a cargo target dir share the uplifted `target/debug/xmargin-idl`,
/// so a path fixed at compile time may name another clone.
fn workspace_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|dir| dir.join("programs/xmargin/Cargo.toml").is_file())
        .map_or(cwd.clone(), Path::to_path_buf)
}

fn generate(root: &Path) -> Result<String, String> {
    // rustup exports RUSTUP_TOOLCHAIN to the processes it starts; the builder would then call
    // `cargo +{toolchain}` with the placeholder unexpanded (anchor-lang-idl 0.1.4) and fail.
    // The toolchain is already chosen by the process running this tool.
    std::env::remove_var("RUSTUP_TOOLCHAIN");
    let idl = IdlBuilder::new()
        .program_path(root.join("programs/xmargin"))
        .skip_lint(false)
        .build()
        .map_err(|e| format!("building the IDL failed: {e:#}"))?;
    let mut text =
        serde_json::to_string_pretty(&idl).map_err(|e| format!("serializing the IDL: {e}"))?;
    text.push('\n');
    Ok(text)
}

fn main() -> ExitCode {
    let check = std::env::args().skip(1).any(|a| a == "--check");
    let root = workspace_root();
    let path = root.join(IDL_PATH);
    let fresh = match generate(&root) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("xmargin-idl: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == fresh {
            println!("xmargin-idl: {IDL_PATH} is up to date");
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "xmargin-idl: {IDL_PATH} is out of date with the program; run `bash scripts/idl.sh`"
        );
        return ExitCode::FAILURE;
    }
    if let Some(dir) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("xmargin-idl: creating {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = std::fs::write(&path, fresh) {
        eprintln!("xmargin-idl: writing {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("xmargin-idl: wrote {IDL_PATH}");
    ExitCode::SUCCESS
}
