// The Tenantbase API as the page uses it: one request function that turns every failure into
// an ApiFailure carrying the API's {"error", "message"} (or a network failure), and typed calls.

export interface Workspace {
  id: string;
  name: string;
  status: string;
  role?: string;
  tenant_key: string;
  failure_reason?: string;
}

export interface Item {
  id: string;
  name: string;
  status: "embeddable" | "quarantined";
  reason: string | null;
  is_public: boolean;
}

export interface Template {
  name: string;
  title: string;
  version: number;
  description: string;
  charts: { key: string; name: string; display: string }[];
}

export interface SignedEmbed {
  url: string;
  token: string;
  expires_at: string;
  expires_in_minutes: number;
}

export interface Usage {
  days: number;
  total: number;
  mints: number;
  refreshes: number;
  per_item: { item_id: string; kind: string; count: number }[];
}

/** A failed call: the API's error code and message, or `network_error` when nothing answered. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Body = { json: unknown } | { form: Record<string, string> } | undefined;

export class Api {
  token: string | null = null;

  constructor(readonly base: string) {}

  async request<T>(method: string, path: string, body?: Body, headers: Record<string, string> = {}): Promise<T> {
    const init: RequestInit = { method, headers: { ...headers } };
    const h = init.headers as Record<string, string>;
    if (this.token) h["Authorization"] = `Bearer ${this.token}`;
    if (body && "json" in body) {
      h["Content-Type"] = "application/json";
      init.body = JSON.stringify(body.json);
    } else if (body && "form" in body) {
      h["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = new URLSearchParams(body.form).toString();
    }
    let response: Response;
    try {
      response = await fetch(this.base + path, init);
    } catch {
      // The browser hides why (unreachable, or refused by CORS); say both.
      throw new ApiFailure(0, "network_error", `could not reach the API at ${this.base} (is it running, and is this page's origin in CORS_ALLOWED_ORIGINS?)`);
    }
    const text = await response.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    if (!response.ok) {
      const error = parsed as { error?: string; message?: string } | null;
      throw new ApiFailure(response.status, error?.error ?? `http_${response.status}`, error?.message ?? (text || response.statusText));
    }
    return parsed as T;
  }

  signUp(fields: { email: string; password: string; first_name: string; last_name: string }) {
    return this.request<{ id: string; email: string }>("POST", "/auth/signup", { json: fields });
  }

  /** OAuth2's password flow: a form with `username` and `password`. */
  async logIn(username: string, password: string): Promise<void> {
    const answer = await this.request<{ access_token: string }>("POST", "/auth/login", { form: { username, password } });
    this.token = answer.access_token;
  }

  me() {
    return this.request<{ email: string }>("GET", "/auth/me");
  }

  templates() {
    return this.request<Template[]>("GET", "/api/templates");
  }

  workspaces() {
    return this.request<Workspace[]>("GET", "/api/workspaces");
  }

  createWorkspace(fields: { name: string; description?: string; templates?: string[] }) {
    // A retried click with the same key answers the same workspace instead of creating two.
    return this.request<Workspace>("POST", "/api/workspaces", { json: fields }, { "Idempotency-Key": crypto.randomUUID() });
  }

  dashboards(workspace: string) {
    return this.request<Item[]>("GET", `/api/workspaces/${encodeURIComponent(workspace)}/dashboards`);
  }

  embedDashboard(item: string) {
    return this.request<SignedEmbed>("GET", `/api/workspaces/dashboards/${encodeURIComponent(item)}/embed`);
  }

  refreshToken(item: string) {
    return this.request<{ jwt: string }>("POST", "/api/embed/token", { json: { entityType: "dashboard", entityId: item } });
  }

  usage(workspace: string, days: number) {
    return this.request<Usage>("GET", `/api/workspaces/${encodeURIComponent(workspace)}/embed-usage?days=${days}`);
  }
}

/** The `exp` claim (Unix seconds) of a JWT, read without verifying: only to schedule a renewal. */
export function tokenExpiry(jwt: string): number | null {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(payload)).exp;
    return typeof exp === "number" ? exp : null;
  } catch {
    return null;
  }
}
