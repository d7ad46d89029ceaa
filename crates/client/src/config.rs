//! Where a command-line user's cluster and wallet come from: flags first, then the Solana CLI
//! config file (~/.config/solana/cli/config.yml), then its defaults.
use std::path::{Path, PathBuf};

use solana_keypair::Keypair;

use crate::error::{ClientError, ClientResult};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8899";

/// The Solana CLI's `json_rpc_url` and `keypair_path`, when its config file sets them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CliConfig {
    pub json_rpc_url: Option<String>,
    pub keypair_path: Option<String>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

impl CliConfig {
    /// Reads `path` (or the default location); a missing file gives the defaults.
    pub fn load(path: Option<&Path>) -> ClientResult<Self> {
        let path = path.map_or_else(
            || home().join(".config/solana/cli/config.yml"),
            Path::to_path_buf,
        );
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(ClientError::Input(format!("{}: {error}", path.display()))),
        }
    }

    /// The two keys this tool uses, from the file's `key: value` lines.
    pub fn parse(text: &str) -> Self {
        let value = |key: &str| {
            text.lines()
                .filter_map(|line| line.trim().strip_prefix(key))
                .filter_map(|rest| rest.trim_start().strip_prefix(':'))
                .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
                .find(|v| !v.is_empty())
        };
        Self {
            json_rpc_url: value("json_rpc_url"),
            keypair_path: value("keypair_path"),
        }
    }

    pub fn url(&self, flag: Option<&str>) -> String {
        flag.map(str::to_string)
            .or_else(|| self.json_rpc_url.clone())
            .unwrap_or_else(|| DEFAULT_URL.to_string())
    }

    pub fn keypair_path(&self, flag: Option<&str>) -> PathBuf {
        flag.map(PathBuf::from)
            .or_else(|| self.keypair_path.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| home().join(".config/solana/id.json"))
    }
}

/// A keypair file as the Solana CLI writes it (a JSON array of 64 bytes).
pub fn read_keypair(path: &Path) -> ClientResult<Keypair> {
    solana_keypair::read_keypair_file(path)
        .map_err(|e| ClientError::Input(format!("cannot read keypair {}: {e}", path.display())))
}

/// `--name value` options and bare words, in order; `--flag` without a value is "true".
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub words: Vec<String>,
    pub options: Vec<(String, String)>,
}

impl Args {
    /// Options named in `flags` take no value.
    pub fn parse(args: impl IntoIterator<Item = String>, flags: &[&str]) -> ClientResult<Self> {
        let mut out = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.strip_prefix("--") {
                Some(name) if flags.contains(&name) => {
                    out.options.push((name.to_string(), "true".to_string()))
                }
                Some(name) => {
                    let (name, value) = match name.split_once('=') {
                        Some((n, v)) => (n.to_string(), v.to_string()),
                        None => (
                            name.to_string(),
                            args.next().ok_or_else(|| {
                                ClientError::Input(format!("--{name} needs a value"))
                            })?,
                        ),
                    };
                    out.options.push((name, value));
                }
                None => out.words.push(arg),
            }
        }
        Ok(out)
    }

    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.option(name).is_some()
    }

    /// Option `name` parsed, or `default` when absent.
    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> ClientResult<T> {
        match self.option(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| ClientError::Input(format!("--{name}: not a number: {v}"))),
        }
    }

    /// Refuses options not in `known`.
    pub fn only(&self, known: &[&str]) -> ClientResult<()> {
        match self
            .options
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            Some((name, _)) => Err(ClientError::Input(format!("unknown option --{name}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_solana_cli_config_keys() {
        let text = "---\njson_rpc_url: \"https://api.devnet.solana.com\"\nwebsocket_url: ''\nkeypair_path: /home/me/.config/solana/id.json\ncommitment: confirmed\n";
        let config = CliConfig::parse(text);
        assert_eq!(config.url(None), "https://api.devnet.solana.com");
        assert_eq!(config.url(Some("http://x")), "http://x");
        assert_eq!(
            config.keypair_path(None),
            PathBuf::from("/home/me/.config/solana/id.json")
        );
        assert_eq!(CliConfig::parse("").url(None), DEFAULT_URL);
    }

    #[test]
    fn parses_options_flags_and_words() {
        let args = ["show", "--url", "http://a", "--output=json", "--once", "x"].map(String::from);
        let args = Args::parse(args, &["once"]).unwrap();
        assert_eq!(args.words, ["show", "x"]);
        assert_eq!(args.option("url"), Some("http://a"));
        assert_eq!(args.option("output"), Some("json"));
        assert!(args.flag("once"));
        assert!(args.only(&["url", "output", "once"]).is_ok());
        assert!(args.only(&["url"]).is_err());
        assert!(Args::parse(["--url".to_string()], &[]).is_err());
        assert!(args.number::<u64>("url", 0).is_err());
    }

    #[test]
    fn a_malformed_keypair_file_is_a_one_line_error() {
        let path =
            std::env::temp_dir().join(format!("xmargin-bad-key-{}.json", std::process::id()));
        std::fs::write(&path, "[1, 2, 3]").unwrap();
        let error = read_keypair(&path).unwrap_err().to_string();
        assert!(error.starts_with("cannot read keypair"), "{error}");
        assert!(!error.contains('\n'));
        std::fs::remove_file(&path).unwrap();
    }
}
