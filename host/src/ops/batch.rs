//! Batches: many documents of one subject kind, one result per document, in
//! order — what a list page, a migration or the CLI's `--batch` need.
//!
//! Each document names its own entity ([`BatchItem::name`]); the kind
//! ([`SubjectKind`]) is shared. Every document runs the same operation as
//! its single-document form, so a batch's results are exactly what the
//! single calls give, and one bad document never stops the others:
//!
//! - **Isolation in the sandbox.** Each document is discovered by its own
//!   plugin call, and every call gets a fresh instance from the pooling
//!   allocator: no plugin call ever sees another document's data.
//! - **All-or-nothing per document.** A seal applies its document's writes as
//!   one [`SecretStore::apply`](crate::kms::SecretStore::apply), undone if
//!   the store fails half-way (see `seal.rs`), exactly as a single seal does.
//! - **Concurrency that cannot mix documents.** Up to [`CONCURRENCY`]
//!   documents are in flight at once (store round-trips overlap). Every write
//!   of a document lies in its entity's [`Scope`](super::Scope) (references
//!   into another entity's ids are refused before any write), and a document
//!   that writes is started only when no document in flight has an
//!   overlapping scope — two documents of the same entity run one after the
//!   other, in input order, as separate single calls would.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use serde::ser::SerializeMap;
use serde_json::Value;

use super::{Field, SecretsManager, Subject, check_bot};
use crate::fernet::FernetError;
use crate::{Error, Result};

/// At most this many documents of a batch are in flight at once.
pub const CONCURRENCY: usize = 8;

/// What the documents of a batch are; each document brings its own name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectKind {
    /// Services of this type: each document is the connection config or the
    /// whole service entity (decided per document, see
    /// [`Subject::service_for`]).
    Service(String),
    /// Bot users (`isBot` is checked on each document).
    Bot,
    /// Ingestion pipelines.
    Pipeline,
    /// Test-connection workflows (each names its own `request.serviceType`).
    Workflow,
}

impl SubjectKind {
    /// The subject of one document of this kind, named `name`: what a single
    /// call with `--service-type T --name N`, `--bot N`, `--pipeline N` or
    /// `--workflow N` uses.
    pub fn subject(&self, name: Option<&str>, doc: &Value) -> Result<Subject> {
        match self {
            SubjectKind::Service(t) => Subject::service_for(t, name, doc),
            SubjectKind::Bot => {
                check_bot(doc)?;
                Ok(Subject::bot(name))
            }
            SubjectKind::Pipeline => Ok(Subject::pipeline(name)),
            SubjectKind::Workflow => Subject::workflow(name, doc),
        }
    }
}

/// One document of a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchItem {
    /// The entity's name (secret ids are built from it); needed by `seal`,
    /// `forget`, resolving `reveal`s of managed references, and for full ids
    /// from `fields`.
    pub name: Option<String>,
    /// The document.
    pub document: Value,
    /// `merge`: the stored (sealed) form the update is merged with (required).
    pub stored: Option<Value>,
    /// `seal`: the entity's previous stored form, whose secrets the new one no
    /// longer references are deleted (see
    /// [`seal_update`](SecretsManager::seal_update)).
    pub previous: Option<Value>,
}

impl BatchItem {
    /// A document with a name.
    pub fn named(name: impl Into<String>, document: Value) -> Self {
        BatchItem {
            name: Some(name.into()),
            document,
            ..Self::default()
        }
    }

