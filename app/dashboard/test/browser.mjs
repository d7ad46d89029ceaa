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
  // The forms compose a transaction for the example account (no wallet: shown, not sent).
  await page.fill('input[name="token"]', example.margin_account);
  await page.selectOption('select[name="action"]', "withdraw");
  await page.click('#tx-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById("composed").textContent.length > 0);
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
