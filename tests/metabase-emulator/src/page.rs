//! The HTML pages served at `/embed/dashboard/{token}` and `/embed/question/{token}`: small, valid,
//! escaped documents a browser can load in an iframe, showing the same rows the embed API returns.

use serde_json::Value;

use crate::analytics::QueryResult;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n</head>\n<body>\n{}</body>\n</html>\n",
        escape(title),
        body
    )
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => escape(s),
        other => escape(&other.to_string()),
    }
}

fn result_section(name: &str, result: &QueryResult) -> String {
    let mut s = format!("<section>\n<h2>{}</h2>\n", escape(name));
    if result.is_completed() {
        s.push_str("<table>\n<thead><tr>");
        for c in result.cols() {
            s.push_str(&format!("<th>{}</th>", escape(&c.display_name)));
        }
        s.push_str("</tr></thead>\n<tbody>\n");
        for row in result.rows() {
            s.push_str("<tr>");
            for v in row {
                s.push_str(&format!("<td>{}</td>", cell(v)));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody>\n</table>\n");
    } else {
        s.push_str(&format!("<p class=\"error\">{}</p>\n", escape(crate::analytics::EMBED_QUERY_ERROR)));
    }
    s.push_str("</section>\n");
    s
}

/// A dashboard: its name as the heading, then one section per card with its rows.
pub fn dashboard_page(name: &str, cards: &[(String, QueryResult)]) -> String {
    let mut body = format!("<h1>{}</h1>\n", escape(name));
    for (card_name, result) in cards {
        body.push_str(&result_section(card_name, result));
    }
    document(name, &body)
}

/// A single question: its name and its rows.
pub fn question_page(name: &str, result: &QueryResult) -> String {
    let mut body = format!("<h1>{}</h1>\n", escape(name));
    body.push_str(&result_section(name, result));
    document(name, &body)
}

/// A page showing only the error text (what the embed API would have answered).
pub fn error_page(message: &str) -> String {
    document("Error", &format!("<p class=\"error\">{}</p>\n", escape(message)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::AnalyticsDb;
    use serde_json::Map;

    #[test]
    fn dashboard_page_shows_name_and_rows_escaped() {
        let db = AnalyticsDb::new();
        let r = db.run_native("SELECT tenant_id, '<b>&' AS odd FROM orders WHERE id = 1", &Map::new(), &Map::new());
        let page = dashboard_page("Sales <Acme>", &[("Orders \"all\"".to_string(), r)]);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<h1>Sales &lt;Acme&gt;</h1>"));
        assert!(page.contains("<h2>Orders &quot;all&quot;</h2>"));
        assert!(page.contains("<td>acme</td><td>&lt;b&gt;&amp;</td>"));
        assert!(!page.contains("<b>&"));
    }

    #[test]
    fn failed_card_and_error_page() {
        let page = question_page("Q", &QueryResult::failed("boom"));
        assert!(page.contains("An error occurred while running the query."));
        assert!(!page.contains("boom"));
        let e = error_page("Token is expired (1)<script>");
        assert!(e.contains("<p class=\"error\">Token is expired (1)&lt;script&gt;</p>"));
    }
}