    /// One envelope, `{"name", "document", "stored", "previous"}` (a CLI
    /// `--batch` line, a server request's body or batch item), as an item
    /// of `op`: the members `op` takes (see [`envelope_members`]), `name` a
    /// string or null, `document` required, `stored` required by a merge,
    /// a null `previous` absent. Checked in that order, `name` where
    /// `rules` says; what the front-ends read differently is in `rules`.
    /// The error names no value; each front-end words it.
    pub fn from_envelope(
        mut m: serde_json::Map<String, Value>,
        op: Operation,
        rules: Envelope,
    ) -> std::result::Result<Self, EnvelopeError> {
        fn name(
            m: &mut serde_json::Map<String, Value>,
        ) -> std::result::Result<Option<String>, EnvelopeError> {
            match m.shift_remove("name") {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(n)) => Ok(Some(n)),
                Some(_) => Err(EnvelopeError::NameNotString),
            }
        }
        let first = match rules.name {
            EnvelopeName::MemberFirst => name(&mut m)?,
            _ => None,
        };
        let allowed = envelope_members(op, rules.name != EnvelopeName::Elsewhere);
        if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(EnvelopeError::Unknown(k.clone()));
        }
        let name = match rules.name {
            EnvelopeName::Member => name(&mut m)?,
            _ => first,
        };
        let document = m
            .shift_remove("document")
            .ok_or(EnvelopeError::NoDocument)?;
        if rules.object_document && !document.is_object() {
            return Err(EnvelopeError::DocumentNotObject);
        }
        // `"stored": null` is a stored form (nothing stored: the merge runs,
        // and refuses a mask it cannot restore), as the library's merge, the
        // JVM's and a single CLI merge read it.
        let stored = m.shift_remove("stored");
        if op == Operation::Merge && stored.is_none() {
            return Err(EnvelopeError::NoStored);
        }
        Ok(BatchItem {
            name,
            document,
            stored,
            previous: m.shift_remove("previous").filter(|p| !p.is_null()),
        })
    }
}

/// The members an envelope of `op` takes, `name` first when `with_name`:
/// `document`, and `previous` for a seal, `stored` for a merge.
pub fn envelope_members(op: Operation, with_name: bool) -> &'static [&'static str] {
    let all: &'static [&'static str] = match op {
        Operation::Seal => &["name", "document", "previous"],
        Operation::Merge => &["name", "document", "stored"],
        _ => &["name", "document"],
    };
    if with_name { all } else { &all[1..] }
}

/// Where the front-ends read an envelope differently, on purpose (see
/// [`BatchItem::from_envelope`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Where the entity's name is.
    pub name: EnvelopeName,
    /// `document` must be a JSON object: the server refuses any other at
    /// the envelope (400, pointing at `/document`); the CLI leaves it to
    /// the operation, which points into the document.
    pub object_document: bool,
}

/// Where an envelope's entity name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeName {
    /// Not in the envelope (a server route's path names it): a `name`
    /// member is one the envelope does not take.
    Elsewhere,
    /// The `name` member, read once the members are known good (the CLI's
    /// `--batch` lines).
    Member,
    /// The `name` member, read before anything else (the server's batch
    /// items).
    MemberFirst,
}

/// What is wrong with an envelope (see [`BatchItem::from_envelope`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// A member the operation does not take, as sent: it may be anything a
    /// client sent (a secret pasted as a name), so repeat it with care.
    Unknown(String),
    /// `name` is neither a string nor null.
    NameNotString,
    /// No `document`.
    NoDocument,
    /// `document` is not a JSON object ([`Envelope::object_document`]).
    DocumentNotObject,
    /// A merge without the `stored` form.
    NoStored,
}

impl EnvelopeError {
    /// The member the error is about.
    pub fn member(&self) -> &str {
        match self {
            EnvelopeError::Unknown(k) => k,
            EnvelopeError::NameNotString => "name",
            EnvelopeError::NoDocument | EnvelopeError::DocumentNotObject => "document",
            EnvelopeError::NoStored => "stored",
        }
    }
}

/// The operation a batch runs on each document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// [`seal_update`](SecretsManager::seal_update) (with the item's `previous`).
    Seal,
    /// [`reveal`](SecretsManager::reveal).
    Reveal {
        /// Decrypt only; keep `secret:` references.
        keep_references: bool,
    },
    /// [`mask`](SecretsManager::mask).
    Mask,
    /// [`merge`](SecretsManager::merge) with the item's `stored`.
    Merge,
    /// [`forget`](SecretsManager::forget).
    Forget,
    /// [`fields`](SecretsManager::fields).
    Fields,
}

impl Operation {
    /// Whether the operation writes to the store (documents of overlapping
    /// scopes then never run at once).
    fn writes(self) -> bool {
        matches!(self, Operation::Seal | Operation::Forget)
    }
}

/// What one document of a batch gave. Serialises as `{"document": …}`,
/// `{"deleted": […]}` or `{"fields": […]}`.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The output document (seal, reveal, mask, merge).
    Document(Value),
    /// The ids `forget` deleted.
    Deleted(Vec<String>),
    /// The fields `fields` found.
    Fields(Vec<Field>),
}

