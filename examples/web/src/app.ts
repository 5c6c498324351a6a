// The demo page: sign up / log in, workspaces (optionally from templates), dashboards with their
// status, one embedded in an iframe and renewed before its token expires, and embed usage.
// Every API error is shown in the banner (or next to the part it concerns), never swallowed.

import { Api, ApiFailure, Item, Workspace, tokenExpiry } from "./api.js";

/** Renew this long before a token expires, so the iframe never holds an expired one. */
const RENEW_BEFORE_SECONDS = 60;
const USAGE_DAYS = 7;

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

/** The API base URL: `?api=` on the page's URL (make dev passes it), else the last one used. */
function apiBase(): string {
  const fromQuery = new URLSearchParams(location.search).get("api");
  const base = (fromQuery ?? localStorage.getItem("tenantbase.api") ?? "http://127.0.0.1:9000").replace(/\/+$/, "");
  localStorage.setItem("tenantbase.api", base);
  return base;
}

const api = new Api(apiBase());
api.token = sessionStorage.getItem("tenantbase.token");

interface Embedded {
  item: Item;
  url: string;
  token: string;
  renewals: number;
  timer?: number;
}

let selected: Workspace | null = null;
let embedded: Embedded | null = null;

function describe(error: unknown): string {
  if (error instanceof ApiFailure) return `${error.message} (${error.code}${error.status ? `, HTTP ${error.status}` : ""})`;
  return error instanceof Error ? error.message : String(error);
}

function showError(error: unknown): void {
  const banner = element("error");
  banner.textContent = describe(error);
  banner.hidden = false;
}

function clearError(): void {
  element("error").hidden = true;
}

/** Runs a user action: clears the banner first, shows any failure in it. */
function action(run: () => Promise<void>): () => Promise<void> {
  return async () => {
    clearError();
    try {
      await run();
    } catch (error) {
      showError(error);
    }
  };
}

function formFields(form: HTMLFormElement): Record<string, string> {
  const fields: Record<string, string> = {};
  new FormData(form).forEach((value, key) => {
    if (typeof value === "string") fields[key] = value;
  });
  return fields;
}

function onSubmit(id: string, run: (fields: Record<string, string>, form: HTMLFormElement) => Promise<void>): void {
  const form = element<HTMLFormElement>(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void action(() => run(formFields(form), form))();
  });
}

async function signedIn(): Promise<void> {
  const me = await api.me();
  element("whoami").textContent = `signed in as ${me.email}`;
  element("logout").hidden = false;
  element("auth").hidden = true;
  element("workspaces").hidden = false;
  await Promise.all([loadWorkspaces(), loadTemplates()]);
}

async function logIn(email: string, password: string): Promise<void> {
  await api.logIn(email, password);
  sessionStorage.setItem("tenantbase.token", api.token ?? "");
  await signedIn();
}

async function loadTemplates(): Promise<void> {
  const fieldset = element("templates");
  const legend = fieldset.querySelector("legend");
  fieldset.replaceChildren(...(legend ? [legend] : []));
  try {
    const templates = await api.templates();
    if (templates.length === 0) fieldset.append(note("No templates."));
    for (const template of templates) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "template";
      box.value = template.name;
      const charts = template.charts.map((c) => `${c.name}: ${c.display}`).join(", ");
      label.append(box, ` ${template.title} (v${template.version}): ${template.description} [${charts}]`);
      fieldset.append(label);
    }
  } catch (error) {
    // Creating a workspace still works without templates; say why there are none.
    fieldset.append(note(`Templates are unavailable: ${describe(error)}`));
  }
}

function note(text: string): HTMLElement {
  const p = document.createElement("p");
  p.className = "note";
  p.textContent = text;
  return p;
}

async function loadWorkspaces(): Promise<void> {
  const list = element("workspace-list");
  const workspaces = await api.workspaces();
  list.replaceChildren();
  if (workspaces.length === 0) list.append(note("No workspace yet: create one below."));
  for (const workspace of workspaces) {
    const li = document.createElement("li");
    li.dataset.workspaceId = workspace.id;
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = workspace.name;
    open.addEventListener("click", action(() => selectWorkspace(workspace)));
    li.append(open, ` ${workspace.status}${workspace.role ? `, ${workspace.role}` : ""}`);
    if (workspace.failure_reason) li.append(` (${workspace.failure_reason})`);
    list.append(li);
  }
}

async function selectWorkspace(workspace: Workspace): Promise<void> {
  selected = workspace;
  element("workspace").hidden = false;
  element("workspace-name").textContent = workspace.name;
  await Promise.all([loadDashboards(), loadUsage()]);
}

