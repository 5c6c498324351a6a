//! The product's route table: which function serves which method and path (design §3).
//!
//! It is the single source for request dispatch inside each function; tests check that the
//! local router (`[workspace.metadata.lambda.watch.router]` in `Cargo.toml`) and the SAM template
//! agree with it.

use http::Method;

/// The Lambda functions. The string form is the package and binary name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Signup,
    Workspaces,
    Discovery,
    Embed,
    Health,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Workspaces => "workspaces",
            Self::Discovery => "discovery",
            Self::Embed => "embed",
            Self::Health => "health",
        }
    }
}

/// A named endpoint, so handlers match on names rather than on path strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Health,
    Signup,
    Login,
    Me,
    ListWorkspaces,
    CreateWorkspace,
    GetWorkspace,
    UpdateWorkspace,
    DeleteWorkspace,
    ListMembers,
    AddMember,
    UpdateMember,
    RemoveMember,
    ListDashboards,
    ListQuestions,
    EmbedDashboard,
    EmbedQuestion,
    RefreshEmbedToken,
    RevokeWorkspaceEmbeds,
    RevokeDashboardEmbeds,
    RevokeQuestionEmbeds,
    RevokeMemberEmbeds,
    RestoreMemberEmbeds,
    EmbedUsage,
    ListTemplates,
    CreateDashboardFromTemplate,
    UpgradeTemplateDashboard,
    RegisterWorkspaceDatabase,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub function: Function,
    pub method: Method,
    /// Path pattern; `{name}` matches one non-empty segment.
    pub path: &'static str,
    pub endpoint: Endpoint,
}

const fn route(function: Function, method: Method, path: &'static str, endpoint: Endpoint) -> Route {
    Route { function, method, path, endpoint }
}

use Endpoint as E;
use Function as F;

pub const ROUTES: &[Route] = &[
    route(F::Health, Method::GET, "/health", E::Health),
    route(F::Signup, Method::POST, "/auth/signup", E::Signup),
    route(F::Signup, Method::POST, "/auth/login", E::Login),
    route(F::Signup, Method::GET, "/auth/me", E::Me),
    route(F::Workspaces, Method::GET, "/api/workspaces", E::ListWorkspaces),
    route(F::Workspaces, Method::POST, "/api/workspaces", E::CreateWorkspace),
    route(F::Workspaces, Method::GET, "/api/workspaces/{id}", E::GetWorkspace),
    route(F::Workspaces, Method::PATCH, "/api/workspaces/{id}", E::UpdateWorkspace),
    route(F::Workspaces, Method::DELETE, "/api/workspaces/{id}", E::DeleteWorkspace),
    route(F::Workspaces, Method::GET, "/api/workspaces/{id}/members", E::ListMembers),
    route(F::Workspaces, Method::POST, "/api/workspaces/{id}/members", E::AddMember),
    route(F::Workspaces, Method::PATCH, "/api/workspaces/{id}/members/{user_id}", E::UpdateMember),
    route(F::Workspaces, Method::DELETE, "/api/workspaces/{id}/members/{user_id}", E::RemoveMember),
    route(F::Discovery, Method::GET, "/api/workspaces/{id}/dashboards", E::ListDashboards),
    route(F::Discovery, Method::GET, "/api/workspaces/{id}/questions", E::ListQuestions),
    route(F::Embed, Method::GET, "/api/workspaces/dashboards/{id}/embed", E::EmbedDashboard),
    route(F::Embed, Method::GET, "/api/workspaces/questions/{id}/embed", E::EmbedQuestion),
    route(F::Embed, Method::POST, "/api/embed/token", E::RefreshEmbedToken),
    route(F::Embed, Method::POST, "/api/workspaces/{id}/embeds/revoke", E::RevokeWorkspaceEmbeds),
    route(F::Embed, Method::POST, "/api/workspaces/dashboards/{id}/embeds/revoke", E::RevokeDashboardEmbeds),
    route(F::Embed, Method::POST, "/api/workspaces/questions/{id}/embeds/revoke", E::RevokeQuestionEmbeds),
    route(F::Embed, Method::POST, "/api/workspaces/{id}/members/{user_id}/embeds/revoke", E::RevokeMemberEmbeds),
    route(F::Embed, Method::DELETE, "/api/workspaces/{id}/members/{user_id}/embeds/revoke", E::RestoreMemberEmbeds),
    route(F::Embed, Method::GET, "/api/workspaces/{id}/embed-usage", E::EmbedUsage),
    route(F::Discovery, Method::GET, "/api/templates", E::ListTemplates),
    route(F::Discovery, Method::POST, "/api/workspaces/{id}/dashboards", E::CreateDashboardFromTemplate),
    route(
        F::Discovery,
        Method::POST,
        "/api/workspaces/{id}/dashboards/{dashboard_id}/upgrade",
        E::UpgradeTemplateDashboard,
    ),
    route(F::Workspaces, Method::POST, "/api/workspaces/{id}/database", E::RegisterWorkspaceDatabase),
];

/// Path parameters captured by a match, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// The outcome of matching a request against one function's routes.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch {
    Found(&'static Route, PathParams),
    /// The path exists for this function, but not with this method.
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
}

fn match_path(pattern: &'static str, path: &str) -> Option<PathParams> {
    let mut params = Vec::new();
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.trim_end_matches('/').split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(PathParams(params)),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name, s.to_owned()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds the route of `function` for `method` and `path`. Literal segments win over
/// parameters (`/api/workspaces/dashboards/…` is never read as a workspace id).
pub fn resolve(function: Function, method: &Method, path: &str) -> RouteMatch {
    let mut best: Option<(&'static Route, PathParams)> = None;
    let mut allowed = Vec::new();
    for route in ROUTES.iter().filter(|r| r.function == function) {
        let Some(params) = match_path(route.path, path) else { continue };
        if route.method != *method {
            allowed.push(route.method.clone());
            continue;
        }
        if best.as_ref().is_none_or(|(_, p)| params.0.len() < p.0.len()) {
            best = Some((route, params));
        }
    }
    match best {
        Some((route, params)) => RouteMatch::Found(route, params),
        None if !allowed.is_empty() => RouteMatch::MethodNotAllowed { allowed },
        None => RouteMatch::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_params_are_captured() {
        let RouteMatch::Found(route, params) = resolve(F::Embed, &Method::GET, "/api/workspaces/dashboards/abc/embed")
        else {
            panic!("no match");
        };
        assert_eq!(route.endpoint, E::EmbedDashboard);
        assert_eq!(params.get("id"), Some("abc"));

        let RouteMatch::Found(route, params) = resolve(F::Workspaces, &Method::PATCH, "/api/workspaces/w1/members/u2")
        else {
            panic!("no match");
        };
        assert_eq!(route.endpoint, E::UpdateMember);
        assert_eq!((params.get("id"), params.get("user_id")), (Some("w1"), Some("u2")));
    }

    #[test]
    fn wrong_method_and_unknown_paths_are_distinguished() {
        assert_eq!(
            resolve(F::Signup, &Method::GET, "/auth/signup"),
            RouteMatch::MethodNotAllowed { allowed: vec![Method::POST] }
        );
        assert_eq!(resolve(F::Signup, &Method::GET, "/auth/nope"), RouteMatch::NotFound);
        assert_eq!(resolve(F::Workspaces, &Method::GET, "/api/workspaces//members"), RouteMatch::NotFound);
        // Another function's path is not found here: each function serves only its own routes.
        assert_eq!(resolve(F::Signup, &Method::GET, "/health"), RouteMatch::NotFound);
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "duplicate route {} {}", a.method, a.path);
            }
        }
    }
}
