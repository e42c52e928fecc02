//! Sealing: a plain config → its stored form.
//!
//! Per secret field, by what it holds ([`Held`]) and the [`Backend`]:
//!
//! | value | `Db` | `Managed` | `NonManaged` |
//! |---|---|---|---|
//! | plain | `fernet:` it | write to the store, `fernet(secret:<id>)` | `fernet:` it |
//! | `secret:<id>` (a user's reference) | `fernet:` it | must exist and be in the entity's scope; a reference to another of the entity's own ids is moved to this field's id; `fernet:` it | must exist; `fernet:` it |
//! | `fernet:` of a reference | unchanged | unchanged (moved as above) | unchanged |
//! | `fernet:` of a plain value | unchanged | moved into the store (migration) | unchanged |
//! | null, `""` | unchanged | its secret deleted; unchanged | unchanged |
//! | `"null"` (old OpenMetadata) | null | its secret deleted; null | null |
//! | `*********` (anywhere in the document) | error: merge first | error | error |
//! | an object or array | error | error | error |
//!
//! References into the deployment's id namespace are checked on the store's
//! canonical form of the id, in every mode (see `owned_reference`).
//! Sealing a sealed config therefore changes nothing and writes nothing.
//!
//! Every check — values, references, and every id against the store's own
//! naming rules — runs before the first write. The writes are then applied
//! as one batch ([`SecretStore::apply`]); if a store fails half-way, the
//! changes already made are undone (previous values written back), so the
//! old stored config still reveals what it did.
//!
//! [`seal_update`](SecretsManager::seal_update) also knows the entity's
//! previous stored form: secrets that form referenced and the new one no
//! longer does (an array element removed, a field cleared) are deleted in
//! the same batch, so nothing is orphaned in the store.

use std::collections::BTreeSet;

use serde_json::Value;
use zeroize::Zeroizing;

use super::value::{Held, Opened, masks};
use super::{Backend, SecretsManager, Subject, set};
use crate::kms::{Change, SecretStore};
use crate::plugin::check::Treatment;
use crate::secret_id::REFERENCE_PREFIX;
use crate::{Error, Result};

/// What sealing plans to do to the store, all decided before any write.
#[derive(Default)]
struct Plan {
    /// Values to write, by id.
    puts: Vec<(String, Zeroizing<String>)>,
    /// Own ids whose value moves to another id: (pointer, from, to), read
    /// before any write.
    moves: Vec<(String, String, String)>,
    /// Ids to delete.
    deletes: Vec<String>,
    /// User references that must exist: (pointer, canonical id).
    must_exist: Vec<(String, String)>,
    /// Every own id the sealed form references.
    referenced: BTreeSet<String>,
}

impl SecretsManager {
    /// Seal every secret field of `doc` (see the module docs).
    pub async fn seal(&self, subject: &Subject, doc: &Value) -> Result<Value> {
        self.seal_update(subject, None, doc).await
    }

    /// Seal `doc`, the new version of an entity whose stored form was
    /// `previous`: as [`seal`](Self::seal), and in managed mode also delete the
    /// secrets `previous` referenced that the new form no longer does.
    pub async fn seal_update(
        &self,
        subject: &Subject,
        previous: Option<&Value>,
        doc: &Value,
    ) -> Result<Value> {
        self.need_name(subject)?;
        let mut out = doc.clone();
        subject.drop_unstored(&mut out);
        let mut found = Vec::new();
        masks(&out, &mut String::new(), &mut found);
        if let Some(p) = found.into_iter().next() {
            return Err(Error::input(
                p,
                "holds the mask `*********`, not a secret: merge the update with the stored config before sealing",
            ));
        }
        let fields = self.locate(subject, doc)?;
        let managed = matches!(self.backend, Backend::Managed(_));
        let mut plan = Plan::default();

        for f in fields.iter().filter(|f| f.treatment == Treatment::Secret) {
            let p = f.pointer.as_str();
            match Held::of(doc.pointer(p)) {
                Held::Absent => {
                    if managed {
                        plan.deletes.push(f.secret_id.clone());
                    }
                }
                Held::Cleared { null_string } => {
                    if managed {
                        plan.deletes.push(f.secret_id.clone());
                    }
                    // OpenMetadata wrote the string "null" for cleared
                    // secrets: it is never stored, and means null.
                    if null_string {
                        set(&mut out, p, Value::Null);
                    }
                }
                Held::Mask => unreachable!("masks were refused above"),
                Held::Structured => {
                    return Err(Error::input(
                        p,
                        "is a secret field but holds an object or array: send its value as a string",
                    ));
                }
                Held::Plain(value) => {
                    let stored = if managed {
                        plan.referenced.insert(f.secret_id.clone());
                        plan.puts.push((f.secret_id.clone(), value));
                        self.fernet
                            .encrypt(&format!("{REFERENCE_PREFIX}{}", f.secret_id))
                    } else {
                        self.fernet.encrypt(&value)
                    };
                    set(&mut out, p, Value::String(stored));
                }
                Held::Reference(id) => {
                    let canonical = self.owned_reference(subject, p, id).await?;
                    let text = format!("{REFERENCE_PREFIX}{id}");
                    let text = self.keep_reference(f, canonical, text, &mut plan, true);
                    set(&mut out, p, Value::String(self.fernet.encrypt(&text)));
                }
                Held::Token(token) => match Held::open(token, &self.fernet, p)? {
                    Opened::Reference(id) => {
                        // Its existence was checked when it was sealed.
                        let canonical = self.owned_reference(subject, p, &id).await?;
                        let text = format!("{REFERENCE_PREFIX}{id}");
                        let kept =
                            self.keep_reference(f, canonical, text.clone(), &mut plan, false);
                        if kept != text {
                            set(&mut out, p, Value::String(self.fernet.encrypt(&kept)));
                        }
                    }
                    Opened::Cleared => {
                        if managed {
                            plan.deletes.push(f.secret_id.clone());
                        }
                    }
                    Opened::Plain(plain) => {
                        if managed {
                            // A value sealed in `db` mode: move it into the store.
                            plan.referenced.insert(f.secret_id.clone());
                            plan.puts.push((f.secret_id.clone(), plain));
                            let stored = self
                                .fernet
                                .encrypt(&format!("{REFERENCE_PREFIX}{}", f.secret_id));
                            set(&mut out, p, Value::String(stored));
                        }
                    }
                },
            }
        }

        let Some(store) = self.backend.store() else {
            return Ok(out);
        };
        if managed && let Some(previous) = previous {
            for id in self.own_references(subject, previous).await? {
                if !plan.referenced.contains(&id) && !plan.deletes.contains(&id) {
                    plan.deletes.push(id);
                }
            }
        }
        // Checks that need the store, still before any write.
        for (pointer, id) in &plan.must_exist {
            if store.get(id).await?.is_none() {
                return Err(Error::MissingSecret {
                    pointer: pointer.clone(),
                    id: id.clone(),
                    store: store.name().into(),
                });
            }
        }
        for (pointer, from, to) in std::mem::take(&mut plan.moves) {
            let value = store
                .get(&from)
                .await?
                .ok_or_else(|| Error::MissingSecret {
                    pointer,
                    id: from.clone(),
                    store: store.name().into(),
                })?;
            plan.puts.push((to, value));
        }
        let mut changes: Vec<Change> = plan
            .puts
            .into_iter()
            .map(|(id, v)| Change::Put(id, v))
            .collect();
        changes.extend(plan.deletes.into_iter().map(Change::Delete));
        for c in &changes {
            store.validate(c.id())?;
        }
        apply_or_undo(store.as_ref(), &changes).await?;
        Ok(out)
    }

