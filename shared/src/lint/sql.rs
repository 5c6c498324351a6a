//! Where a template tag appears in native SQL: outside any optional `[[ … ]]` clause, only inside
//! one, or nowhere that filters (absent, or only in a comment).
//!
//! A hand-written, allocation-free scan: it runs for every native card of every changed dashboard.

/// How a `{{tag}}` is used by a query's SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagUsage {
    /// At least once outside every `[[ … ]]`: the query cannot run without the value.
    Mandatory,
    /// Only inside optional clauses, which vanish when the value is missing (§19.5).
    OnlyOptional,
    /// Not used (or only inside SQL comments), so the value filters nothing.
    Unused,
}

/// Scans `sql` for `{{name}}` (whitespace inside the braces allowed, as Metabase trims it).
///
/// Brackets are counted everywhere, comments included, because Metabase's parameter parser does
/// not know SQL; that can only make a clause look optional, never hide one. Occurrences inside `--`
/// or `/* */` comments do not count as filtering. Single-quoted strings are tracked only so that a
/// `--` inside a literal is not taken for a comment.
pub(crate) fn tag_usage(sql: &str, name: &str) -> TagUsage {
    let bytes = sql.as_bytes();
    let mut depth = 0usize;
    let mut optional_seen = false;
    let mut state = State::Code;
    let mut i = 0;
    while i < bytes.len() {
        let pair = (bytes[i], bytes.get(i + 1).copied());
        match pair {
            (b'[', Some(b'[')) => {
                depth += 1;
                i += 2;
                continue;
            }
            (b']', Some(b']')) => {
                depth = depth.saturating_sub(1);
                i += 2;
                continue;
            }
            (b'{', Some(b'{')) => {
                let Some(len) = sql[i + 2..].find("}}") else { break };
                let inner = sql[i + 2..i + 2 + len].trim();
                if inner == name && state != State::LineComment && state != State::BlockComment {
                    if depth == 0 {
                        return TagUsage::Mandatory;
                    }
                    optional_seen = true;
                }
                i += 2 + len + 2;
                continue;
            }
            _ => {}
        }
        state = match (state, pair) {
            (State::Code, (b'-', Some(b'-'))) => {
                i += 1;
                State::LineComment
            }
            (State::Code, (b'/', Some(b'*'))) => {
                i += 1;
                State::BlockComment
            }
            (State::Code, (b'\'', _)) => State::Literal,
            (State::Literal, (b'\'', _)) => State::Code,
            (State::LineComment, (b'\n', _)) => State::Code,
            (State::BlockComment, (b'*', Some(b'/'))) => {
                i += 1;
                State::Code
            }
            (state, _) => state,
        };
        i += 1;
    }
    if optional_seen { TagUsage::OnlyOptional } else { TagUsage::Unused }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Literal,
    LineComment,
    BlockComment,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_tag_is_mandatory() {
        assert_eq!(tag_usage("SELECT * FROM orders WHERE tenant_id = {{tenant_id}}", "tenant_id"), TagUsage::Mandatory);
        assert_eq!(tag_usage("SELECT * FROM orders WHERE {{ tenant_id }}", "tenant_id"), TagUsage::Mandatory);
    }

    #[test]
    fn a_tag_only_in_optional_clauses_is_optional() {
        let sql =
            "SELECT * FROM orders WHERE 1 = 1 [[AND tenant_id = {{tenant_id}}]] [[AND {{tenant_id}} IS NOT NULL]]";
        assert_eq!(tag_usage(sql, "tenant_id"), TagUsage::OnlyOptional);
        let nested = "SELECT * FROM t [[WHERE a = {{a}} [[AND tenant_id = {{tenant_id}}]]]]";
        assert_eq!(tag_usage(nested, "tenant_id"), TagUsage::OnlyOptional);
    }

    #[test]
    fn one_mandatory_use_is_enough() {
        let sql = "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} [[AND channel = {{channel}}]]";
        assert_eq!(tag_usage(sql, "tenant_id"), TagUsage::Mandatory);
        let after = "SELECT * FROM orders WHERE 1 = 1 [[AND x = {{tenant_id}}]] AND tenant_id = {{tenant_id}}";
        assert_eq!(tag_usage(after, "tenant_id"), TagUsage::Mandatory);
    }

    #[test]
    fn comments_and_other_names_do_not_filter() {
        assert_eq!(tag_usage("SELECT 1 -- WHERE tenant_id = {{tenant_id}}", "tenant_id"), TagUsage::Unused);
        assert_eq!(tag_usage("SELECT 1 /* {{tenant_id}} */", "tenant_id"), TagUsage::Unused);
        assert_eq!(tag_usage("SELECT 1 WHERE x = {{tenant}}", "tenant_id"), TagUsage::Unused);
        assert_eq!(tag_usage("SELECT 1 WHERE x = {{tenant_id_2}}", "tenant_id"), TagUsage::Unused);
        assert_eq!(tag_usage("SELECT 1 WHERE x = {{tenant_id", "tenant_id"), TagUsage::Unused);
        assert_eq!(tag_usage("", "tenant_id"), TagUsage::Unused);
    }

    #[test]
    fn a_comment_ends_and_literals_hide_comment_markers() {
        let sql = "SELECT * -- all columns\nFROM orders WHERE tenant_id = {{tenant_id}}";
        assert_eq!(tag_usage(sql, "tenant_id"), TagUsage::Mandatory);
        let block = "SELECT /* x */ * FROM orders WHERE tenant_id = {{tenant_id}}";
        assert_eq!(tag_usage(block, "tenant_id"), TagUsage::Mandatory);
        let literal = "SELECT '--' AS d FROM orders WHERE tenant_id = {{tenant_id}}";
        assert_eq!(tag_usage(literal, "tenant_id"), TagUsage::Mandatory);
    }

    #[test]
    fn multibyte_text_is_scanned_safely() {
        let sql = "SELECT 'é–ü' AS x FROM orders WHERE tenant_id = {{ tenant_id }} -- ✓";
        assert_eq!(tag_usage(sql, "tenant_id"), TagUsage::Mandatory);
    }
}
