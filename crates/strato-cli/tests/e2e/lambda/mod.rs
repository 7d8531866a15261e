//! Lambda functions: unmodified handlers on runtimes Strato builds from
//! Debian packages (the first test to need one builds it into
//! `~/.cache/strato-runtimes`, about 35 s, then every server imports it),
//! run in runc containers that speak the Lambda Runtime API.

mod environments;
mod failures;
mod languages;
mod triggers;

/// Whether a log line is `text` as a handler printed it: bare (Python's
/// print) or after Node's `TIMESTAMP\tREQUEST_ID\tLEVEL\t` prefix.
pub fn said(line: &str, text: &str) -> bool {
    line == text
        || line
            .strip_suffix(text)
            .is_some_and(|prefix| prefix.ends_with('\t'))
}
