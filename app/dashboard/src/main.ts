// The dashboard: one margin account's figures, computed by the program's own margin check
// compiled to WebAssembly (the SDK's MarginPreview), from a snapshot of the accounts it reads:
// the bundled example (the demo's hedged book) offline, or any account through an RPC node.
import {
  type AccountPicture,
  type Address,
  type ClearTradeParams,
  type CollateralRegistry,
  type Market,
  type MarginAccount,
  MarginPreview,
  type ProtocolState,
  type Snapshot,
  clearTradeIxs,
  decodeCollateralRegistry,
  decodeMarginAccount,
  decodeMarket,
  depositIxs,
  describeInstruction,
  marketAddress,
  registryAddress,
  rpcCall,
  takeSnapshot,
  withdrawIxs,
} from "@xmargin/sdk";
import { address, getBase64Encoder, type Instruction } from "@solana/kit";
import { type Wallet, connectWallet, listWallets, sendWithWallet } from "./wallet";
import "./style.css";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface Loaded {
  snapshot: Snapshot;
  picture: AccountPicture;
  state: ProtocolState;
  account: MarginAccount;
  quoteDecimals: number;
  rpcUrl?: string;
}

let preview: MarginPreview;
let loaded: Loaded | undefined;
let wallet: Wallet | undefined;

// ---- formatting -----------------------------------------------------------------------------

