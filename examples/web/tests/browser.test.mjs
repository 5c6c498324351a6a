// The demo page in a real browser (Debian's chromium, headless, driven by playwright-core), for
// two tenants: sign up, create a workspace, list dashboards with their status and quarantine
// reason, embed one, renew its token through the refresh route, read the usage numbers, and check
// that each iframe shows its own tenant's rows and no one else's. A screenshot of each tenant's
// page is saved under target/test-artifacts/.
//
// It needs the stack scripts/test.sh starts (moto, the Metabase emulator, the functions under
// `cargo lambda watch`, the page on a static server) and fails when any of it is missing.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { chromium } from "playwright-core";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser test through scripts/test.sh (make test)`);
  return value;
}

const DEMO_URL = required("DEMO_URL");
const API_URL = required("API_URL");
const METABASE_URL = required("METABASE_URL");
const ADMIN_EMAIL = required("METABASE_ADMIN_EMAIL");
const ADMIN_PASSWORD = required("METABASE_ADMIN_PASSWORD");
const OPERATOR_KEY = required("OPERATOR_API_KEY");
const ARTIFACTS = required("TEST_ARTIFACTS");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ANALYTICS_DB_NAME = process.env.ANALYTICS_DB_NAME ?? "analytics";
const PASSWORD = "Demo-passw0rd-2026";
/** The tenants of the emulator's sample analytics rows. */
const TENANTS = ["acme", "globex"];

