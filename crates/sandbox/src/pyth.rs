//! Pyth accounts as the oracle programs write them: legacy price accounts (pyth-sdk-solana's
//! layout) and pull-oracle `PriceUpdateV2` accounts.
use anchor_lang::prelude::Pubkey;
use anchor_lang::AccountSerialize;
use pyth_sdk_solana::state::{AccountType, PriceStatus, SolanaPriceAccount, MAGIC, VERSION_2};
use pyth_solana_receiver_sdk::price_update::{PriceFeedMessage, PriceUpdateV2, VerificationLevel};
use solana_clock::Clock;

/// A Pyth legacy price.
#[derive(Clone, Copy, Debug)]
pub struct LegacyPrice {
    pub price: i64,
    pub conf: u64,
    pub expo: i32,
    pub ema: i64,
    pub status: PriceStatus,
    pub publish_time: i64,
    pub slot: u64,
}

impl LegacyPrice {
    /// Trading at `price` (expo -8) with no confidence interval, published at `clock`.
    pub fn fresh(price: i64, clock: &Clock) -> Self {
        Self {
            price,
            conf: 0,
            expo: -8,
            ema: price,
            status: PriceStatus::Trading,
            publish_time: clock.unix_timestamp,
            slot: clock.slot,
        }
    }

    /// The account's bytes.
    pub fn account_data(&self) -> Vec<u8> {
        let mut account: SolanaPriceAccount = bytemuck::Zeroable::zeroed();
        account.magic = MAGIC;
        account.ver = VERSION_2;
        account.atype = AccountType::Price as u32;
        account.size = std::mem::size_of::<SolanaPriceAccount>() as u32;
        account.expo = self.expo;
        account.timestamp = self.publish_time;
        account.ema_price.val = self.ema;
        account.agg.price = self.price;
        account.agg.conf = self.conf;
        account.agg.status = self.status;
        account.agg.pub_slot = self.slot;
        bytemuck::bytes_of(&account).to_vec()
    }
}

/// A pull-oracle update.
#[derive(Clone, Copy, Debug)]
pub struct PullPrice {
    pub feed_id: [u8; 32],
    pub price: i64,
    pub conf: u64,
    pub expo: i32,
    pub ema: i64,
    pub publish_time: i64,
    pub slot: u64,
    pub fully_verified: bool,
}

impl PullPrice {
    /// Fully verified at `price` (expo -8), no confidence interval, published at `clock`.
    pub fn fresh(feed_id: [u8; 32], price: i64, clock: &Clock) -> Self {
        Self {
            feed_id,
            price,
            conf: 0,
            expo: -8,
            ema: price,
            publish_time: clock.unix_timestamp,
            slot: clock.slot,
            fully_verified: true,
        }
    }

    /// The account's bytes (Anchor discriminator and Borsh body).
    pub fn account_data(&self) -> Vec<u8> {
        let update = PriceUpdateV2 {
            write_authority: Pubkey::new_from_array([9; 32]),
            verification_level: if self.fully_verified {
                VerificationLevel::Full
            } else {
                VerificationLevel::Partial { num_signatures: 5 }
            },
            price_message: PriceFeedMessage {
                feed_id: self.feed_id,
                price: self.price,
                conf: self.conf,
                exponent: self.expo,
                publish_time: self.publish_time,
                prev_publish_time: self.publish_time - 1,
                ema_price: self.ema,
                ema_conf: self.conf,
            },
            posted_slot: self.slot,
        };
        let mut data = Vec::new();
        // Serializing into a Vec cannot fail.
        let _ = update.try_serialize(&mut data);
        data
    }
}