function money(native: number, decimals: number): string {
  const value = native / 10 ** decimals;
  const text = Math.abs(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return `${value < 0 ? "-" : ""}$${text}`;
}

function amount(native: number, decimals: number): string {
  return (native / 10 ** decimals).toLocaleString("en-US", { maximumFractionDigits: Math.min(decimals, 6) });
}

const marketName = (l: Loaded, market: number) => l.snapshot.labels?.markets[market] ?? `market ${market}`;
const assetName = (l: Loaded, asset: number) => l.snapshot.labels?.assets[asset] ?? `asset ${asset}`;

function cell(tag: "td" | "th", text: string, attrs: Record<string, string | number> = {}): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = text;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function table(el: HTMLTableElement, head: string[], rows: HTMLElement[][]): void {
  el.replaceChildren();
  const tr = document.createElement("tr");
  head.forEach((h) => tr.append(cell("th", h)));
  el.append(tr);
  for (const row of rows) {
    const r = document.createElement("tr");
    r.append(...row);
    el.append(r);
  }
}

// ---- loading ----------------------------------------------------------------------------------

const base64 = getBase64Encoder();

async function open(snapshot: Snapshot, rpcUrl?: string): Promise<Loaded> {
  const data = new Map(snapshot.accounts.map((a) => [a.address, Uint8Array.from(base64.encode(a.data))]));
  const need = (key: string, what: string) => {
    const bytes = data.get(key);
    if (!bytes) throw new Error(`the snapshot has no ${what} (${key})`);
    return bytes;
  };
  const registry: CollateralRegistry = decodeCollateralRegistry(need(await registryAddress(), "collateral registry"));
  const markets: Market[] = [];
  for (let i = 0; data.has(await marketAddress(i)); i++) markets.push(decodeMarket(need(await marketAddress(i), "market")));
  const account = decodeMarginAccount(need(snapshot.margin_account, "margin account"));
  return {
    snapshot,
    picture: preview.picture(snapshot),
    state: { registry, markets },
    account,
    quoteDecimals: registry.assets[0].decimals,
    rpcUrl,
  };
}

// ---- rendering --------------------------------------------------------------------------------

function render(l: Loaded): void {
  const { summary } = l.picture;
  const d = l.quoteDecimals;
  const cards: [string, string, number, string][] = [
    ["equity", "Equity (maintenance haircuts + unrealized)", summary.equity, money(summary.equity, d)],
    ["collateral", "Collateral after haircuts", summary.collateral, money(summary.collateral, d)],
    ["unrealized", "Unrealized PnL", summary.unrealized_pnl, money(summary.unrealized_pnl, d)],
    ["initial", "Initial requirement", summary.initial, money(summary.initial, d)],
    ["maintenance", "Maintenance requirement", summary.maintenance, money(summary.maintenance, d)],
    ["free-collateral", "Free collateral", summary.free_collateral, money(summary.free_collateral, d)],
    ["maint-health", "Equity above maintenance", summary.maint_health, money(summary.maint_health, d)],
    [
      "distance",
      "Distance to liquidation",
      summary.distance_to_liquidation_bps,
      `${(summary.distance_to_liquidation_bps / 100).toFixed(2)}%`,
    ],
  ];
  $("cards").replaceChildren(
    ...cards.map(([id, label, value, text]) => {
      const card = document.createElement("div");
      card.className = "card";
      card.append(cell("th", label), cell("td", text, { "data-testid": id, "data-value": value }));
      return card;
    }),
  );

  const max = Math.max(summary.isolated, summary.maintenance, 1);
  const bar = (id: string, label: string, value: number) =>
    `<div class="bar-row"><span>${label}</span><div class="bar ${id}" style="width:${(100 * value) / max}%"></div>` +
    `<b data-testid="${id}" data-value="${value}">${money(value, d)}</b></div>`;
  const saving = summary.isolated > 0 ? 100 * (1 - summary.maintenance / summary.isolated) : 0;
  $("cross-vs-isolated").innerHTML =
    bar("cross", "cross (portfolio)", summary.maintenance) +
    bar("isolated", "isolated (leg by leg)", summary.isolated) +
    `<p>the portfolio needs ${saving.toFixed(1)}% less than margining each leg alone</p>`;

  table(
    $("collateral"),
    ["asset", "amount", "value", "after maintenance haircut", "after initial haircut"],
    l.picture.collateral.map((c) => {
      const decimals = l.state.registry.assets[c.asset]?.decimals ?? 0;
      return [
        cell("td", assetName(l, c.asset)),
        cell("td", amount(c.amount, decimals)),
        cell("td", money(c.value, d)),
        cell("td", money(c.maintenance_value, d), { "data-testid": `collateral-maint-${c.asset}`, "data-value": c.maintenance_value }),
        cell("td", money(c.initial_value, d), { "data-testid": `collateral-init-${c.asset}`, "data-value": c.initial_value }),
      ];
    }),
  );

  table(
    $("positions"),
    ["market", "series", "size", "value", "cost"],
    l.picture.positions.map((p) => {
      const what =
        p.kind === "call" || p.kind === "put"
          ? `${p.kind} ${money(p.strike, d)} ${new Date(p.expiry * 1000).toISOString().slice(0, 10)}`
          : p.kind === "future"
            ? `future ${new Date(p.expiry * 1000).toISOString().slice(0, 10)}`
            : "perpetual";
      return [
        cell("td", marketName(l, p.market)),
        cell("td", what),
        cell("td", String(p.size), { "data-testid": `position-size-${p.market}-${p.series}`, "data-value": p.size }),
        cell("td", money(p.value, d)),
        cell("td", money(p.cost_basis, d)),
      ];
    }),
  );

  renderHeatmaps(l);
}

function renderHeatmaps(l: Loaded): void {
  const d = l.quoteDecimals;
  const maps = l.picture.grids.map((grid) => {
    const worst = Math.max(1, ...grid.core.flat(), ...grid.extended);
    const color = (loss: number) => {
      const t = Math.max(-1, Math.min(1, loss / worst));
      return t >= 0 ? `rgba(220, 38, 38, ${0.12 + 0.88 * t})` : `rgba(22, 163, 74, ${0.12 + 0.6 * -t})`;
    };
    const wrap = document.createElement("div");
    wrap.className = "heatmap";
    const title = document.createElement("h3");
    title.textContent = marketName(l, grid.market);
    const t = document.createElement("table");
    t.setAttribute("data-testid", `heatmap-${grid.market}`);
    const head = document.createElement("tr");
    head.append(cell("th", "vol \\ move"));
    grid.moves_bps.slice(0, grid.core.length).forEach((m) => head.append(cell("th", `${m > 0 ? "+" : ""}${m / 100}%`)));
    head.append(cell("th", `ext ${grid.moves_bps[grid.core.length] / 100}%`), cell("th", `ext +${grid.moves_bps[grid.core.length + 1] / 100}%`));
    t.append(head);
    grid.vol_shocks.forEach((shock, s) => {
      const row = document.createElement("tr");
      row.append(cell("th", shock));
      grid.core.forEach((losses, node) => {
        const c = cell("td", money(losses[s], d), { "data-value": losses[s], "data-node": node, "data-shock": shock });
        c.style.background = color(losses[s]);
        row.append(c);
      });
      if (s === 1) {
        grid.extended.forEach((loss, side) => {
          const c = cell("td", money(loss, d), { "data-value": loss, "data-node": grid.core.length + side });
          c.style.background = color(loss);
          row.append(c);
        });
      } else {
        row.append(cell("td", ""), cell("td", ""));
      }
      t.append(row);
    });
    wrap.append(title, t);
    return wrap;
  });
  $("heatmaps").replaceChildren(...maps);
}

function fail(error: unknown): void {
  const el = $("error");
  el.hidden = false;
  el.textContent = error instanceof Error ? error.message : String(error);
}

// ---- RPC and wallet -----------------------------------------------------------------------------

async function loadFromRpc(url: string, account: string): Promise<void> {
  type Info = { owner: string; lamports: number; data: [string, string] } | null;
  const read = async (addresses: Address[]) => {
    const result = await rpcCall<{ value: Info[] }>(url, "getMultipleAccounts", [addresses, { encoding: "base64" }]);
    return result.value.map((a) =>
      a ? { owner: address(a.owner), lamports: BigInt(a.lamports), data: Uint8Array.from(base64.encode(a.data[0])) } : null,
    );
  };
  const clockInfo = (await read([address("SysvarC1ock11111111111111111111111111111111")]))[0];
  if (!clockInfo) throw new Error("no clock sysvar");
  const view = new DataView(clockInfo.data.buffer, clockInfo.data.byteOffset);
  const clock = {
    slot: Number(view.getBigUint64(0, true)),
    epoch_start_timestamp: Number(view.getBigInt64(8, true)),
    epoch: Number(view.getBigUint64(16, true)),
    leader_schedule_epoch: Number(view.getBigUint64(24, true)),
    unix_timestamp: Number(view.getBigInt64(32, true)),
  };
  const snapshot = await takeSnapshot(read, address(account), clock);
  loaded = await open(snapshot, url);
  $("source").textContent = `${account} on ${url}`;
  render(loaded);
}

function describe(ixs: Instruction[]): string {
  return ixs.map((ix, i) => `#${i}\n${describeInstruction(ix)}`).join("\n");
}

async function compose(form: FormData): Promise<Instruction[]> {
  if (!loaded) throw new Error("no account loaded");
  const l = loaded;
  const owner = wallet?.address ?? l.account.owner;
  const marginAccount = address(l.snapshot.margin_account);
  const token = String(form.get("token") || owner);
  const asset = Number(form.get("asset"));
  const quantity = BigInt(String(form.get("amount")));
  switch (form.get("action")) {
    case "deposit":
      return depositIxs(l.state, owner, marginAccount, address(token), asset, quantity);
    case "withdraw":
      return withdrawIxs(l.state, owner, [marginAccount, l.account], address(token), asset, quantity);
    default: {
      const makerAccount = address(String(form.get("maker-account")));
      const makerData = l.snapshot.accounts.find((a) => a.address === makerAccount);
      const maker = makerData ? decodeMarginAccount(Uint8Array.from(base64.encode(makerData.data))) : l.account;
      const params: ClearTradeParams = {
        series: Number(form.get("series")),
        size: BigInt(String(form.get("size"))),
        price: BigInt(String(form.get("price"))),
      };
      return clearTradeIxs(
        l.state,
        { taker: owner, takerAccount: marginAccount, maker: address(String(form.get("maker"))), makerAccount },
        [l.account, maker],
        Number(form.get("market")),
        params,
      );
    }
  }
}

async function boot(): Promise<void> {
  const wasm = await (await fetch("./xmargin.wasm")).arrayBuffer();
  preview = await MarginPreview.load(wasm);
  const example = (await (await fetch("./example.json")).json()) as Snapshot;
  loaded = await open(example);
  $("source").textContent = `example account ${example.margin_account} (the demo's hedged book; no wallet or RPC needed)`;
  render(loaded);
  document.body.dataset.ready = "true";

  const wallets = listWallets();
  if (wallets.length) $("wallets").replaceChildren(...wallets.map((w, i) => new Option(w.name, String(i))));
  $("connect-wallet").addEventListener("click", () =>
    connectWallet(wallets[Number(($("wallets") as HTMLSelectElement).value)])
      .then((w) => {
        wallet = w;
        $("connect-wallet").textContent = `connected ${w.address.slice(0, 4)}…${w.address.slice(-4)}`;
      })
      .catch(fail),
  );
  $("load-account").addEventListener("click", () =>
    loadFromRpc(($("rpc-url") as HTMLInputElement).value, ($("account-address") as HTMLInputElement).value).catch(fail),
  );
  $("tx-form").addEventListener("submit", (event) => {
    event.preventDefault();
    compose(new FormData(event.target as HTMLFormElement))
      .then(async (ixs) => {
        $("composed").textContent = describe(ixs);
        if (wallet && loaded?.rpcUrl) {
          const signature = await sendWithWallet(wallet, loaded.rpcUrl, ixs);
          $("composed").textContent += `\nsent: ${signature}`;
        }
      })
      .catch(fail);
  });
}

boot().catch(fail);
