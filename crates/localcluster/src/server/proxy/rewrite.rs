//! Links in proxied pages, rewritten as the API server's proxy transport rewrites them so that
//! they stay behind the proxy: an absolute path (`/jobs/`) or a URL to the backend itself
//! (`http://127.1.0.5:4040/jobs/`) in a `Location` header or in an HTML attribute that holds a URL
//! (`a href`, `img src`, `form action`, `script src`, ...) gets the proxy path in front
//! (`/api/v1/namespaces/ns/services/ui:4040/proxy/jobs/`). Relative links and links to other
//! hosts are left as they are. The contents of `<script>` and `<style>` are not touched.

use std::sync::OnceLock;

use regex::Regex;

/// Where a page came from and where the proxy serves it.
pub struct Rewriter<'a> {
    /// The proxy path, without a trailing slash.
    pub prefix: &'a str,
    /// `host:port` of the backend.
    pub backend: &'a str,
    /// The `Host` the client sent.
    pub request_host: &'a str,
}

/// Attributes holding URLs, by element, as the API server's list has them.
fn url_attribute(element: &str, attribute: &str) -> bool {
    matches!(
        (element, attribute),
        ("a" | "area" | "base" | "link", "href")
            | ("applet", "codebase")
            | ("audio" | "embed" | "script" | "source", "src")
            | ("blockquote" | "del" | "ins" | "q", "cite")
            | ("body", "background")
            | ("button", "formaction")
            | ("command", "icon")
            | ("form", "action")
            | ("frame" | "iframe", "longdesc" | "src")
            | ("head", "profile")
            | ("html", "manifest")
            | ("img", "longdesc" | "src" | "usemap")
            | ("input", "src" | "usemap" | "formaction")
            | ("object", "classid" | "codebase" | "data" | "usemap")
            | ("video", "poster" | "src")
    )
}

impl Rewriter<'_> {
    /// One URL: behind the proxy when it is an absolute path or names the backend (or the host the
    /// client asked), unchanged otherwise.
    pub fn url(&self, url: &str) -> String {
        let (host, rest) = match url.split_once("://") {
            Some((scheme, rest)) if !scheme.contains('/') => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                (Some(&rest[..end]), &rest[end..])
            }
            _ => match url.strip_prefix("//") {
                Some(rest) => {
                    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                    (Some(&rest[..end]), &rest[end..])
                }
                None => (None, url),
            },
        };
        if host.is_some_and(|h| h != self.backend && h != self.request_host) {
            return url.to_string();
        }
        let path = if host.is_some() && rest.is_empty() {
            "/"
        } else {
            rest
        };
        if !path.starts_with('/') || path.starts_with(self.prefix) {
            return if host.is_some() {
                path.to_string()
            } else {
                url.to_string()
            };
        }
        format!("{}{path}", self.prefix)
    }

    /// An HTML page with the URLs of its elements' URL attributes rewritten.
    pub fn html(&self, page: &str) -> String {
        static TAG: OnceLock<Regex> = OnceLock::new();
        static ATTRIBUTE: OnceLock<Regex> = OnceLock::new();
        let tag = TAG.get_or_init(|| {
            Regex::new(r"<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>").expect("the tag pattern is valid")
        });
        let attribute = ATTRIBUTE.get_or_init(|| {
            Regex::new(r#"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)"#)
                .expect("the attribute pattern is valid")
        });
        let mut out = String::with_capacity(page.len() + 256);
        let mut rest = page;
        while let Some(found) = tag.captures(rest) {
            let whole = found.get(0).expect("a match has a whole");
            let element = found[1].to_ascii_lowercase();
            let attributes = found.get(2).expect("the group always takes part");
            out.push_str(&rest[..whole.start()]);
            out.push('<');
            out.push_str(&found[1]);
            let mut last = 0;
            let text = attributes.as_str();
            for pair in attribute.captures_iter(text) {
                let name = pair[1].to_ascii_lowercase();
                let value = pair.get(3).expect("the group always takes part");
                if !url_attribute(&element, &name) {
                    continue;
                }
                let raw = value.as_str();
                let (quote, inner) = match raw.chars().next() {
                    Some(q @ ('"' | '\'')) => (Some(q), &raw[1..raw.len() - 1]),
                    _ => (None, raw),
                };
                out.push_str(&text[last..value.start()]);
                let rewritten = self.url(inner);
                match quote {
                    Some(q) => out.push_str(&format!("{q}{rewritten}{q}")),
                    None => out.push_str(&rewritten),
                }
                last = value.end();
            }
            out.push_str(&text[last..]);
            out.push('>');
            rest = &rest[whole.end()..];
            // Raw text elements: their content is not markup.
            if matches!(element.as_str(), "script" | "style") {
                let close = format!("</{element}");
                let end = rest.to_ascii_lowercase().find(&close).unwrap_or(rest.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> Rewriter<'static> {
        Rewriter {
            prefix: "/api/v1/namespaces/ns/services/ui:4040/proxy",
            backend: "127.1.0.5:4040",
            request_host: "localhost:8001",
        }
    }

    #[test]
    fn urls_to_the_backend_stay_behind_the_proxy() {
        let r = rewriter();
        assert_eq!(
            r.url("/jobs/"),
            "/api/v1/namespaces/ns/services/ui:4040/proxy/jobs/"
        );
        assert_eq!(
            r.url("http://127.1.0.5:4040/jobs/?id=1"),
            "/api/v1/namespaces/ns/services/ui:4040/proxy/jobs/?id=1"
        );
        assert_eq!(
            r.url("http://localhost:8001/x"),
            "/api/v1/namespaces/ns/services/ui:4040/proxy/x"
        );
        assert_eq!(r.url("stages/"), "stages/");
        assert_eq!(
            r.url("https://spark.apache.org/"),
            "https://spark.apache.org/"
        );
        assert_eq!(
            r.url("/api/v1/namespaces/ns/services/ui:4040/proxy/a"),
            "/api/v1/namespaces/ns/services/ui:4040/proxy/a"
        );
    }

    #[test]
    fn html_attributes_holding_urls_are_rewritten() {
        let page = r#"<html><head><link rel="stylesheet" href="/static/a.css"><script src='/static/b.js'>var x = "<a href=\"/no\">";</script></head>
<body><a href="/jobs/" class="x">Jobs</a><a href=stages/>Stages</a><img alt="/keep" src=/static/logo.png><div data-href="/keep"></div></body></html>"#;
        let rewritten = rewriter().html(page);
        let p = "/api/v1/namespaces/ns/services/ui:4040/proxy";
        assert!(
            rewritten.contains(&format!(r#"href="{p}/static/a.css""#)),
            "{rewritten}"
        );
        assert!(rewritten.contains(&format!("src='{p}/static/b.js'")));
        assert!(rewritten.contains(r#"var x = "<a href=\"/no\">";"#));
        assert!(rewritten.contains(&format!(r#"<a href="{p}/jobs/" class="x">"#)));
        assert!(rewritten.contains("<a href=stages/>"));
        assert!(rewritten.contains(&format!(r#"<img alt="/keep" src={p}/static/logo.png>"#)));
        assert!(rewritten.contains(r#"data-href="/keep""#));
    }
}