async function call(base, method, path, { headers = {}, body } = {}) {
  const response = await fetch(base + path, {
    method,
    headers: { ...(body ? { "content-type": "application/json" } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Metabase as an analyst uses it: a session from the admin login. */
class Analyst {
  static async login() {
    const session = await call(METABASE_URL, "POST", "/api/session", { body: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    const analyst = new Analyst(session.id);
    const databases = await analyst.request("GET", "/api/database");
    const list = Array.isArray(databases) ? databases : databases.data;
    const analytics = list.find((db) => db.name === ANALYTICS_DB_NAME);
    assert.ok(analytics, `Metabase has no database named ${ANALYTICS_DB_NAME}`);
    analyst.database = analytics.id;
    return analyst;
  }

  constructor(session) {
    this.session = session;
  }

  request(method, path, body) {
    return call(METABASE_URL, method, path, { headers: { "x-metabase-session": this.session }, body });
  }

  async card(collection, name, sql, tags) {
    const query = { database: this.database, type: "native", native: { query: sql, "template-tags": tags } };
    const card = await this.request("POST", "/api/card", {
      name, display: "table", visualization_settings: {}, dataset_query: query, collection_id: collection,
    });
    return card.id;
  }

  async dashboard(collection, name, cards, parameters, mappings) {
    const dashboard = await this.request("POST", "/api/dashboard", { name, collection_id: collection });
    const dashcards = cards.map((card, i) => ({
      id: -(i + 1), card_id: card, row: i * 6, col: 0, size_x: 12, size_y: 6, parameter_mappings: mappings(card),
    }));
    await this.request("PUT", `/api/dashboard/${dashboard.id}`, { parameters, dashcards, tabs: [] });
    return dashboard.id;
  }
}

/**
 * The workspace's dashboards, built as an analyst would in Metabase: one whose card filters on the
 * tenant parameter (embeddable) and one reading every tenant's rows (the lint quarantines it).
 * Once templates ship, this is the one place to switch to `templates: [...]` at creation.
 */
/** The template the tenant's workspace is created with; its dashboard is the one opened. */
const TEMPLATE = { name: "operational", title: "Operational" };

/** An analyst's hand-built dashboard without the tenant filter: discovery must quarantine it. */
async function buildUnfilteredDashboard(analyst, workspace) {
  const collection = workspace.metabase_collection_id;
  const everything = await analyst.card(collection, "Every order", "SELECT * FROM orders", {});
  await analyst.dashboard(collection, "Unfiltered", [everything], [], () => []);
}

let analyst;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  analyst = await Analyst.login();
});

/** A headless chromium with a fresh profile (user-data-dir), removed when the tenant's flow ends. */
async function launch() {
  const userDataDir = mkdtempSync(join(tmpdir(), "tenantbase-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1400 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** The tenant column of every table the embedded page shows. */
async function tenantColumn(frame) {
  await frame.locator("table tbody tr").first().waitFor();
  return frame.locator("table").evaluateAll((tables) =>
    tables.flatMap((table) => {
      // Native questions title columns by name (tenant_id), GUI ones by display name (Tenant ID).
      const title = (th) => th.textContent.trim().toLowerCase().replace(/[\s_]+/g, " ");
      const at = [...table.querySelectorAll("thead th")].findIndex((th) => title(th) === "tenant id");
      if (at < 0) throw new Error("an embedded table without a Tenant ID column");
      return [...table.querySelectorAll("tbody tr")].map((tr) => tr.children[at].textContent.trim());
    }),
  );
}

for (const tenant of TENANTS) {
  test(`the demo flow for ${tenant} shows only ${tenant}'s rows`, async () => {
    const { context, close } = await launch();
    const page = await context.newPage();
    const pageErrors = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    try {
      await page.goto(DEMO_URL);
      const email = `${tenant}-${Date.now()}@demo.example.com`;

      // An API error reaches the user: logging in before signing up is refused.
      const login = page.locator("#login-form");
      await login.locator("[name=username]").fill(email);
      await login.locator("[name=password]").fill(PASSWORD);
      await login.locator("button").click();
      await assertErrorShown(page, /unauthorized/);

      const signup = page.locator("#signup-form");
      await signup.locator("[name=email]").fill(email);
      await signup.locator("[name=password]").fill(PASSWORD);
      await signup.locator("[name=first_name]").fill("Demo");
      await signup.locator("[name=last_name]").fill(tenant);
      await signup.locator("button").click();
      await page.getByTestId("whoami").filter({ hasText: email }).waitFor();
      assert.equal(await page.getByTestId("error").isHidden(), true, "no error after signing up");

      // A workspace created on the page (the user's own, with a generated tenant key), with a
      // dashboard from the template picked in the form.
      const form = page.locator("#workspace-form");
      await form.locator("[name=name]").fill(`Scratch ${tenant}`);
      await form.locator(`input[name=template][value=${TEMPLATE.name}]`).check();
      await form.locator("button").click();
      await page.getByTestId("workspace-name").filter({ hasText: `Scratch ${tenant}` }).waitFor();
      await page.getByTestId("dashboards").locator("tr", { hasText: TEMPLATE.title }).waitFor();

      // The SaaS backend provisions the tenant's workspace for this user with its own tenant id
      // and the same template; an analyst adds a dashboard without the tenant filter.
      const workspace = await call(API_URL, "POST", "/api/workspaces", {
        headers: { "x-api-key": OPERATOR_KEY },
        body: { name: `${tenant} analytics`, tenant_key: tenant, owner_email: email, templates: [TEMPLATE.name] },
      });
      await buildUnfilteredDashboard(analyst, workspace);

      await page.locator("#reload-workspaces").click();
      await page.getByTestId("workspace-list").getByRole("button", { name: `${tenant} analytics` }).click();
      const dashboards = page.getByTestId("dashboards");
      const fromTemplate = dashboards.locator("tr", { hasText: TEMPLATE.title });
      const unfiltered = dashboards.locator("tr", { hasText: "Unfiltered" });
      await fromTemplate.waitFor();
      assert.match(await fromTemplate.textContent(), /embeddable/);
      assert.match(await unfiltered.textContent(), /quarantined/);
      assert.match(await unfiltered.locator("td").nth(2).textContent(), /\S/, "the quarantine reason is shown");
      assert.equal(await unfiltered.getByRole("button", { name: "Open" }).isDisabled(), true);

      await fromTemplate.getByRole("button", { name: "Open" }).click();
      const iframe = page.getByTestId("embed-frame");
      await iframe.waitFor();
      const src = await iframe.getAttribute("src");
      assert.ok(src.startsWith(`${METABASE_URL}/embed/dashboard/`), src);
      const frame = page.frameLocator("[data-testid=embed-frame]");
      const rows = await tenantColumn(frame);
      assert.ok(rows.length > 0, "the embedded dashboard shows rows");
      assert.deepEqual([...new Set(rows)], [tenant], "every row is the tenant's own");
      for (const other of TENANTS.filter((t) => t !== tenant)) {
        assert.equal(await frame.locator("td", { hasText: new RegExp(`^${other}$`) }).count(), 0, `no ${other} row`);
      }

      // Renewal through the refresh route: a new token in the same page, the same rows.
      await page.locator("#renew").click();
      await page.getByTestId("embed-renewals").filter({ hasText: "1" }).waitFor();
      const renewed = await iframe.getAttribute("src");
      assert.notEqual(renewed, src, "the iframe got a new token");
      assert.deepEqual([...new Set(await tenantColumn(frame))], [tenant]);

      // Usage counts the mint and the refresh.
      const usage = page.getByTestId("usage").locator("[data-total]");
      await page.getByTestId("usage").locator('[data-refreshes="1"]').waitFor();
      assert.equal(await usage.getAttribute("data-mints"), "1");

      assert.equal(await page.getByTestId("error").isHidden(), true, await page.getByTestId("error").textContent());
      assert.deepEqual(pageErrors, [], "no script errors on the page");
      await page.screenshot({ path: join(ARTIFACTS, `demo-${tenant}.png`), fullPage: true });
    } catch (error) {
      await page.screenshot({ path: join(ARTIFACTS, `demo-${tenant}-failed.png`), fullPage: true }).catch(() => {});
      throw error;
    } finally {
      await close();
    }
  });
}

test("a page from an origin not in CORS_ALLOWED_ORIGINS cannot call the API, and says so", async () => {
  const { context, close } = await launch();
  try {
    const page = await context.newPage();
    // The same page under another origin: localhost is not 127.0.0.1 to the browser.
    await page.goto(DEMO_URL.replace("//127.0.0.1:", "//localhost:"));
    const login = page.locator("#login-form");
    await login.locator("[name=username]").fill("someone@demo.example.com");
    await login.locator("[name=password]").fill(PASSWORD);
    await login.locator("button").click();
    await assertErrorShown(page, /network_error/);
  } finally {
    await close();
  }
});

async function assertErrorShown(page, pattern) {
  const banner = page.getByTestId("error");
  await banner.waitFor({ state: "visible" });
  assert.match(await banner.textContent(), pattern);
}
