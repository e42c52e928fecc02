//! Authorization: deny by default. Roles are ordered (each adds operations
//! to the one before); grants give a role to principals, optionally only on
//! some subjects, service types or entity names.
//!
//! | role | operations |
//! |---|---|
//! | `viewer` | mask, fields |
//! | `editor` | + seal, merge, forget |
//! | `ingestion` | + reveal with `keepReferences=true` |
//! | `privileged` | + reveal (resolved) |

use crate::ops::{Operation, SubjectKind};

/// A role, in increasing order of what it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// mask, fields.
    Viewer,
    /// + seal, merge, forget.
    Editor,
    /// + reveal keeping references.
    Ingestion,
    /// + reveal.
    Privileged,
}

impl Role {
    /// A role's configuration name.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "viewer" => Role::Viewer,
            "editor" => Role::Editor,
            "ingestion" => Role::Ingestion,
            "privileged" => Role::Privileged,
            _ => return None,
        })
    }

    /// The least role an operation needs.
    pub fn needed_for(op: Operation) -> Role {
        match op {
            Operation::Mask | Operation::Fields => Role::Viewer,
            Operation::Seal | Operation::Merge | Operation::Forget => Role::Editor,
            Operation::Reveal {
                keep_references: true,
            } => Role::Ingestion,
            Operation::Reveal {
                keep_references: false,
            } => Role::Privileged,
        }
    }
}

/// Who a grant is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// `apiKey:NAME`: the API key of that name.
    ApiKey(String),
    /// `subject:SUB`: a JWT with that `sub`.
    Subject(String),
    /// `anyBot`: any JWT with `isBot: true`.
    AnyBot,
    /// `claim:NAME=VALUE`: a JWT whose claim NAME is VALUE (or a list holding it).
    Claim(String, String),
}

impl Principal {
    /// Parse the configuration form.
    pub fn parse(s: &str) -> Option<Principal> {
        if s == "anyBot" {
            return Some(Principal::AnyBot);
        }
        let (kind, rest) = s.split_once(':')?;
        if rest.is_empty() {
            return None;
        }
        Some(match kind {
            "apiKey" => Principal::ApiKey(rest.into()),
            "subject" => Principal::Subject(rest.into()),
            "claim" => {
                let (n, v) = rest.split_once('=')?;
                if n.is_empty() {
                    return None;
                }
                Principal::Claim(n.into(), v.into())
            }
            _ => return None,
        })
    }
}

/// The kinds of subject a grant may be limited to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectClass {
    /// Services (any type, unless `serviceTypes` says).
    Services,
    /// Bot users.
    Bots,
    /// Ingestion pipelines.
    Pipelines,
    /// Test-connection workflows.
    Workflows,
}

impl SubjectClass {
    /// Parse the configuration form.
    pub fn parse(s: &str) -> Option<SubjectClass> {
        Some(match s {
            "services" => SubjectClass::Services,
            "bots" => SubjectClass::Bots,
            "pipelines" => SubjectClass::Pipelines,
            "workflows" => SubjectClass::Workflows,
            _ => return None,
        })
    }

    fn of(kind: &SubjectKind) -> SubjectClass {
        match kind {
            SubjectKind::Service(_) => SubjectClass::Services,
            SubjectKind::Bot => SubjectClass::Bots,
            SubjectKind::Pipeline => SubjectClass::Pipelines,
            SubjectKind::Workflow => SubjectClass::Workflows,
        }
    }
}

/// One `roles` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The role given.
    pub role: Role,
    /// To whom.
    pub principals: Vec<Principal>,
    /// Only these kinds of subject (`None`: all).
    pub subjects: Option<Vec<SubjectClass>>,
    /// Only services of these types (`None`: any; bots, pipelines and
    /// workflows are then not covered).
    pub service_types: Option<Vec<String>>,
    /// Only entities whose name matches one of these globs (`None`: any; a
    /// request without a name is then not covered).
    pub names: Option<Vec<String>>,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// For logs and the audit: `apiKey:NAME` or `jwt:SUB`.
    pub id: String,
    /// The API key's name, for API keys.
    pub api_key: Option<String>,
    /// The JWT's claims, for JWTs.
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Caller {
    fn is(&self, p: &Principal) -> bool {
        let claim = |n: &str| self.claims.as_ref().and_then(|c| c.get(n));
        match p {
            Principal::ApiKey(n) => self.api_key.as_deref() == Some(n),
            Principal::Subject(s) => claim("sub").and_then(|v| v.as_str()) == Some(s),
            Principal::AnyBot => claim("isBot") == Some(&serde_json::Value::Bool(true)),
            Principal::Claim(n, want) => match claim(n) {
                Some(serde_json::Value::String(s)) => s == want,
                Some(serde_json::Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(want)),
                Some(serde_json::Value::Bool(b)) => b.to_string() == *want,
                Some(serde_json::Value::Number(n)) => n.to_string() == *want,
                _ => false,
            },
        }
    }
}

