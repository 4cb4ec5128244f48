//! nginx's request routing over a [`Config`]: the `server` by Host, then the
//! `location` by path, in nginx's order (an exact `=` match wins at once; else the
//! longest matching prefix is remembered, the regexes are tried in order and the first
//! match wins; else the remembered prefix), then `rewrite "(?i)PATH" TARGET break;` when
//! the location has a rewrite-target (`$1`, `$2` are the regex's capture groups).

use super::config::{Config, LocKind, Location, Server};

/// The outcome of routing one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route<'a> {
    pub server: &'a Server,
    pub location: &'a Location,
    /// The URI sent to the upstream (after any rewrite, with the query string).
    pub uri: String,
}

/// `(?i)^PATH`, as nginx compiles `~* "^PATH"`; `None` if it does not compile (nginx
/// would have refused the configuration).
fn regex(anchored: bool, path: &str) -> Option<regex_lite::Regex> {
    let caret = if anchored { "^" } else { "" };
    regex_lite::Regex::new(&format!("(?i){caret}{path}")).ok()
}

/// The location nginx picks for `path` in `server`.
pub fn select<'a>(server: &'a Server, path: &str) -> Option<&'a Location> {
    if let Some(l) = server.locations.iter().find(|l| l.kind == LocKind::Exact && l.path == path) {
        return Some(l);
    }
    let prefix = server
        .locations
        .iter()
        .filter(|l| l.kind == LocKind::Prefix && path.starts_with(&l.path))
        .max_by_key(|l| l.path.len());
    let re = server
        .locations
        .iter()
        .filter(|l| l.kind == LocKind::Regex)
        .find(|l| regex(true, &l.path).is_some_and(|r| r.is_match(path)));
    re.or(prefix)
}

/// nginx's `rewrite` of a URI path: the whole path is replaced by `target` with `$N`
/// expanded when the (unanchored) regex matches; else unchanged.
pub fn rewrite(location_path: &str, target: &str, path: &str) -> String {
    let Some(re) = regex(false, location_path) else { return path.to_string() };
    let Some(caps) = re.captures(path) else { return path.to_string() };
    let mut out = String::new();
    let mut chars = target.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().and_then(|d| d.to_digit(10))) {
            ('$', Some(n)) => {
                chars.next();
                out.push_str(caps.get(n as usize).map_or("", |m| m.as_str()));
            }
            _ => out.push(c),
        }
    }
    out
}

/// Routes one request (`Host` header and request target).
pub fn route<'a>(config: &'a Config, host: &str, target: &str) -> Option<Route<'a>> {
    let server = config.server_for(host);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let location = select(server, path)?;
    let mut uri = match &location.rewrite {
        Some(t) => rewrite(&location.path, t, path),
        None => path.to_string(),
    };
    if let Some(q) = query
        && !uri.contains('?')
    {
        uri = format!("{uri}?{q}");
    }
    Some(Route { server, location, uri })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_replaces_the_whole_path_and_expands_captures() {
        assert_eq!(rewrite("/test", "/", "/test/a"), "/");
        assert_eq!(rewrite("/something(/|$)(.*)", "/$2", "/something/new"), "/new");
        assert_eq!(rewrite("/something(/|$)(.*)", "/$2", "/something"), "/");
        assert_eq!(rewrite("/x", "/y", "/other"), "/other");
    }
}
