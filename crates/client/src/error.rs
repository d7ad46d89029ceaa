//! One error type for everything the SDK does, each with a one-line description.
use core::fmt;

#[derive(Debug)]
pub enum ClientError {
    /// The RPC node or the in-process bank could not be reached or answered with an error.
    Transport(String),
    /// No account at this address.
    AccountNotFound(String),
    /// The account exists but is not what was expected (owner, size, discriminator).
    WrongAccount(String),
    /// The program refused the transaction: its error name, code and message when it logged one.
    Program {
        code: Option<u32>,
        message: String,
        logs: Vec<String>,
    },
    /// The off-chain margin check refused (same errors the program would return).
    Risk(String),
    /// Bad input from the caller.
    Input(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(m) => write!(f, "transport: {m}"),
            Self::AccountNotFound(m) => write!(f, "account not found: {m}"),
            Self::WrongAccount(m) => write!(f, "wrong account: {m}"),
            Self::Program { message, .. } => write!(f, "program refused: {message}"),
            Self::Risk(m) => write!(f, "margin check: {m}"),
            Self::Input(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// From a refusal's logs: Anchor logs "AnchorError ... Error Code: Name. Error Number: N.
    /// Error Message: text." for every `require!`.
    pub fn from_logs(code: Option<u32>, fallback: String, logs: Vec<String>) -> Self {
        let message = logs
            .iter()
            .find_map(|line| line.split_once("AnchorError").map(|(_, rest)| rest))
            .and_then(|rest| rest.split_once("Error Code: "))
            .map(|(_, rest)| {
                let name = rest.split('.').next().unwrap_or(rest);
                let text = rest
                    .split_once("Error Message: ")
                    .map(|(_, m)| m.trim_end_matches('.'))
                    .unwrap_or("");
                match code {
                    Some(code) => format!("{name} ({code}): {text}"),
                    None => format!("{name}: {text}"),
                }
            })
            .unwrap_or(fallback);
        Self::Program {
            code,
            message,
            logs,
        }
    }
}

impl From<anchor_lang::error::Error> for ClientError {
    fn from(error: anchor_lang::error::Error) -> Self {
        match error {
            anchor_lang::error::Error::AnchorError(e) => Self::Risk(format!(
                "{} ({}): {}",
                e.error_name, e.error_code_number, e.error_msg
            )),
            other => Self::Risk(other.to_string()),
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;
