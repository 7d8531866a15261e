//! The page shell every screen shares (navigation, who is logged in, the
//! CSRF token for htmx requests) and small formatting helpers.

use super::session::Session;
use crate::control::Caller;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// The screens in the navigation: (path, label, admin only).
const NAV: &[(&str, &str, bool)] = &[
    ("/", "Overview", false),
    ("/runs", "Runs", false),
    ("/workflows", "Workflows", false),
    ("/queues", "Queues", false),
    ("/schedules", "Schedules", false),
    ("/buckets", "Buckets", false),
    ("/services", "Services", false),
    ("/apps", "Apps", false),
    ("/images", "Images", true),
    ("/keys", "Keys", true),
];

/// The `<head>` every page has: its title, the stylesheet and htmx.
pub(crate) fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Strato" }
            link rel="stylesheet" href="/assets/dashboard.css";
            script src="/assets/htmx.min.js" {}
        }
    }
}

/// A whole page: `title`, the navigation with `here` marked, `content`.
pub(crate) fn page(session: &Session, title: &str, here: &str, content: Markup) -> Response {
    let admin = matches!(session.caller, Caller::Admin);
    let csrf_header = format!(r#"{{"X-CSRF-Token": "{}"}}"#, session.csrf);
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body hx-headers=(csrf_header) {
                    header {
                        a.brand href="/" { "Strato" }
                        nav {
                            @for (path, label, admin_only) in NAV {
                                @if admin || !admin_only {
                                    a.here[*path == here] href=(path) { (label) }
                                }
                            }
                        }
                        div.who {
                            span #who { (who(&session.caller)) }
                            form.inline method="post" action=(format!("/logout?csrf={}", session.csrf)) {
                                button.plain type="submit" { "Log out" }
                            }
                        }
                    }
                    main { (content) }
                }
            }
        }
        .into_string(),
    )
    .into_response()
}

/// How the session's caller is named in the header.
pub(crate) fn who(caller: &Caller) -> String {
    match caller {
        Caller::Admin => "admin".into(),
        Caller::App(app) => format!("app {app}"),
    }
}

/// A page saying what went wrong, with the status.
pub(crate) fn problem(session: &Session, status: http::StatusCode, message: &str) -> Response {
    let mut response = page(
        session,
        "Problem",
        "",
        html! { h1 { (status.canonical_reason().unwrap_or("Problem")) } p.error { (message) } },
    );
    *response.status_mut() = status;
    response
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 as (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Microseconds as a short duration (`850µs`, `12.3ms`, `4.20s`).
pub(crate) fn duration_us(us: i64) -> String {
    match us {
        us if us < 1000 => format!("{us}µs"),
        us if us < 1_000_000 => format!("{:.1}ms", us as f64 / 1000.0),
        us => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Bytes as a short size.
pub(crate) fn size(bytes: u64) -> String {
    strato_core::units::format_size(bytes)
}

/// A query string from pairs, skipping empty values.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

pub(crate) use strato_core::percent::encode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_sizes_and_queries_read_well() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_700_000_000_123), "2023-11-14 22:13:20");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(duration_us(850), "850µs");
        assert_eq!(duration_us(12_345), "12.3ms");
        assert_eq!(duration_us(4_200_000), "4.20s");
        assert_eq!(
            query(&[("app", "shop"), ("q", "a b&c"), ("x", "")]),
            "?app=shop&q=a%20b%26c"
        );
        assert_eq!(query(&[("x", "")]), "");
    }
}
