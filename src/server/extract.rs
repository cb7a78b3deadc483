//! Extractors whose rejections come out as [`ApiError`]s (axum's own are plain text):
//! JSON bodies, query strings, path parameters and optional headers. They work on any
//! router state that provides their parts through [`FromRef`].

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest request body the server accepts (`[server] max_body_bytes`), named in
/// the 413 answer.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// `axum::Json` whose rejections are [`ApiError`]s a person can act on.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
    BodyLimit: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        JsonBody::from_request(req, state)
            .await?
            .parse()
            .map(ApiJson)
    }
}

/// A JSON object body as sent, not yet parsed: for a handler that checks what the parsed
/// value no longer shows (a repeated key, a number's exact text). [`JsonBody::parse`]
/// answers as [`ApiJson`] would.
pub struct JsonBody {
    bytes: axum::body::Bytes,
    max_body: usize,
}

impl<S> FromRequest<S> for JsonBody
where
    S: Send + Sync,
    BodyLimit: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let BodyLimit(max_body) = BodyLimit::from_ref(state);
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with the header `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| json_rejection(JsonRejection::BytesRejection(e), max_body))?;
        // serde fills a struct from an array by position, which would slip past the
        // "unknown fields are refused" rule: every body of this API is an object.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Ok(JsonBody { bytes, max_body }),
            Some(_) => Err(ApiError::bad_request(
                "invalid_body",
                "the request body must be a JSON object ({…}); see docs/api.md",
            )),
            None => Err(ApiError::bad_request(
                "malformed_json",
                "the request body is empty; send a JSON object",
            )),
        }
    }
}

impl JsonBody {
    /// The body as a `T`, refused in the words [`ApiJson`] uses.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        axum::Json::<T>::from_bytes(&self.bytes)
            .map(|axum::Json(v)| v)
            .map_err(|rej| json_rejection(rej, self.max_body))
    }

    /// The body as sent.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// `application/json` or any `+json` type, as axum's own `Json` accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_rejection(rej: JsonRejection, max_body: usize) -> ApiError {
    match rej {
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed_json",
            format!(
                "the request body is not valid JSON: {}",
                innermost(&e.body_text())
            ),
        ),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalid_body",
            format!(
                "the request body does not have the expected fields: {}; see docs/api.md",
                innermost(&e.body_text())
            ),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with the header `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            too_large(max_body)
        }
        other => ApiError::bad_request(
            "bad_request",
            format!("could not read the request body: {}", other.body_text()),
        ),
    }
}

fn too_large(max_body: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the request body is larger than this server accepts ({max_body} bytes, [server] \
             max_body_bytes); send smaller params"
        ),
    )
}

/// axum prefixes serde's message with its own sentence; keep only serde's part, which
/// names the field and the line and column.
fn innermost(text: &str) -> String {
    text.split_once(": ")
        .map_or(text, |(_, tail)| tail)
        .trim()
        .to_owned()
}

/// `axum::extract::Query` with JSON rejections.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(
                "bad_query",
                format!("bad query string: {}", innermost(&e.body_text())),
            )),
            Err(e) => Err(ApiError::bad_request("bad_query", e.body_text())),
        }
    }
}

/// `axum::extract::Path` with JSON rejections.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::bad_request(
                "bad_path",
                format!("bad path parameter: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::bad_request("bad_path", e.body_text())),
        }
    }
}

/// The value of the optional header `name`, read by `parse`; `invalid` when it is there
/// but `parse` (or its being visible ASCII) refuses it.
pub fn optional_header<T>(
    headers: &HeaderMap,
    name: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    invalid: impl FnOnce() -> ApiError,
) -> Result<Option<T>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(parse)
            .map(Some)
            .ok_or_else(invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::innermost;

    #[test]
    fn innermost_keeps_the_serde_part() {
        assert_eq!(
            innermost(
                "Failed to parse the request body as JSON: expected value at line 1 column 2"
            ),
            "expected value at line 1 column 2"
        );
        assert_eq!(innermost("plain"), "plain");
    }
}
