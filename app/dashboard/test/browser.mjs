// The dashboard in a real browser: serves the built page on localhost, opens it in headless
// Chromium, waits for the example account, and checks every figure it shows against the Rust
// engine's (the `expected` block the demo wrote next to the account bytes). Then a screenshot
// for docs/dashboard.png.
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { preview } from "vite";

const root = fileURLToPath(new URL("..", import.meta.url));
const example = JSON.parse(readFileSync(`${root}/public/example.json`, "utf8"));
const expected = example.expected;
const executablePath =
  process.env.CHROMIUM_PATH ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
if (!executablePath) throw new Error("no Chromium found: apt-get install chromium (or set CHROMIUM_PATH)");

const server = await preview({ root, preview: { port: 0, host: "127.0.0.1" }, logLevel: "error" });
const url = server.resolvedUrls.local[0];
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
let failures = 0;
const check = (name, fn) => {
  try {
    fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n     ${e.message.split("\n").join("\n     ")}`);
  }
};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
  // A wallet-standard wallet the page discovers like a browser extension's: it connects and
  // hands back what it is asked to sign (no keys here; nothing is sent without an RPC node).
  const walletAddress = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
  await page.addInitScript((address) => {
    const account = { address, publicKey: new Uint8Array(32), chains: ["solana:localnet"], features: [] };
    const wallet = {
      version: "1.0.0",
      name: "Test Wallet",
      icon: "data:image/svg+xml;base64,PHN2Zy8+",
      chains: ["solana:localnet"],
      accounts: [],
      features: {
        "standard:connect": { version: "1.0.0", connect: async () => ({ accounts: [account] }) },
        "standard:events": { version: "1.0.0", on: () => () => {} },
        "solana:signTransaction": {
          version: "1.0.0",
          supportedTransactionVersions: [0],
          signTransaction: async (...inputs) => inputs.map((i) => ({ signedTransaction: i.transaction })),
        },
      },
    };
    window.addEventListener("wallet-standard:app-ready", (event) => event.detail.register(wallet));
  }, walletAddress);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
  const value = async (testid) => Number(await page.getAttribute(`[data-testid="${testid}"]`, "data-value"));

  const s = expected.summary;
  for (const [testid, want] of [
    ["equity", s.equity],
    ["collateral", s.collateral],
    ["unrealized", s.unrealized_pnl],
    ["initial", s.initial],
    ["maintenance", s.maintenance],
    ["free-collateral", s.free_collateral],
    ["maint-health", s.maint_health],
    ["distance", s.distance_to_liquidation_bps],
    ["cross", s.maintenance],
    ["isolated", s.isolated],
  ]) {
    const shown = await value(testid);
    check(`${testid} shown = Rust engine (${want})`, () => assert.equal(shown, want));
  }
  check("cross margin below isolated for the hedged book", () => assert.ok(s.maintenance < s.isolated));
  for (const c of expected.collateral) {
    const maint = await value(`collateral-maint-${c.asset}`);
    const init = await value(`collateral-init-${c.asset}`);
    check(`collateral ${c.asset} after haircuts = Rust`, () => {
      assert.equal(maint, c.maintenance_value);
      assert.equal(init, c.initial_value);
    });
  }
  for (const p of expected.positions) {
    const size = await value(`position-size-${p.market}-${p.series}`);
    check(`position ${p.market}/${p.series} size = Rust`, () => assert.equal(size, p.size));
  }
  for (const g of expected.grids) {
    const cells = await page.$$eval(`[data-testid="heatmap-${g.market}"] td[data-value]`, (tds) =>
      tds.map((td) => [Number(td.dataset.node), td.dataset.shock ?? "ext", Number(td.dataset.value)]),
    );
    const want = [];
    g.core.forEach((row, node) => row.forEach((loss, k) => want.push([node, g.vol_shocks[k], loss])));
    g.extended.forEach((loss, side) => want.push([g.core.length + side, "ext", loss]));
    const sort = (a) => [...a].sort((x, y) => x[0] - y[0] || String(x[1]).localeCompare(String(y[1])));
    check(`heat map of market ${g.market}: ${want.length} scenario losses = Rust`, () =>
      assert.deepEqual(sort(cells), sort(want)),
    );
  }
  // The page found the wallet; connecting makes it the signer of what the forms compose.
  const walletNames = await page.$$eval("#wallets option", (options) => options.map((o) => o.textContent));
  check("the wallet standard's wallet is listed", () => assert.deepEqual(walletNames, ["Test Wallet"]));
  await page.click("#connect-wallet");
  await page.waitForFunction(() => document.getElementById("connect-wallet").textContent.startsWith("connected"));
  await page.selectOption('select[name="action"]', "deposit");
  await page.fill('input[name="token"]', walletAddress);
  await page.click('#tx-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById("composed").textContent.includes("deposit"));
  const deposit = await page.textContent("#composed");
  check("a connected wallet is the deposit's signer", () =>
    assert.ok(deposit.includes(`depositor: ${walletAddress} (signer)`), deposit),
  );
  // The forms compose a transaction for the example account (no RPC: shown, not sent).
  await page.fill('input[name="token"]', example.margin_account);
  await page.selectOption('select[name="action"]', "withdraw");
  await page.click('#tx-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById("composed").textContent.includes("withdraw"));
  const composed = await page.textContent("#composed");
  check("withdraw form composes budget + withdraw with the check's accounts", () => {
    assert.match(composed, /withdraw \{"assetIndex":0,"amount":"1000000"\}/);
    assert.ok(composed.includes(`margin_account: ${example.margin_account}`));
    assert.match(composed, /ComputeBudget111111111111111111111111111111/);
    assert.match(composed, /remaining: /);
  });
  check("no errors in the page", () => assert.deepEqual(errors, []));
  const shot = process.env.SCREENSHOT ?? `${root}/../../docs/dashboard.png`;
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
} finally {
  await browser.close();
  await new Promise((resolve) => server.httpServer.close(resolve));
}
if (failures) {
  console.log(`browser test: ${failures} failed`);
  process.exit(1);
}
console.log("browser test: all figures match the Rust engine");
