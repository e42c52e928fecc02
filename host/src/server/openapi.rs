//! The OpenAPI 3.1 document (`GET /openapi.json`), built with utoipa from the
//! same route table as the router ([`super::routes::routes`]), so that the
//! two cannot disagree; the bodies' schemas are derived from the types below.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, Required, ResponseBuilder, ResponsesBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use super::problem::Problem;
use super::routes::{Action, Op, SubjectRoute, routes};

/// `seal`'s body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SealRequest {
    /// The plain document (a connection config or the whole entity).
    document: Map,
    /// The entity's stored form before this update: secrets it referenced
    /// that the new one no longer does are deleted.
    previous: Option<Map>,
}

/// The body of `reveal`, `mask`, `fields` and `forget` (`DELETE …/secrets`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DocumentRequest {
    /// The document.
    document: Map,
}

/// `merge`'s body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MergeRequest {
    /// The update, which may still hold masks.
    document: Map,
    /// The stored (sealed) form.
    stored: Map,
}

/// A JSON object.
#[derive(ToSchema)]
#[schema(as = Object)]
#[allow(dead_code)]
pub struct Map(BTreeMap<String, Value>);

/// A document answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DocumentResponse {
    /// The resulting document.
    document: Map,
}

/// A secret field.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct Field {
    /// RFC 6901 pointer in the document.
    pointer: String,
    /// The full secret id.
    secret_id: String,
    /// What the host does with it (`secret`, `passThrough`, …).
    treatment: String,
}

/// `fields`' answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FieldsResponse {
    /// The secret fields.
    fields: Vec<Field>,
}

/// `forget`'s answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeletedResponse {
    /// The ids deleted.
    deleted: Vec<String>,
}

/// One document of a batch.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BatchItem {
    /// The entity's name.
    name: Option<String>,
    /// The document.
    document: Map,
    /// `merge`: the stored form.
    stored: Option<Map>,
    /// `seal`: the previous stored form.
    previous: Option<Map>,
}

/// A batch body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BatchRequest {
    /// The documents.
    items: Vec<BatchItem>,
}

/// A batch item's error.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ItemError {
    /// The pointer into the item's document, if any.
    pointer: Option<String>,
    /// What is wrong.
    message: String,
}

/// One result of a batch: exactly one of its members.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BatchResult {
    /// seal, reveal, mask, merge.
    document: Option<Map>,
    /// fields.
    fields: Option<Vec<Field>>,
    /// forget.
    deleted: Option<Vec<String>>,
    /// This item failed.
    error: Option<ItemError>,
}

/// A batch's answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BatchResponse {
    /// One per item, in order.
    results: Vec<BatchResult>,
}

fn json_ref(name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(name)))
        .build()
}

fn problem_responses(r: ResponsesBuilder, codes: &[(&str, &str)]) -> ResponsesBuilder {
    codes.iter().fold(r, |r, (code, what)| {
        r.response(
            *code,
            ResponseBuilder::new()
                .description(*what)
                .content("application/problem+json", json_ref("Problem"))
                .build(),
        )
    })
}

