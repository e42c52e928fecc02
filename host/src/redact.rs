//! Showing a URL in a message without what it may hold of credentials: one
//! rule for every URL om-secrets names in an error or a report (database
//! URLs, the service's address, Vault's address).

/// `url` as a message may show it: the scheme, host, port and path. No user
/// information — everything up to the last `@` after the scheme, so a
/// password holding an unescaped `/` or `@` goes too — and no query string
/// or fragment (which may carry `password=`). `None` when `url` has no
/// `scheme://`: then nothing in it can be told apart from a credential
/// (`admin:hunter2@host:8590` parses as the scheme `admin`), so nothing of it
/// may be shown.
pub fn url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    Some(format!("{scheme}://{rest}"))
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn credentials_never_survive_in_any_spelling() {
        for (given, shown) in [
            ("http://127.0.0.1:8590", Some("http://127.0.0.1:8590")),
            ("https://h/prefix", Some("https://h/prefix")),
            ("http://u:hunter2@h:1/p", Some("http://h:1/p")),
            ("http://u:pa/ss-hunter2@h/p", Some("http://h/p")),
            ("http://u:p@ss-hunter2@h", Some("http://h")),
            (
                "postgres://h/db?user=om&password=hunter2",
                Some("postgres://h/db"),
            ),
            ("http://h/#hunter2", Some("http://h/")),
            ("admin:hunter2@host:8590", None),
            ("hunter2", None),
        ] {
            assert_eq!(url(given).as_deref(), shown, "{given}");
        }
    }
}