    /// A checked reference at field `f`: in managed mode, a reference to
    /// another of the entity's own ids is moved to the field's own id (ids
    /// stay positional, so no later write to that id can change what this
    /// field reveals); returns the reference text to store.
    fn keep_reference(
        &self,
        f: &super::Field,
        canonical: String,
        text: String,
        plan: &mut Plan,
        check_exists: bool,
    ) -> String {
        if matches!(self.backend, Backend::Managed(_)) && self.ids.owns(&canonical) {
            plan.referenced.insert(f.secret_id.clone());
            if canonical == f.secret_id {
                // Stored in the form the store resolves (a `:1` selector or
                // an ARN of the own id would otherwise reach the ingestion
                // side as written).
                return format!("{REFERENCE_PREFIX}{canonical}");
            }
            plan.moves
                .push((f.pointer.clone(), canonical, f.secret_id.clone()));
            return format!("{REFERENCE_PREFIX}{}", f.secret_id);
        }
        if check_exists && self.backend.store().is_some() {
            plan.must_exist.push((f.pointer.clone(), canonical));
        }
        text
    }

    /// The ids of the entity's own scope that a stored form references.
    pub(super) async fn own_references(
        &self,
        subject: &Subject,
        stored: &Value,
    ) -> Result<BTreeSet<String>> {
        let scope = self.scope(subject);
        let mut ids = BTreeSet::new();
        for f in self.locate(subject, stored)? {
            if f.treatment != Treatment::Secret {
                continue;
            }
            let id = match Held::of(stored.pointer(&f.pointer)) {
                Held::Token(t) => match Held::open(t, &self.fernet, &f.pointer)? {
                    Opened::Reference(id) => id,
                    _ => continue,
                },
                Held::Reference(id) => id.to_string(),
                _ => continue,
            };
            let id = match self.backend.store() {
                Some(store) => store.canonical(&id).await?,
                None => id,
            };
            if scope.contains(&id) {
                ids.insert(id);
            }
        }
        Ok(ids)
    }
}

/// Apply changes as one batch; if the store fails half-way, put back what the
/// applied changes replaced, so a failed seal leaves the store as it was.
async fn apply_or_undo(store: &dyn SecretStore, changes: &[Change]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    // One change has nothing to undo; for more, remember what each replaces.
    let mut before = Vec::new();
    if changes.len() > 1 {
        for c in changes {
            before.push(store.get(c.id()).await?);
        }
    }
    let Err((applied, error)) = store.apply(changes).await else {
        return Ok(());
    };
    let mut undo = Vec::new();
    for (c, old) in changes[..applied.min(before.len())]
        .iter()
        .zip(&before)
        .rev()
    {
        undo.push(match old {
            Some(v) => Change::Put(c.id().to_string(), v.clone()),
            None => Change::Delete(c.id().to_string()),
        });
    }
    if let Err((_, undo_error)) = store.apply(&undo).await {
        tracing::error!(
            store = store.name(),
            error = %undo_error,
            "a failed seal could not be undone; the store may hold some of its new values"
        );
    }
    Err(error.into())
}
