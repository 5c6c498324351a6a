//! How an embed looks: the hash options Metabase reads after `#` in an embed page URL (contract §15),
//! per-workspace defaults merged with per-request overrides.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Metabase's embed colour themes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    Light,
    Night,
    Transparent,
}

impl Theme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Night => "night",
            Self::Transparent => "transparent",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "light" => Some(Self::Light),
            "night" => Some(Self::Night),
            "transparent" => Some(Self::Transparent),
            _ => None,
        }
    }
}

/// Embed page options. `None` (or an absent `hide_parameters`) leaves Metabase's own default, so
/// a workspace setting or a request only says what it wants to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appearance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bordered: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub titled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<Theme>,
    /// Parameter slugs whose filter widgets the page hides. `Some(vec![])` explicitly hides none,
    /// which lets a request undo a workspace default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_parameters: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloads: Option<bool>,
}

/// The query-string keys [`Appearance::from_query`] understands; every other key is left to the caller.
pub const APPEARANCE_KEYS: [&str; 5] = ["bordered", "titled", "theme", "hide_parameters", "downloads"];

impl Appearance {
    /// The workspace's defaults with every option the request sets taking precedence.
    pub fn merge(workspace_defaults: &Self, request_overrides: &Self) -> Self {
        Self {
            bordered: request_overrides.bordered.or(workspace_defaults.bordered),
            titled: request_overrides.titled.or(workspace_defaults.titled),
            theme: request_overrides.theme.or(workspace_defaults.theme),
            hide_parameters: request_overrides
                .hide_parameters
                .clone()
                .or_else(|| workspace_defaults.hide_parameters.clone()),
            downloads: request_overrides.downloads.or(workspace_defaults.downloads),
        }
    }

    /// Reads the appearance options from request query parameters (`bordered=true|false`,
    /// `titled=…`, `theme=light|night|transparent`, `hide_parameters=a,b`, `downloads=…`); keys
    /// outside [`APPEARANCE_KEYS`] are ignored so the same query can carry `minutes` and `param.*`.
    ///
    /// # Errors
    /// 400 `invalid_appearance` for a value outside the allowed set, a blank slug in
    /// `hide_parameters`, or an option given twice.
    pub fn from_query<I, K, V>(pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut appearance = Self::default();
        let mut seen = [false; APPEARANCE_KEYS.len()];
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            let Some(index) = APPEARANCE_KEYS.iter().position(|known| *known == key) else {
                continue;
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(invalid(format!("{key} is given more than once")));
            }
            match key {
                "bordered" => appearance.bordered = Some(parse_bool(key, value)?),
                "titled" => appearance.titled = Some(parse_bool(key, value)?),
                "downloads" => appearance.downloads = Some(parse_bool(key, value)?),
                "theme" => {
                    appearance.theme = Some(Theme::parse(value).ok_or_else(|| {
                        invalid(format!("theme must be light, night or transparent (got {value:?})"))
                    })?);
                }
                _ => appearance.hide_parameters = Some(parse_slug_list(value)?),
            }
        }
        Ok(appearance)
    }

    /// Checks that every hidden slug is one of the item's published parameters; hiding a slug
    /// the item does not have is a caller mistake worth reporting rather than a silent no-op.
    pub(super) fn check_hidden(&self, mut is_known: impl FnMut(&str) -> bool) -> Result<()> {
        for slug in self.hide_parameters.iter().flatten() {
            if !is_known(slug) {
                return Err(invalid(format!("hide_parameters names {slug}, which is not a parameter of this item")));
            }
        }
        Ok(())
    }

    /// Appends `#bordered=…&titled=…&theme=…&hide_parameters=a,b&downloads=…` in that fixed order,
    /// only the options that are set, nothing at all when none is.
    pub(super) fn write_hash(&self, out: &mut String) {
        let mut separator = '#';
        let mut option = |out: &mut String, name: &str| {
            out.push(separator);
            out.push_str(name);
            out.push('=');
            separator = '&';
        };
        if let Some(bordered) = self.bordered {
            option(out, "bordered");
            out.push_str(bool_str(bordered));
        }
        if let Some(titled) = self.titled {
            option(out, "titled");
            out.push_str(bool_str(titled));
        }
        if let Some(theme) = self.theme {
            option(out, "theme");
            out.push_str(theme.as_str());
        }
        if let Some(hidden) = &self.hide_parameters {
            option(out, "hide_parameters");
            for (i, slug) in hidden.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Slugs are plain identifiers in practice; encoding keeps an odd one from breaking the hash.
                for piece in url::form_urlencoded::byte_serialize(slug.as_bytes()) {
                    out.push_str(piece);
                }
            }
        }
        if let Some(downloads) = self.downloads {
            option(out, "downloads");
            out.push_str(bool_str(downloads));
        }
    }

    /// An upper bound of the bytes [`Self::write_hash`] appends, so the URL is allocated once.
    pub(super) fn hash_len_hint(&self) -> usize {
        let hidden: usize = self.hide_parameters.iter().flatten().map(|s| s.len() * 3 + 1).sum();
        100 + hidden
    }
}

