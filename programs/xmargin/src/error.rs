use anchor_lang::prelude::*;

#[error_code]
pub enum XmarginError {
    #[msg("fee or liquidation parameter out of its allowed range")]
    InvalidParameter,
    #[msg("risk authority must differ from the default pubkey")]
    InvalidAuthority,
}