async function loadDashboards(): Promise<void> {
  if (!selected) return;
  const rows = element("dashboard-rows");
  const dashboards = await api.dashboards(selected.id);
  rows.replaceChildren();
  for (const item of dashboards) {
    const tr = document.createElement("tr");
    tr.dataset.itemId = item.id;
    const cells = [item.name, item.status, item.reason ?? ""].map((text) => {
      const td = document.createElement("td");
      td.textContent = text;
      return td;
    });
    cells[1].className = `status-${item.status}`;
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = "Open";
    open.disabled = !item.is_public;
    open.title = item.is_public ? "Embed this dashboard" : "Quarantined dashboards cannot be embedded";
    open.addEventListener("click", action(() => openDashboard(item)));
    const last = document.createElement("td");
    last.append(open);
    tr.append(...cells, last);
    rows.append(tr);
  }
  if (dashboards.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 4;
    td.textContent = "No dashboards in this workspace yet.";
    tr.append(td);
    rows.append(tr);
  }
}

async function loadUsage(): Promise<void> {
  if (!selected) return;
  const box = element("usage");
  try {
    const usage = await api.usage(selected.id, USAGE_DAYS);
    const summary = note(`Tokens issued: ${usage.total} (mints: ${usage.mints}, refreshes: ${usage.refreshes}).`);
    summary.dataset.total = String(usage.total);
    summary.dataset.mints = String(usage.mints);
    summary.dataset.refreshes = String(usage.refreshes);
    const list = document.createElement("ul");
    for (const item of usage.per_item) {
      const li = document.createElement("li");
      li.textContent = `${item.kind} ${item.item_id}: ${item.count}`;
      list.append(li);
    }
    box.replaceChildren(summary, list);
  } catch (error) {
    // Viewers may not read usage (403): say so where the numbers would be.
    box.replaceChildren(note(`Usage is unavailable: ${describe(error)}`));
  }
}

async function openDashboard(item: Item): Promise<void> {
  const signed = await api.embedDashboard(item.id);
  if (embedded?.timer) clearTimeout(embedded.timer);
  embedded = { item, url: signed.url, token: signed.token, renewals: 0 };
  element("embed").hidden = false;
  element("embed-title").textContent = item.name;
  show(embedded);
  await loadUsage();
}

/** Points the iframe at the current URL and schedules the next renewal. */
function show(current: Embedded): void {
  element<HTMLIFrameElement>("embed-frame").src = current.url;
  element("embed-renewals").textContent = String(current.renewals);
  const exp = tokenExpiry(current.token);
  const expiry = element("embed-expiry");
  expiry.textContent = exp ? new Date(exp * 1000).toISOString() : "unknown";
  if (exp) {
    const lifetime = exp - Date.now() / 1000;
    const wait = Math.max(5, lifetime - Math.min(RENEW_BEFORE_SECONDS, lifetime / 2));
    current.timer = window.setTimeout(() => void action(renew)(), wait * 1000);
  }
}

/** A fresh token through the refresh route; the URL keeps its options, only the token changes. */
async function renew(): Promise<void> {
  const current = embedded;
  if (!current) return;
  if (current.timer) clearTimeout(current.timer);
  const { jwt } = await api.refreshToken(current.item.id);
  current.url = current.url.replace(current.token, jwt);
  current.token = jwt;
  current.renewals += 1;
  show(current);
  await loadUsage();
}

function logOut(): void {
  if (embedded?.timer) clearTimeout(embedded.timer);
  sessionStorage.removeItem("tenantbase.token");
  location.reload();
}

function start(): void {
  element("api-base").textContent = api.base;
  onSubmit("signup-form", async (fields) => {
    await api.signUp({ email: fields.email, password: fields.password, first_name: fields.first_name, last_name: fields.last_name });
    await logIn(fields.email, fields.password);
  });
  onSubmit("login-form", (fields) => logIn(fields.username, fields.password));
  onSubmit("workspace-form", async (fields, form) => {
    const templates = [...form.querySelectorAll<HTMLInputElement>("input[name=template]:checked")].map((box) => box.value);
    const workspace = await api.createWorkspace({
      name: fields.name,
      ...(fields.description ? { description: fields.description } : {}),
      ...(templates.length ? { templates } : {}),
    });
    form.reset();
    await loadWorkspaces();
    await selectWorkspace(workspace);
  });
  element("reload-workspaces").addEventListener("click", action(loadWorkspaces));
  element("reload-dashboards").addEventListener("click", action(loadDashboards));
  element("renew").addEventListener("click", action(renew));
  element("logout").addEventListener("click", logOut);
  if (api.token) void action(signedIn)();
}

start();