impl serde::Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Outcome::Document(v) => m.serialize_entry("document", v)?,
            Outcome::Deleted(ids) => m.serialize_entry("deleted", ids)?,
            Outcome::Fields(f) => m.serialize_entry("fields", f)?,
        }
        m.end()
    }
}

/// A document's error as a batch reports it: the pointer it names (if any)
/// and the message. Like every [`Error`], it never holds a secret value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// RFC 6901 pointer into the document, when the error names one.
    pub pointer: Option<String>,
    /// The error's message.
    pub message: String,
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Self {
        let pointer = match e {
            Error::Input { pointer, .. } => pointer.clone(),
            Error::MissingSecret { pointer, .. } => Some(pointer.clone()),
            Error::Fernet(FernetError::Decrypt { pointer } | FernetError::NotText { pointer }) => {
                pointer.clone()
            }
            _ => None,
        };
        Failure {
            pointer,
            message: e.to_string(),
        }
    }
}

impl Failure {
    /// The failure of one batch item, as every front-end reports it: the
    /// error's own pointer or, for an unknown connector type (whose error
    /// names the type, not where it is), the pointer of the item's config's
    /// type property.
    pub fn of_item(e: &Error, kind: &SubjectKind, item: &BatchItem) -> Self {
        let mut f = Failure::from(e);
        if f.pointer.is_none()
            && matches!(e, Error::UnknownConnectorType { .. })
            && let Ok(s) = kind.subject(item.name.as_deref(), &item.document)
        {
            f.pointer = Some(format!(
                "{}/{}",
                s.config_pointer,
                crate::plugin::check::escape_token(&s.type_key)
            ));
        }
        f
    }
}

