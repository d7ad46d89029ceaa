//! One keeper scan-and-evaluate pass over 10,000 margin accounts decoded from account bytes:
//! real accounts from the sandbox exchange (a hedged options book, leveraged perps, a market
//! maker), replicated with varied sizes to 10,000 raw accounts.
use criterion::{criterion_group, criterion_main, Criterion};
use solana_account::Account;
use xmargin::state::MarginAccount;
use xmargin_keeper::scan::{decode, evaluate};
use xmargin_sandbox::exchange::{Exchange, AT_MARK, BTC, ETH, SOL};
use xmargin_sandbox::params::USDC;

const ACCOUNTS: usize = 10_000;

fn setup() -> (
    xmargin_client::Protocol,
    Vec<(anchor_lang::prelude::Pubkey, Account)>,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let e = Exchange::open().await.unwrap();
        let maker = e.trader("maker", &[(0, 50_000_000 * USDC)]).await.unwrap();
        let hedged = e
            .trader("hedged", &[(0, 80_000 * USDC), (1, 100 * 1_000_000_000)])
            .await
            .unwrap();
        let levered = e.trader("levered", &[(0, 20_000 * USDC)]).await.unwrap();
        let book = [
            (SOL, 0, 200, 150 * USDC),
            (SOL, 4, 200, AT_MARK),
            (SOL, 3, -200, AT_MARK),
            (ETH, 5, 100, AT_MARK),
            (ETH, 4, -100, AT_MARK),
            (ETH, 2, -100, AT_MARK),
            (ETH, 3, 100, AT_MARK),
            (BTC, 0, 30, 1_000 * USDC),
            (ETH, 0, -100, 300 * USDC),
            (BTC, 1, -10, 1_000 * USDC),
        ];
        e.trades((&hedged, &maker), &book).await.unwrap();
        e.trades((&levered, &maker), &[(SOL, 0, 100, 150 * USDC)])
            .await
            .unwrap();
        let protocol = e.protocol().await.unwrap();
        let mut templates = Vec::new();
        for t in [&hedged, &levered, &maker] {
            templates.push(e.margin_account(&t.account).await.unwrap());
        }
        let raw = e.sandbox.chain_account(&hedged.account).await;
        let mut found = Vec::with_capacity(ACCOUNTS);
        for i in 0..ACCOUNTS {
            let mut account: MarginAccount = templates[i % templates.len()];
            let scale = 1 + (i % 5) as i64;
            for slot in account.positions.iter_mut().filter(|p| p.in_use != 0) {
                slot.size *= scale;
                slot.cost_basis *= scale;
            }
            account.collateral[0].amount *= scale;
            let mut data = raw.data.clone();
            data[8..].copy_from_slice(bytemuck::bytes_of(&account));
            found.push((
                anchor_lang::prelude::Pubkey::new_unique(),
                Account {
                    data,
                    ..raw.clone()
                },
            ));
        }
        (protocol, found)
    })
}

fn scan(c: &mut Criterion) {
    let (protocol, found) = setup();
    let mut group = c.benchmark_group("keeper");
    group.sample_size(10);
    group.bench_function("decode and evaluate 10,000 accounts", |b| {
        b.iter(|| {
            let accounts = decode(&found);
            let verdicts = evaluate(&protocol, &accounts);
            assert_eq!(verdicts.len(), ACCOUNTS);
            verdicts
        })
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