fn bool_str(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

fn invalid(message: String) -> Error {
    Error::bad_request("invalid_appearance", message)
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(format!("{key} must be true or false (got {value:?})"))),
    }
}

fn parse_slug_list(value: &str) -> Result<Vec<String>> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(|slug| {
            let slug = slug.trim();
            if slug.is_empty() {
                Err(invalid(format!("hide_parameters has an empty slug in {value:?}")))
            } else {
                Ok(slug.to_owned())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(appearance: &Appearance) -> String {
        let mut out = String::new();
        appearance.write_hash(&mut out);
        out
    }

    fn assert_invalid(result: Result<Appearance>, needle: &str) {
        match result {
            Err(error @ Error::BadRequest { code: "invalid_appearance", .. }) => {
                assert!(error.to_string().contains(needle), "{error} lacks {needle}");
            }
            other => panic!("expected invalid_appearance, got {other:?}"),
        }
    }

    #[test]
    fn parses_every_option_and_ignores_other_keys() {
        let appearance = Appearance::from_query([
            ("minutes", "5"),
            ("bordered", "false"),
            ("titled", "true"),
            ("theme", "night"),
            ("hide_parameters", "channel, region"),
            ("downloads", "false"),
            ("param.channel", "web"),
        ])
        .unwrap();
        assert_eq!(
            appearance,
            Appearance {
                bordered: Some(false),
                titled: Some(true),
                theme: Some(Theme::Night),
                hide_parameters: Some(vec!["channel".into(), "region".into()]),
                downloads: Some(false),
            }
        );
        assert_eq!(Appearance::from_query(Vec::<(String, String)>::new()).unwrap(), Appearance::default());
        assert_eq!(Appearance::from_query([("hide_parameters", "")]).unwrap().hide_parameters, Some(vec![]));
    }

    #[test]
    fn rejects_values_outside_the_allowed_set() {
        assert_invalid(Appearance::from_query([("bordered", "yes")]), "bordered must be true or false");
        assert_invalid(Appearance::from_query([("titled", "TRUE")]), "titled");
        assert_invalid(Appearance::from_query([("downloads", "")]), "downloads");
        assert_invalid(Appearance::from_query([("theme", "dark")]), "theme must be light, night or transparent");
        assert_invalid(Appearance::from_query([("hide_parameters", "a,,b")]), "empty slug");
        assert_invalid(Appearance::from_query([("theme", "night"), ("theme", "light")]), "more than once");
    }

    #[test]
    fn merge_prefers_the_request_and_falls_back_to_the_workspace() {
        let workspace = Appearance {
            bordered: Some(false),
            titled: Some(false),
            theme: Some(Theme::Night),
            hide_parameters: Some(vec!["channel".into()]),
            downloads: Some(false),
        };
        let request = Appearance { titled: Some(true), hide_parameters: Some(vec![]), ..Appearance::default() };
        let merged = Appearance::merge(&workspace, &request);
        assert_eq!(merged.bordered, Some(false));
        assert_eq!(merged.titled, Some(true));
        assert_eq!(merged.theme, Some(Theme::Night));
        assert_eq!(merged.hide_parameters, Some(vec![]));
        assert_eq!(merged.downloads, Some(false));
        assert_eq!(Appearance::merge(&workspace, &Appearance::default()), workspace);
    }

    #[test]
    fn hash_has_a_stable_order_and_encodes_slugs() {
        assert_eq!(hash(&Appearance::default()), "");
        let all = Appearance {
            downloads: Some(false),
            hide_parameters: Some(vec!["channel".into(), "odd slug&x".into()]),
            theme: Some(Theme::Transparent),
            titled: Some(true),
            bordered: Some(false),
        };
        let rendered = hash(&all);
        assert_eq!(
            rendered,
            "#bordered=false&titled=true&theme=transparent&hide_parameters=channel,odd+slug%26x&downloads=false"
        );
        assert!(rendered.len() <= all.hash_len_hint());
        assert_eq!(hash(&Appearance { theme: Some(Theme::Light), ..Appearance::default() }), "#theme=light");
        assert_eq!(hash(&Appearance { hide_parameters: Some(vec![]), ..Appearance::default() }), "#hide_parameters=");
    }

    #[test]
    fn workspace_settings_round_trip_as_json() {
        let appearance = Appearance { theme: Some(Theme::Night), downloads: Some(true), ..Appearance::default() };
        let json = serde_json::to_value(&appearance).unwrap();
        assert_eq!(json, serde_json::json!({"theme": "night", "downloads": true}));
        assert_eq!(serde_json::from_value::<Appearance>(json).unwrap(), appearance);
        assert!(serde_json::from_value::<Appearance>(serde_json::json!({"theme": "dark"})).is_err());
        assert!(serde_json::from_value::<Appearance>(serde_json::json!({"colour": "red"})).is_err());
    }
}
