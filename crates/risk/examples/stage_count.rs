use std::hint::black_box;
use xmargin_risk::portfolio::{finish, Book};
use xmargin_risk::Market;
use xmargin_risk_reference::fixtures::{
    eight_underlyings, standard_params, worst_case_account, NOW,
};

fn main() {
    let stage = std::env::args().nth(1).unwrap_or_default();
    let underlyings = eight_underlyings();
    let market = Market::new(&underlyings, standard_params(), NOW).unwrap();
    let (collateral, positions) = worst_case_account(&underlyings);
    let priced = market.price_positions(&positions).unwrap();
    let mut book = Book::new(market.underlyings.len());
    for p in &priced {
        book.add(&market, p).unwrap();
    }
    let results = book.results(&market).unwrap();
    let nl: Vec<_> = book
        .exposures()
        .map(|(i, e)| xmargin_risk::grid::NodeLosses {
            group: market.underlyings[i].correlation_group,
            spans: market.spans[i],
            worst: e.node_losses(&market.grids[i]).unwrap().0,
            floor: 0i64,
        })
        .collect();
    let reps: usize = std::env::var("N")
        .map(|v| v.parse().unwrap())
        .unwrap_or(1000);
    for _ in 0..reps {
        match stage.as_str() {
            "book" => {
                book.clear();
                for p in black_box(&priced) {
                    book.add(&market, p).unwrap();
                }
                black_box(&book);
            }
            "nodes" => {
                for (i, e) in black_box(&book).exposures() {
                    black_box(e.node_losses(&market.grids[i]).unwrap());
                }
            }
            "levels" => {
                for m in black_box(&nl) {
                    black_box(m.levels());
                }
            }
            "ures" => {
                for (i, e) in black_box(&book).exposures() {
                    black_box(xmargin_risk::portfolio::underlying_result(&market, i, e).unwrap());
                }
            }
            "totals" => {
                black_box(
                    xmargin_risk::portfolio::margin_totals(
                        &market,
                        black_box(&results).iter().flatten(),
                        book.unrealized,
                        black_box(&collateral),
                    )
                    .unwrap(),
                );
            }
            "results" => {
                black_box(black_box(&book).results(&market).unwrap());
            }
            "finish" => {
                black_box(
                    finish(
                        &market,
                        black_box(&results),
                        book.unrealized,
                        black_box(&collateral),
                    )
                    .unwrap(),
                );
            }
            "all" => {
                black_box(
                    xmargin_risk::portfolio::margin_priced(
                        &market,
                        black_box(&collateral),
                        black_box(&priced),
                    )
                    .unwrap(),
                );
            }
            _ => {}
        }
    }
}