/// Whether `caller` may run `op` on the entity `name` of `kind`.
pub fn allowed(
    grants: &[Grant],
    caller: &Caller,
    op: Operation,
    kind: &SubjectKind,
    name: Option<&str>,
) -> bool {
    grants_for(grants, caller, op, kind).any(|g| {
        g.names.as_ref().is_none_or(|globs| {
            name.is_some_and(|n| globs.iter().any(|g| glob(g.as_bytes(), n.as_bytes())))
        })
    })
}

/// Whether `caller` may run `op` on some entity of `kind` (whatever its
/// name): a batch's body is read only if so.
pub fn allowed_somewhere(
    grants: &[Grant],
    caller: &Caller,
    op: Operation,
    kind: &SubjectKind,
) -> bool {
    grants_for(grants, caller, op, kind).next().is_some()
}

/// The grants that give `caller` `op` on `kind`, names aside.
fn grants_for<'a>(
    grants: &'a [Grant],
    caller: &'a Caller,
    op: Operation,
    kind: &'a SubjectKind,
) -> impl Iterator<Item = &'a Grant> {
    let need = Role::needed_for(op);
    grants.iter().filter(move |g| {
        g.role >= need
            && g.principals.iter().any(|p| caller.is(p))
            && g.subjects
                .as_ref()
                .is_none_or(|s| s.contains(&SubjectClass::of(kind)))
            && g.service_types.as_ref().is_none_or(|types| match kind {
                SubjectKind::Service(t) => types.iter().any(|x| x.eq_ignore_ascii_case(t)),
                _ => false,
            })
    })
}

/// `*` (any run) and `?` (any one byte) glob matching.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("prod-*", "prod-mysql", true),
            ("prod-*", "dev-mysql", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(p.as_bytes(), t.as_bytes()), want, "{p} {t}");
        }
    }

    #[test]
    fn scoped_grants() {
        let g = Grant {
            role: Role::Editor,
            principals: vec![Principal::AnyBot],
            subjects: None,
            service_types: Some(vec!["database".into()]),
            names: Some(vec!["prod-*".into()]),
        };
        let bot = Caller {
            id: "jwt:b".into(),
            api_key: None,
            claims: serde_json::json!({"sub": "b", "isBot": true})
                .as_object()
                .cloned(),
        };
        let db = SubjectKind::Service("database".into());
        assert!(allowed(
            std::slice::from_ref(&g),
            &bot,
            Operation::Seal,
            &db,
            Some("prod-a")
        ));
        assert!(!allowed(
            std::slice::from_ref(&g),
            &bot,
            Operation::Seal,
            &db,
            Some("dev-a")
        ));
        assert!(!allowed(
            std::slice::from_ref(&g),
            &bot,
            Operation::Seal,
            &db,
            None
        ));
        assert!(allowed_somewhere(
            std::slice::from_ref(&g),
            &bot,
            Operation::Seal,
            &db
        ));
        assert!(!allowed_somewhere(
            std::slice::from_ref(&g),
            &bot,
            Operation::Seal,
            &SubjectKind::Service("messaging".into())
        ));
        assert!(!allowed(
            std::slice::from_ref(&g),
            &bot,
            Operation::Seal,
            &SubjectKind::Bot,
            Some("prod-a")
        ));
        assert!(!allowed(
            std::slice::from_ref(&g),
            &bot,
            Operation::Reveal {
                keep_references: true
            },
            &db,
            Some("prod-a")
        ));
    }
}