type Job<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Run jobs with at most `width` in flight, never two whose keys (scope
/// roots) overlap at once, starting them in order; results in input order.
async fn in_order<'a, T>(jobs: Vec<(Option<String>, Job<'a, T>)>, width: usize) -> Vec<T> {
    let overlaps = |a: &str, b: &str| a.starts_with(b) || b.starts_with(a);
    let mut results: Vec<Option<T>> = jobs.iter().map(|_| None).collect();
    let mut pending: VecDeque<(usize, Option<String>, Job<'a, T>)> = jobs
        .into_iter()
        .enumerate()
        .map(|(i, (k, j))| (i, k, j))
        .collect();
    let mut running: Vec<(usize, Option<String>, Job<'a, T>)> = Vec::new();
    loop {
        // Start the next jobs in order while there is room and the head does
        // not share an entity with a job in flight (it then waits, and the
        // jobs behind it too: order between documents is kept simply).
        while running.len() < width.max(1) {
            let Some((_, key, _)) = pending.front() else {
                break;
            };
            let busy = key.as_deref().is_some_and(|k| {
                running
                    .iter()
                    .any(|(_, r, _)| r.as_deref().is_some_and(|r| overlaps(k, r)))
            });
            if busy {
                break;
            }
            running.extend(pending.pop_front());
        }
        if running.is_empty() {
            break;
        }
        std::future::poll_fn(|cx| {
            let before = running.len();
            running.retain_mut(|(i, _, job)| match job.as_mut().poll(cx) {
                Poll::Ready(v) => {
                    results[*i] = Some(v);
                    false
                }
                Poll::Pending => true,
            });
            if running.len() < before {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
    results
        .into_iter()
        .map(|r| r.expect("every job ran to completion"))
        .collect()
}

impl SecretsManager {
    /// Run `op` on every document of `items`, all of one `kind`: one result
    /// per document, in order (see the module docs).
    pub async fn batch(
        &self,
        op: Operation,
        kind: &SubjectKind,
        items: &[BatchItem],
    ) -> Vec<Result<Outcome>> {
        let mut jobs: Vec<(Option<String>, Job<'_, Result<Outcome>>)> =
            Vec::with_capacity(items.len());
        for item in items {
            match kind.subject(item.name.as_deref(), &item.document) {
                Ok(subject) => {
                    let key =
                        (op.writes() && subject.name.is_some()).then(|| self.scope(&subject).root);
                    jobs.push((key, Box::pin(self.run_one(op, subject, item))));
                }
                Err(e) => jobs.push((None, Box::pin(std::future::ready(Err(e))))),
            }
        }
        in_order(jobs, CONCURRENCY).await
    }

    /// One document of a batch, its subject built.
    async fn run_one(&self, op: Operation, subject: Subject, item: &BatchItem) -> Result<Outcome> {
        let doc = &item.document;
        if op.writes() && subject.name.as_deref().is_none_or(str::is_empty) {
            return Err(Error::Input {
                pointer: None,
                message: "this operation needs each document's entity name (`name`)".into(),
            });
        }
        Ok(match op {
            Operation::Seal => Outcome::Document(
                self.seal_update(&subject, item.previous.as_ref(), doc)
                    .await?,
            ),
            Operation::Reveal { keep_references } => {
                Outcome::Document(self.reveal(&subject, doc, keep_references).await?)
            }
            Operation::Mask => Outcome::Document(self.mask(&subject, doc)?),
            Operation::Merge => {
                let stored = item.stored.as_ref().ok_or_else(|| Error::Input {
                    pointer: None,
                    message: "merge needs the stored (sealed) form with each document (`stored`)"
                        .into(),
                })?;
                Outcome::Document(self.merge(&subject, stored, doc)?)
            }
            Operation::Forget => Outcome::Deleted(self.forget(&subject, doc).await?),
            Operation::Fields => Outcome::Fields(self.fields(&subject, doc)?),
        })
    }

    /// [`seal_update`](Self::seal_update) every document (with its
    /// `previous`, if any).
    pub async fn seal_batch(&self, kind: &SubjectKind, items: &[BatchItem]) -> Vec<Result<Value>> {
        documents(self.batch(Operation::Seal, kind, items).await)
    }

    /// [`reveal`](Self::reveal) every document.
    pub async fn reveal_batch(
        &self,
        kind: &SubjectKind,
        items: &[BatchItem],
        keep_references: bool,
    ) -> Vec<Result<Value>> {
        documents(
            self.batch(Operation::Reveal { keep_references }, kind, items)
                .await,
        )
    }

    /// [`mask`](Self::mask) every document.
    pub async fn mask_batch(&self, kind: &SubjectKind, items: &[BatchItem]) -> Vec<Result<Value>> {
        documents(self.batch(Operation::Mask, kind, items).await)
    }

    /// [`merge`](Self::merge) every document with its `stored` form.
    pub async fn merge_batch(&self, kind: &SubjectKind, items: &[BatchItem]) -> Vec<Result<Value>> {
        documents(self.batch(Operation::Merge, kind, items).await)
    }

    /// [`forget`](Self::forget) every document's entity.
    pub async fn forget_batch(
        &self,
        kind: &SubjectKind,
        items: &[BatchItem],
    ) -> Vec<Result<Vec<String>>> {
        self.batch(Operation::Forget, kind, items)
            .await
            .into_iter()
            .map(|r| match r? {
                Outcome::Deleted(ids) => Ok(ids),
                _ => unreachable!("forget gives deleted ids"),
            })
            .collect()
    }

    /// [`fields`](Self::fields) of every document.
    pub async fn fields_batch(
        &self,
        kind: &SubjectKind,
        items: &[BatchItem],
    ) -> Vec<Result<Vec<Field>>> {
        self.batch(Operation::Fields, kind, items)
            .await
            .into_iter()
            .map(|r| match r? {
                Outcome::Fields(f) => Ok(f),
                _ => unreachable!("fields gives fields"),
            })
            .collect()
    }
}

fn documents(results: Vec<Result<Outcome>>) -> Vec<Result<Value>> {
    results
        .into_iter()
        .map(|r| match r? {
            Outcome::Document(v) => Ok(v),
            _ => unreachable!("this operation gives documents"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Jobs that log when they start and end, yielding in between.
    fn job<'a>(log: &'a RefCell<Vec<String>>, i: usize, yields: usize) -> Job<'a, usize> {
        Box::pin(async move {
            log.borrow_mut().push(format!("start {i}"));
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            log.borrow_mut().push(format!("end {i}"));
            i
        })
    }

    fn at(log: &[String], event: &str) -> usize {
        log.iter().position(|e| e == event).unwrap()
    }

    #[test]
    fn envelopes_as_each_front_end_reads_them() {
        use serde_json::json;
        let env = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let rules = |name, object_document| Envelope {
            name,
            object_document,
        };
        let cli = rules(EnvelopeName::Member, false);
        let item = rules(EnvelopeName::MemberFirst, true);
        let body = rules(EnvelopeName::Elsewhere, true);
        let seal = json!({"name": "a", "document": {}, "previous": null});
        assert_eq!(
            BatchItem::from_envelope(env(seal.clone()), Operation::Seal, cli),
            Ok(BatchItem::named("a", json!({})))
        );
        assert_eq!(
            BatchItem::from_envelope(env(seal), Operation::Seal, body),
            Err(EnvelopeError::Unknown("name".into()))
        );
        // A bad name and an unknown member: which is found first.
        let both = json!({"name": 1, "x": 1, "document": {}});
        assert_eq!(
            BatchItem::from_envelope(env(both.clone()), Operation::Mask, cli),
            Err(EnvelopeError::Unknown("x".into()))
        );
        let e = BatchItem::from_envelope(env(both), Operation::Mask, item).unwrap_err();
        assert_eq!((e.member(), &e), ("name", &EnvelopeError::NameNotString));
        // A document that is no object; a null stored form.
        let doc = json!({"document": 3});
        assert!(BatchItem::from_envelope(env(doc.clone()), Operation::Mask, cli).is_ok());
        assert_eq!(
            BatchItem::from_envelope(env(doc), Operation::Mask, body),
            Err(EnvelopeError::DocumentNotObject)
        );
        // A null stored form is one (nothing stored), wherever it comes from;
        // none at all is refused.
        let merge = json!({"document": {}, "stored": null});
        for rules in [cli, item, body] {
            let ok = BatchItem::from_envelope(env(merge.clone()), Operation::Merge, rules).unwrap();
            assert_eq!(ok.stored, Some(Value::Null));
            assert_eq!(
                BatchItem::from_envelope(env(json!({"document": {}})), Operation::Merge, rules),
                Err(EnvelopeError::NoStored)
            );
        }
        assert_eq!(
            BatchItem::from_envelope(env(json!({"stored": {}})), Operation::Mask, cli),
            Err(EnvelopeError::Unknown("stored".into()))
        );
        assert_eq!(
            BatchItem::from_envelope(env(json!({})), Operation::Forget, cli),
            Err(EnvelopeError::NoDocument)
        );
        assert_eq!(
            envelope_members(Operation::Merge, false),
            ["document", "stored"]
        );
    }

    #[tokio::test]
    async fn results_in_order_and_one_entity_at_a_time() {
        let log = RefCell::new(Vec::new());
        let a = Some("/o/database/a/".to_string());
        let b = Some("/o/database/b/".to_string());
        let jobs = vec![
            (a.clone(), job(&log, 0, 5)),
            (b.clone(), job(&log, 1, 1)),
            (a.clone(), job(&log, 2, 1)),
            (None, job(&log, 3, 0)),
            (b, job(&log, 4, 0)),
        ];
        assert_eq!(in_order(jobs, 8).await, [0, 1, 2, 3, 4]);
        let log = log.into_inner();
        // Different entities overlap; the same entity waits for the first.
        assert!(at(&log, "start 1") < at(&log, "end 0"), "{log:?}");
        assert!(at(&log, "end 0") < at(&log, "start 2"), "{log:?}");
        // Jobs are started in input order.
        let starts: Vec<&String> = log.iter().filter(|e| e.starts_with("start")).collect();
        assert_eq!(
            starts,
            ["start 0", "start 1", "start 2", "start 3", "start 4"]
        );
    }

    #[tokio::test]
    async fn a_scope_inside_another_is_the_same_entity_and_width_bounds() {
        let log = RefCell::new(Vec::new());
        let jobs = vec![
            (Some("/o/pipeline/x/".to_string()), job(&log, 0, 3)),
            (
                Some("/o/pipeline/x/sourceconfig/".to_string()),
                job(&log, 1, 0),
            ),
        ];
        assert_eq!(in_order(jobs, 8).await, [0, 1]);
        let l = log.into_inner();
        assert!(at(&l, "end 0") < at(&l, "start 1"), "{l:?}");

        let log = RefCell::new(Vec::new());
        let jobs = (0..4).map(|i| (None, job(&log, i, 2))).collect();
        assert_eq!(in_order(jobs, 2).await, [0, 1, 2, 3]);
        let l = log.into_inner();
        assert!(
            at(&l, "end 0").min(at(&l, "end 1")) < at(&l, "start 2"),
            "{l:?}"
        );
        assert_eq!(
            in_order(Vec::<(Option<String>, Job<'_, ()>)>::new(), 2).await,
            []
        );
    }
}