/// `GET /openapi.json`'s answer. The document depends only on the route
/// table, which is fixed, so it is built and serialised once, on first use.
pub fn response() -> Response {
    static JSON: OnceLock<Bytes> = OnceLock::new();
    let body = JSON.get_or_init(|| {
        let doc = serde_json::to_value(openapi()).unwrap_or_default();
        Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.clone(),
    )
        .into_response()
}

/// The document.
pub fn openapi() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in routes() {
        let method = match route.method {
            Method::GET => HttpMethod::Get,
            Method::DELETE => HttpMethod::Delete,
            _ => HttpMethod::Post,
        };
        let mut op = OperationBuilder::new();
        let mut responses = ResponsesBuilder::new();
        match route.action {
            Action::Health => {
                op = op
                    .operation_id(Some("healthz"))
                    .summary(Some("200 while the process is up"));
                responses =
                    responses.response("200", ResponseBuilder::new().description("ok").build());
            }
            Action::Ready => {
                op = op.operation_id(Some("readyz")).summary(Some(
                    "200 when plugins are loaded, the store reachable and start-up tasks done",
                ));
                responses = problem_responses(
                    responses.response("200", ResponseBuilder::new().description("ready").build()),
                    &[("503", "not ready")],
                );
            }
            Action::Metrics => {
                op = op
                    .operation_id(Some("metrics"))
                    .summary(Some("Prometheus text format"));
                responses = responses
                    .response("200", ResponseBuilder::new().description("metrics").build());
            }
            Action::OpenApi => {
                op = op
                    .operation_id(Some("openapi"))
                    .summary(Some("this document"));
                responses = responses.response(
                    "200",
                    ResponseBuilder::new().description("OpenAPI 3.1").build(),
                );
            }
            Action::Single(s, o) | Action::Batch(s, o) => {
                let batch = matches!(route.action, Action::Batch(..));
                let subject = match s {
                    SubjectRoute::Services => "services",
                    SubjectRoute::Bots => "bots",
                    SubjectRoute::Pipelines => "pipelines",
                    SubjectRoute::Workflows => "workflows",
                };
                op = op
                    .operation_id(Some(format!(
                        "{}{}{}",
                        if batch { "batch_" } else { "" },
                        o.name(),
                        format_args!("_{subject}")
                    )))
                    .tag(if batch { "batch" } else { subject })
                    .security(SecurityRequirement::new::<&str, [&str; 0], &str>(
                        "bearer",
                        [],
                    ));
                if s == SubjectRoute::Services {
                    op = op.parameter(
                        ParameterBuilder::new()
                            .name("serviceType")
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .description(Some("database, dashboard, messaging, pipeline, …"))
                            .schema(Some(<String as PartialSchema>::schema())),
                    );
                }
                if !batch {
                    op = op.parameter(
                        ParameterBuilder::new()
                            .name("name")
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .description(Some("the entity's name (secret ids are built from it)"))
                            .schema(Some(<String as PartialSchema>::schema())),
                    );
                }
                if o == Op::Reveal {
                    op = op.parameter(
                        ParameterBuilder::new()
                            .name("keepReferences")
                            .parameter_in(ParameterIn::Query)
                            .required(Required::False)
                            .description(Some(
                                "decrypt only; keep `secret:<id>` references (the ingestion role)",
                            ))
                            .schema(Some(<bool as PartialSchema>::schema())),
                    );
                }
                let (body, answer) = if batch {
                    ("BatchRequest", "BatchResponse")
                } else {
                    match o {
                        Op::Seal => ("SealRequest", "DocumentResponse"),
                        Op::Merge => ("MergeRequest", "DocumentResponse"),
                        Op::Fields => ("DocumentRequest", "FieldsResponse"),
                        Op::Forget => ("DocumentRequest", "DeletedResponse"),
                        _ => ("DocumentRequest", "DocumentResponse"),
                    }
                };
                op = op.request_body(Some(
                    RequestBodyBuilder::new()
                        .required(Some(Required::True))
                        .content("application/json", json_ref(body))
                        .build(),
                ));
                responses = problem_responses(
                    responses.response(
                        "200",
                        ResponseBuilder::new()
                            .description("done")
                            .content("application/json", json_ref(answer))
                            .build(),
                    ),
                    &[
                        ("400", "bad JSON or a bad envelope"),
                        ("401", "no or bad credentials"),
                        ("403", "the caller's roles do not allow this"),
                        ("413", "body too large"),
                        ("415", "not JSON"),
                        ("422", "input the library refuses (pointer set)"),
                        ("429", "rate limited (Retry-After)"),
                        ("500", "plugin failure"),
                        (
                            "503",
                            "secret store slow or unreachable, not ready, or timed out",
                        ),
                    ],
                );
            }
        }
        paths = paths.path(
            route.path.clone(),
            PathItem::new(method, op.responses(responses.build()).build()),
        );
    }
    let components = ComponentsBuilder::new()
        .schema_from::<Problem>()
        .schema_from::<SealRequest>()
        .schema_from::<DocumentRequest>()
        .schema_from::<MergeRequest>()
        .schema_from::<DocumentResponse>()
        .schema_from::<Field>()
        .schema_from::<FieldsResponse>()
        .schema_from::<DeletedResponse>()
        .schema_from::<BatchItem>()
        .schema_from::<BatchRequest>()
        .schema_from::<ItemError>()
        .schema_from::<BatchResult>()
        .schema_from::<BatchResponse>()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("om-secrets")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Seal, reveal, mask, merge and forget OpenMetadata's connection secrets.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_routes() {
        let doc = serde_json::to_value(openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut in_doc: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(p, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| ["get", "post", "delete", "put", "patch"].contains(&k.as_str()))
                    .map(move |m| (p.clone(), m.to_uppercase()))
            })
            .collect();
        let mut table: Vec<(String, String)> = routes()
            .into_iter()
            .map(|r| (r.path, r.method.to_string()))
            .collect();
        in_doc.sort();
        table.sort();
        assert_eq!(in_doc, table);
        assert_eq!(table.len(), 4 + 4 * 12);
    }

    /// The answer built once is the one `axum::Json` gave when the document
    /// was rebuilt per request: same headers, same bytes.
    #[tokio::test]
    async fn the_cached_answer_is_the_per_request_one() {
        use http_body_util::BodyExt;
        let fresh = axum::Json(serde_json::to_value(openapi()).unwrap_or_default()).into_response();
        let (cached, again) = (response(), response());
        assert_eq!(cached.status(), fresh.status());
        assert_eq!(cached.headers(), fresh.headers());
        let bytes = |r: Response| async { r.into_body().collect().await.unwrap().to_bytes() };
        let body = bytes(cached).await;
        assert_eq!(body, bytes(fresh).await);
        assert_eq!(body, bytes(again).await);
    }
}
